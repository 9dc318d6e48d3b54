// The named drills and the runner that boots one lab per timing preset (the chosen one and Patroni's
// stock baseline) and runs them in order.
import * as fs from "fs";
import * as path from "path";
import { presetOf, type DatabaseMode, type Host, type TimingPresetName } from "../../lib/model";
import { Lab, type LabOptions } from "../backends/loopback/lab";
import { primariesNow, runPgDrill, VIOLATION, type DrillContext, type DrillResult, type PgDrillSpec } from "./pg-drill";
import { sql } from "../clients/pg";
import { patronictl, setSynchronousMode } from "../backends/loopback/patronictl";
import { killAll, signal, sleep, waitFor } from "../proc";
import { FailoverHook } from "../backends/loopback/failover-hook";
import { DigitalOceanStandIn } from "../stand-ins/digitalocean-stand-in";
import { getJson } from "../backends/loopback/lab";
import { randomBytes } from "crypto";
import { runRedisDrill } from "./redis-drill";
import { redisOnce } from "../clients/resp";
import { sentinelMasterName } from "../../playbooks-gen/views/clusters";
import { printRow, printSummary } from "./report";

const none = async () => [] as string[];
const secs = (from: number) => ((Date.now() - from) / 1000).toFixed(1);

/** Restarts every lab service of a region, etcd first, and waits for its old primary to stream again. */
async function restoreRegion(ctx: DrillContext, region: string): Promise<string[]> {
  const { lab } = ctx;
  const hosts = lab.env.hosts.filter((h) => h.region === region);
  const since = patroniLogSizes(lab, region);
  for (const h of hosts) if (h.services.includes("etcd")) lab.startService(h, "etcd");
  await waitFor("etcd healthy again", 30_000, () => lab.etcdHealthy());
  for (const service of ["patroni", "haproxy", "redis", "sentinel"] as const) {
    for (const h of hosts) if (h.services.includes(service)) lab.startService(h, service);
  }
  return rejoinRegion(ctx, region, since);
}

function patroniLogSizes(lab: Lab, region: string): Map<string, number> {
  const pg = lab.hostsRunning("patroni").filter((h) => h.region === region);
  return new Map(pg.map((h) => [h.name, fs.statSync(`${lab.env.paths(h).logDir}/patroni.log`).size]));
}

/** Waits for a region's database nodes to stream from the new primary again (rewound if needed). */
async function rejoinRegion(ctx: DrillContext, region: string, logSizes: Map<string, number>): Promise<string[]> {
  const { lab } = ctx;
  const t0 = Date.now();
  const pg = [...logSizes.keys()];
  const patroniLog = (n: string) => `${lab.env.paths(lab.host(n)).logDir}/patroni.log`;
  // Streaming from the leader, as the leader sees it: a member's "running" in the DCS can be stale
  // while it is still being rewound, and a switchover then would break the rewind mid-way.
  await waitFor(`${pg.join(", ")} to rejoin as streaming replicas`, 120_000, async () => {
    const leader = await lab.leader();
    if (!leader) return false;
    const streaming = await lab.streamingFrom(leader);
    return pg.every((n) => n !== leader && streaming.has(n));
  }, 250);
  // Only what Patroni logged since: did it rewind the node onto the new timeline?
  const rewound = pg.filter((n) => fs.readFileSync(patroniLog(n)).subarray(logSizes.get(n)).toString().includes("pg_rewind exit code=0"));
  const notes = [`region ${region} back: ${pg.join(", ")} replicas again after ${secs(t0)} s${rewound.length ? ` (pg_rewind on ${rewound.join(", ")})` : ""}`];
  if (lab.t.database.synchronousMode) {
    await setSynchronousMode(lab, pg[0], true);
    notes.push("synchronous_mode back on");
  }
  return notes;
}

/** Planned switchover to `candidate`. patronictl 3.0.2 exits 0 even when Patroni refuses: read its answer. */
async function switchover(ctx: DrillContext, leader: string, candidate: string): Promise<string[]> {
  const t0 = Date.now();
  const out = await patronictl(ctx.lab, candidate, ["switchover", "--leader", leader, "--candidate", candidate, "--force"]);
  if (!/switched over/i.test(out)) throw new Error(`switchover ${leader} → ${candidate} refused: ${out.trim().split("\n").at(-1)}`);
  return [`switchover ${leader} → ${candidate} (patronictl returned after ${secs(t0)} s)`];
}

/** Failback: switch over to a replica of `region`; with synchronous_mode only the synchronous standby
 * may take over, so first wait until Patroni has made one of the region's nodes that. Then Redis's
 * primary goes home too. */
async function failback(ctx: DrillContext, region: string): Promise<string[]> {
  const { lab } = ctx;
  const sync = lab.t.database.synchronousMode;
  const candidate = await waitFor(`a ${sync ? "synchronous standby" : "replica"} in ${region}`, 60_000, async () =>
    (await lab.members()).find((m) => lab.host(m.name).region === region && m.state === "running" && (sync ? m.role === "sync_standby" : m.role === "replica"))?.name, 250);
  return [...await switchover(ctx, (await lab.leader())!, candidate), ...await redisFailback(ctx, region)];
}

/** Moves the Redis primary back into `region` once the region's Redis replicas are in sync, as an
 * operator would after a region returns (Sentinel never fails back by itself): SENTINEL FAILOVER with
 * only the region's replicas to choose from. Each region drill then takes Redis's primary with it. */
async function redisFailback(ctx: DrillContext, region: string): Promise<string[]> {
  const { lab } = ctx;
  const homeAddrs = new Set(lab.env.hosts.filter((h) => h.region === region && h.services.includes("redis")).map((h) => lab.env.addressOf(h.name)));
  const nameOf = (addr: string) => lab.env.hostAt(addr)?.name ?? addr;
  const primary = await waitFor("Sentinels to agree on a Redis primary", 60_000, () => lab.redisPrimary(), 250);
  if (homeAddrs.size === 0 || homeAddrs.has(primary)) return [];
  // One of the region's Redis hosts replicating from the primary is enough: Sentinel promotes among
  // the primary's own replicas. (Another may still replicate from it, as its config file says: Sentinel
  // corrects such a replica only a failover-timeout later, 3 min with stock's timings.)
  const { failoverTimeoutMs } = presetOf(lab.t).sentinel;
  await waitFor(`a Redis replica in ${region} in sync with ${nameOf(primary)}`, 60_000 + failoverTimeoutMs, async () => {
    const info = String(await redisOnce(primary, 6379, lab.secrets.redis, ["INFO", "replication"]));
    return [...homeAddrs].some((a) => new RegExp(`ip=${a.replace(/\./g, "\\.")},port=\\d+,state=online`).test(info));
  }, 250);
  const t0 = Date.now();
  const sentinel = lab.hostsRunning("sentinel").find((h) => h.region === region) ?? lab.hostsRunning("sentinel")[0];
  const onOld = (...args: string[]) => redisOnce(primary, 6379, lab.secrets.redis, args);
  // Sentinel promotes without telling the old primary, which it turns into a replica only ~10 s later:
  // writes it took meanwhile were lost (the lab saw 550). So its writes wait (CLIENT PAUSE … WRITE)
  // while Sentinel switches, then its clients are dropped and reconnect to the new primary.
  await onOld("CLIENT", "PAUSE", "15000", "WRITE");
  try {
    const reply = await redisOnce(lab.env.addressOf(sentinel.name), 26379, null, ["SENTINEL", "FAILOVER", sentinelMasterName(lab.t)]);
    if (String(reply) !== "OK") throw new Error(`SENTINEL FAILOVER on ${sentinel.name}: ${String(reply)}`);
    const now = await waitFor(`the Redis primary back in ${region}`, 60_000, async () => {
      const p = await lab.redisPrimary();
      return p && homeAddrs.has(p) ? p : undefined;
    }, 100);
    const dropped = await onOld("CLIENT", "KILL", "TYPE", "normal");
    return [`Redis failback: writes paused on ${nameOf(primary)}, SENTINEL FAILOVER made ${nameOf(now)} the primary in ${secs(t0)} s, ${String(dropped)} clients of the old one dropped`];
  } finally {
    await onOld("CLIENT", "UNPAUSE").catch(() => undefined);
  }
}

/** Kills every lab host of a region; with synchronous_mode the generated failover hook, triggered as
 * Alertmanager would once the leader key is gone, then lets a remote replica win. */
async function loseRegion(ctx: DrillContext, leader: Host, writesBack: () => boolean): Promise<string[]> {
  const { lab } = ctx;
  const hosts = lab.env.hosts.filter((h) => h.region === leader.region);
  // etcd extends every lease when a new etcd leader is elected: losing the etcd leader too adds up to a ttl.
  const etcdLeader = await lab.etcdLeader();
  const hook = FailoverHook.start(lab);
  await Promise.all(hosts.map((h) => lab.kill(h.name)));
  const notes = [`killed ${hosts.map((h) => h.name).join(", ")}; the etcd leader was ${etcdLeader ?? "unknown"}`];
  return [...notes, ...await hookAfterLeaderKey(ctx, hook, leader.region, writesBack)];
}

/** With synchronous_mode, once the leader key is gone as seen from outside `lostRegion`, triggers the
 * generated failover hook as Alertmanager would (PatroniNoLeader) and waits for its decision. */
async function hookAfterLeaderKey(ctx: DrillContext, hook: FailoverHook | null, lostRegion: string, writesBack: () => boolean): Promise<string[]> {
  const { lab } = ctx;
  if (!hook) return [];
  try {
    const t0 = Date.now();
    // Asked of the other regions' nodes: a cut-off region's nodes may still answer with a stale view.
    const outside = lab.hostsRunning("patroni").filter((h) => h.region !== lostRegion);
    const noLeader = async () => {
      const ms = await lab.clusterMembers(outside);
      return ms.length > 0 && !ms.some((m) => m.role === "leader" && m.state === "running");
    };
    await waitFor("the leader key to expire", (presetOf(lab.t).patroni.ttl * 2 + 10) * 1000, async () => (await noLeader()) || writesBack(), 250);
    if (writesBack()) return ["promoted without the failover hook"];
    const expired = secs(t0);
    await hook.trigger();
    const outcome = await waitFor("the failover hook to decide", 60_000, () => hook.outcome(), 100);
    const notes = [`failover hook (generated failover-hook.py): triggered when the leader key was gone at ${expired} s, "${outcome}" at ${secs(t0)} s`];
    if (!outcome.startsWith("applied")) notes.push(`${VIOLATION}the failover hook did not act: ${outcome}`);
    return notes;
  } finally {
    await hook.stop();
  }
}

/** Cuts the primary region off from the other regions (WAN partition; the lab's clients still see both
 * sides). Its primary must demote itself before the other side promotes: never two primaries. */
async function partitionRegion(ctx: DrillContext, leader: Host, writesBack: () => boolean): Promise<string[]> {
  const { lab } = ctx;
  const hook = FailoverHook.start(lab);
  await lab.isolateRegion(leader.region);
  const notes = [`cut ${leader.region} off from the other regions (its hosts keep running; the lab's clients still reach them)`];
  return [...notes, ...await hookAfterLeaderKey(ctx, hook, leader.region, writesBack)];
}

async function etcdQuorumLoss(ctx: DrillContext, leader: Host): Promise<string[]> {
  const { lab } = ctx;
  const { ttl, loopWait } = presetOf(lab.t).patroni;
  const victims = lab.hostsRunning("etcd").filter((h) => h.region !== leader.region).slice(0, 2);
  await Promise.all(victims.map((h) => lab.kill(h.name, ["etcd"])));
  const notes = [`stopped etcd on ${victims.map((h) => h.name).join(", ")} for ${ttl + 2 * loopWait + 3} s`];
  // The outage itself lasts a fixed, reported time: long enough for any leader key to expire twice over.
  await sleep((ttl + 2 * loopWait + 3) * 1000);
  const states = await Promise.all(lab.hostsRunning("patroni").map(async (h) =>
    [h.name, (await sql(lab.pgTarget(h.name), "SELECT NOT pg_is_in_recovery()").catch(() => ["down"]))[0]] as const));
  for (const [n, s] of states) if (n !== leader.name && s === "t") notes.push(`${VIOLATION}${n} was promoted while etcd had no quorum`);
  const was = states.find(([n]) => n === leader.name)?.[1];
  notes.push(`without quorum the primary ${was === "t" ? "kept accepting writes (failsafe)" : "demoted itself to read-only (failsafe_mode off)"}`);
  for (const h of victims) lab.startService(h, "etcd");
  return notes;
}

function inRegionCandidate(members: Awaited<ReturnType<Lab["members"]>>, lab: Lab, leader: Host): string {
  const replicas = members.filter((m) => m.name !== leader.name && m.state === "running");
  const pick = replicas.find((m) => m.role === "sync_standby") ?? replicas.find((m) => lab.host(m.name).region === leader.region) ?? replicas[0];
  if (!pick) throw new Error("no running replica to switch over to");
  return pick.name;
}

/** The primary region stops answering: every process of its hosts SIGSTOPped at once (a partition, as
 * seen from outside). The generated failover hook, triggered as Alertmanager would once
 * DatabaseRegionDown fires, confirms the loss, fences the region's database droplets through the
 * DigitalOcean API (the lab's stand-in SIGKILLs those hosts) and promotes the standby cluster. */
async function fenceAndPromote(ctx: DrillContext, leader: Host): Promise<string[]> {
  const { lab } = ctx;
  const token = randomBytes(16).toString("hex");
  const api = await DigitalOceanStandIn.start(lab, { token, powerOffDelayMs: POWER_OFF_DELAY_MS });
  const hook = FailoverHook.start(lab, token)!;
  try {
    const region = lab.env.hosts.filter((h) => h.region === leader.region);
    const frozen = region.map((h) => [h.name, lab.freeze(h.name).length] as const);
    const t0 = Date.now();
    const notes = [`froze ${region.length} hosts of ${leader.region} (${frozen.reduce((n, [, k]) => n + k, 0)} processes): it answers nothing`];
    // What Prometheus scrapes: the region's Patroni APIs all failing (production waits `for: 1m` more).
    const pg = region.filter((h) => h.services.includes("patroni"));
    await waitFor(`${leader.region}'s Patroni APIs to stop answering`, 30_000, async () =>
      (await Promise.all(pg.map((h) => getJson(`http://${lab.env.addressOf(h.name)}:8008/health`, 1000).then(() => true, () => false)))).every((up) => !up), 100);
    const seen = secs(t0);
    await hook.trigger("DatabaseRegionDown");
    const expected = pg.map((h) => h.name);
    const allFenced = () => expected.every((n) => api.poweredOff().some((f) => f.host === n));
    await waitFor("the fence to complete (or the hook to stop)", 120_000, () => allFenced() || hook.outcome()?.startsWith("failover stopped"), 50);
    if (allFenced()) {
      // Right when the last power-off completes, no node of the standby cluster may be a primary yet.
      const early = await primariesNow(lab, lab.hostsRunning("patroni").filter((h) => h.region !== leader.region).map((h) => h.name));
      if (early.length) notes.push(`${VIOLATION}${early.join(", ")} promoted before ${leader.region} was fenced`);
      notes.push(`fence complete at ${secs(t0)} s, no standby node promoted before it`);
    }
    const outcome = await waitFor("the failover hook to decide", 120_000, () => hook.outcome(), 100);
    notes.push(`failover hook (generated failover-hook.py): triggered by DatabaseRegionDown at ${seen} s, "${outcome}" at ${secs(t0)} s`);
    if (!outcome.startsWith("applied")) notes.push(`${VIOLATION}the failover hook did not promote: ${outcome}`);
    const fenced = api.poweredOff();
    notes.push(`DigitalOcean API stand-in: ${[...new Set(api.calls.map((c) => c.replace(/\/\d+ /, "/ID ")))].join("; ")}; powered off ${fenced.map((f) => f.host).join(", ") || "nothing"}`);
    const missed = expected.filter((n) => !fenced.some((f) => f.host === n));
    if (missed.length) notes.push(`${VIOLATION}not fenced: ${missed.join(", ")}`);
    return notes;
  } finally {
    await hook.stop();
    await api.stop();
  }
}

/** SIGSTOPs the leader's Patroni (PostgreSQL keeps running under it) for longer than its key lives: the
 * watchdog it armed must reset the host before another node can be promoted; then SIGCONT. */
async function freezePatroni({ lab }: DrillContext, leader: Host): Promise<string[]> {
  const p = lab.proc(leader.name, "patroni")!;
  const { ttl, loopWait } = presetOf(lab.t).patroni;
  const wd = lab.watchdogStatus(leader.name);
  const notes: string[] = [];
  if (!wd?.armed) notes.push(`${VIOLATION}the leader's watchdog was not armed (Patroni's log says why)`);
  const resetsBefore = wd?.resets.length ?? 0;
  const t0 = Date.now();
  signal(p, "SIGSTOP");
  const resetAt = await waitFor("a watchdog reset", (ttl + loopWait + 2) * 1000, () => {
    const st = lab.watchdogStatus(leader.name);
    return st && st.resets.length > resetsBefore ? st.resets.at(-1)!.at : undefined;
  }, 100).catch(() => null);
  if (resetAt === null) {
    signal(p, "SIGCONT");
    notes.push(`SIGSTOP Patroni for ${ttl + loopWait + 2} s: the watchdog did not reset the host; SIGCONT`);
  } else {
    notes.push(`SIGSTOP Patroni: its watchdog (timeout ${wd!.timeoutSeconds} s) reset the host ${(resetAt - t0 / 1000).toFixed(1)} s later, PostgreSQL with it`);
  }
  return notes;
}

/** The stand-in API completes a power-off this long after queuing it (the real API queues them too). */
const POWER_OFF_DELAY_MS = 1000;

const PG_DRILLS: Record<string, PgDrillSpec> = {
  "primary-loss": {
    name: "primary-loss", expectNewPrimary: true,
    fault: async ({ lab }, leader) => { await lab.kill(leader.name, ["patroni"]); return ["SIGKILL Patroni and PostgreSQL"]; },
    // The harness boots the host again once its watchdog (armed by the killed leader) has reset it.
    heal: none,
  },
  "postgres-crash": {
    name: "postgres-crash", expectNewPrimary: false,
    fault: async ({ lab }, leader) => { await killAll(lab.postgresProcs(leader.name)); return ["SIGKILL PostgreSQL only"]; },
    heal: none,
  },
  "patroni-freeze": {
    name: "patroni-freeze", expectNewPrimary: true,
    fault: freezePatroni,
    heal: none,
  },
  switchover: {
    name: "switchover", expectNewPrimary: true,
    fault: async (ctx, leader) => switchover(ctx, leader.name, inRegionCandidate(await ctx.lab.members(), ctx.lab, leader)),
    heal: none,
  },
  "region-loss": {
    name: "region-loss", expectNewPrimary: true, avoidRegion: (l) => l.region, crossRegion: true, withRedis: true,
    fault: loseRegion,
    heal: async (ctx, old) => [...await restoreRegion(ctx, old.region), ...await failback(ctx, old.region)],
  },
  "etcd-quorum-loss": {
    name: "etcd-quorum-loss", expectNewPrimary: false,
    fault: etcdQuorumLoss,
    heal: none,
  },
  "region-partition": {
    name: "region-partition", expectNewPrimary: true, avoidRegion: (l) => l.region, crossRegion: true, withRedis: true,
    fault: partitionRegion,
    heal: async (ctx, old) => {
      const since = patroniLogSizes(ctx.lab, old.region);
      await ctx.lab.healWan();
      return [`partition healed`, ...await rejoinRegion(ctx, old.region, since), ...await failback(ctx, old.region)];
    },
  },
  "standby-promote": {
    name: "standby-promote", expectNewPrimary: true, avoidRegion: (l) => l.region, crossRegion: true, regionGone: true, withRedis: true,
    fault: fenceAndPromote,
    heal: none,
  },
};

/** region-return: lose the primary region (not measured), then measure its return and the failback. */
async function regionReturn(ctx: DrillContext): Promise<DrillResult> {
  const { lab } = ctx;
  await lab.waitHealthy(180_000);
  const home = lab.host((await lab.leader())!);
  const notes = await loseRegion(ctx, home, () => false);
  await waitFor("a leader outside the lost region", 120_000, async () => { const l = await lab.leader(); return l !== null && l !== home.name; }, 250);
  return runPgDrill(ctx, {
    name: "region-return", expectNewPrimary: true, degraded: true, avoidRegion: () => home.region,
    fault: async (c) => [...notes, ...await restoreRegion(c, home.region), ...await failback(c, home.region)],
    heal: none,
  });
}

export const DRILLS: Record<string, (ctx: DrillContext) => Promise<DrillResult>> = {
  ...Object.fromEntries(Object.entries(PG_DRILLS).map(([n, spec]) => [n, (ctx: DrillContext) => runPgDrill(ctx, spec)])),
  "region-return": regionReturn,
  "redis-primary-loss": runRedisDrill,
};

const BOTH = ["stretched", "standby-cluster"] as const;
/** The database modes each drill applies to: losing the primary region is a different drill in each. */
export const DRILL_MODES: Readonly<Record<string, readonly DatabaseMode[]>> = {
  "primary-loss": BOTH, "postgres-crash": BOTH, "patroni-freeze": BOTH, switchover: BOTH, "redis-primary-loss": BOTH,
  "region-loss": ["stretched"], "region-return": ["stretched"], "etcd-quorum-loss": ["stretched"], "region-partition": ["stretched"],
  "standby-promote": ["standby-cluster"],
};

/** What `drill` runs without names: the CI set of the topology's mode. */
export function defaultDrills(mode: DatabaseMode): string[] {
  return ["primary-loss", "switchover", mode === "stretched" ? "region-loss" : "standby-promote", "redis-primary-loss"];
}

function failedResult(name: string, preset: TimingPresetName, e: Error): DrillResult {
  return {
    name, preset, rtoSeconds: null, promotedAfterSeconds: null, ackedWrites: 0, lostAckedWrites: 0, lostAckedWritesBound: 0, unknownWrites: 0, failedWrites: 0,
    maxConcurrentPrimaries: 0, targetSeconds: null, passed: false, faultDelaySeconds: 0, oldPrimary: null, newPrimary: null, layers: "",
    healed: false, notes: [`drill aborted: ${e.message}`],
  };
}

/** Where a torn-down lab's logs go with --keep-logs: one directory per lab, named by preset and the
 * number of drills run before it went down. */
function keepDir(opts: LabOptions, drillsSoFar: number): string | undefined {
  return opts.keepLogs ? path.join(opts.keepLogs, `${opts.preset}-after-${drillsSoFar}-drills`) : undefined;
}

/** Boots a lab per preset (reusing one already up with that preset), runs the drills, tears down what it booted. */
export async function runDrills(options: LabOptions, presets: readonly TimingPresetName[], names: readonly string[], repeat: number, log: (l: string) => void): Promise<DrillResult[]> {
  const results: DrillResult[] = [];
  for (const preset of presets) {
    // A lab left up by `up` has no WAN: reuse it only for drills without one.
    const reuse = Lab.exists(options.root) && Lab.open(options.root).preset === preset && !options.wanRttMs;
    // A lab kept up by `up` holds the default addresses: a second one takes the next /24.
    const other = Lab.exists(options.root) && !reuse;
    const opts = other ? { ...options, preset, root: `${options.root}-${preset}`, net: options.net.replace(/\d+$/, (o) => String((Number(o) + 1) % 256)) } : { ...options, preset };
    log(`\n== preset ${preset}${options.wanRttMs ? `, ${options.wanRttMs} ms between regions` : ""}: ${reuse ? "using the running lab" : "booting a lab"} ==`);
    let lab = reuse ? Lab.open(opts.root, log) : await Lab.up(opts, log);
    try {
      let broken: string | null = null;
      for (const name of names) {
        for (let i = 0; i < repeat; i++) {
          // Each drill starts from a healthy lab: rebuild one a drill left broken (not a lab we were lent).
          if (broken !== null && !reuse) {
            log(`  rebuilding the lab after ${broken}`);
            await lab.down(keepDir(opts, results.length));
            lab = await Lab.up(opts, log);
          }
          const r = await DRILLS[name]({ lab, log, random: Math.random }).catch((e: Error) => failedResult(name, preset, e));
          results.push(r);
          printRow(r, log);
          broken = r.healed ? null : name;
        }
      }
    } finally {
      if (!reuse) {
        const n = await lab.down(keepDir(opts, results.length));
        log(`lab (${preset}) down: stopped ${n} processes`);
      }
    }
  }
  printSummary(results, log);
  return results;
}
