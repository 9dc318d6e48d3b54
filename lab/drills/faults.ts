// The faults the database drills inject and the heals that follow them, written once over
// DrillBackend: host-level power and freezes, one service's crash, patronictl, Sentinel commands.
import { randomBytes } from "crypto";
import { presetOf, type Host } from "../../lib/model";
import { sentinelMasterName } from "../../playbooks-gen/views/clusters";
import type { FailoverHookControl, Member } from "../backends/types";
import { sql } from "../clients/pg";
import { sleep, waitFor } from "../proc";
import { DigitalOceanStandIn } from "../stand-ins/digitalocean-stand-in";
import { primariesNow } from "./pg-drill";
import { redisCommand } from "./redis-drill";
import { HEALTHY_WAIT_MS, need, secondsSince, type DrillContext, type Findings } from "./types";

/** The stand-in API completes a power-off this long after queuing it (the real API queues them too). */
const POWER_OFF_DELAY_MS = 1000;

/** Powers a region's hosts on again, its etcd members first, and waits for its database nodes to
 * stream from the primary again. */
export async function restoreRegion(ctx: DrillContext, f: Findings, region: string): Promise<void> {
  const { backend } = ctx;
  const hosts = backend.hosts().filter((h) => h.region === region);
  const since = Date.now() / 1000;
  const [etcd, rest] = [hosts.filter((h) => h.services.includes("etcd")), hosts.filter((h) => !h.services.includes("etcd"))];
  await Promise.all(etcd.map((h) => backend.powerOn(h.name)));
  await waitFor("etcd healthy again", 30_000, () => backend.etcdHealthy());
  await Promise.all(rest.map((h) => backend.powerOn(h.name)));
  await rejoinRegion(ctx, f, region, since);
}

/** Waits for a region's database nodes to stream from the new primary again (rewound if needed);
 * `since` (epoch s) is when the region started to come back. */
export async function rejoinRegion(ctx: DrillContext, f: Findings, region: string, since: number): Promise<void> {
  const { backend } = ctx;
  const t0 = Date.now();
  const pg = backend.hostsRunning("patroni").filter((h) => h.region === region).map((h) => h.name);
  // Streaming from the leader, as the leader sees it: a member's "running" in the DCS can be stale
  // while it is still being rewound, and a switchover then would break the rewind mid-way.
  // Its time is reported (below), not judged. On the rehearsal of a loaded machine (load 15 on 2 cores)
  // the old primary took 126 s from Patroni's start to streaming (30 s for etcd, 10 s of crash recovery,
  // 73 s of pg_rewind through the WAN forwarder), and in another run the region's nodes streamed 254 s
  // after it came back (2026-12-02).
  await waitFor(`${pg.join(", ")} to rejoin as streaming replicas`, HEALTHY_WAIT_MS, async () => {
    const leader = await backend.leader();
    if (!leader) return false;
    const streaming = await backend.streamingFrom(leader);
    return pg.every((n) => n !== leader && streaming.has(n));
  }, 250);
  // Did Patroni rewind a node onto the new timeline since the region came back?
  const rewound = backend.rewoundSince ? (await Promise.all(pg.map(async (n) => ((await backend.rewoundSince!(n, since)) ? n : null)))).filter((n) => n !== null) : [];
  f.note(`region ${region} back: ${pg.join(", ")} replicas again after ${secondsSince(t0)} s${rewound.length ? ` (pg_rewind on ${rewound.join(", ")})` : ""}`);
  if (backend.t.database.synchronousMode) {
    await setSynchronousMode(ctx, pg[0], true);
    f.note("synchronous_mode back on");
  }
}

/** Sets synchronous_mode in the DCS, as the region-failover hook does (DESIGN.md, LAB-NOTES.md). */
function setSynchronousMode({ backend }: DrillContext, viaHost: string, on: boolean): Promise<string> {
  return backend.patronictl(viaHost, ["edit-config", "--force", "-s", `synchronous_mode=${on}`]);
}

/** Planned switchover to `candidate`. patronictl 3.0.2 exits 0 even when Patroni refuses: read its answer. */
export async function switchover({ backend }: DrillContext, f: Findings, leader: string, candidate: string): Promise<void> {
  const t0 = Date.now();
  const out = await backend.patronictl(candidate, ["switchover", "--leader", leader, "--candidate", candidate, "--force"]);
  if (!/switched over/i.test(out)) throw new Error(`switchover ${leader} → ${candidate} refused: ${out.trim().split("\n").at(-1)}`);
  f.note(`switchover ${leader} → ${candidate} (patronictl returned after ${secondsSince(t0)} s)`);
}

export function inRegionCandidate(members: readonly Member[], ctx: DrillContext, leader: Host): string {
  const replicas = members.filter((m) => m.name !== leader.name && m.state === "running");
  const pick = replicas.find((m) => m.role === "sync_standby") ?? replicas.find((m) => ctx.backend.host(m.name).region === leader.region) ?? replicas[0];
  if (!pick) throw new Error("no running replica to switch over to");
  return pick.name;
}

/** Failback: switch over to a replica of `region`; with synchronous_mode only the synchronous standby
 * may take over, so first wait until Patroni has made one of the region's nodes that. Then Redis's
 * primary goes home too. */
export async function failback(ctx: DrillContext, f: Findings, region: string): Promise<void> {
  const { backend } = ctx;
  const sync = backend.t.database.synchronousMode;
  const candidate = await waitFor(`a ${sync ? "synchronous standby" : "replica"} in ${region}`, 60_000, async () =>
    (await backend.members()).find((m) => backend.host(m.name).region === region && m.state === "running" && (sync ? m.role === "sync_standby" : m.role === "replica"))?.name, 250);
  await switchover(ctx, f, (await backend.leader())!, candidate);
  await redisFailback(ctx, f, region);
}

/** Sentinel's own fields for one monitored instance (SENTINEL MASTER, one entry of SENTINEL REPLICAS). */
function sentinelFields(entry: unknown): Record<string, string> {
  const kv = Array.isArray(entry) ? entry.map(String) : [];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < kv.length; i += 2) out[kv[i]] = kv[i + 1];
  return out;
}

/** Moves the Redis primary back into `region` once one of the region's Redis replicas is in sync, as
 * an operator would after a region returns (Sentinel never fails back by itself): SENTINEL FAILOVER
 * with only the region's replicas to choose from. Each region drill then takes Redis's primary with it. */
async function redisFailback({ backend }: DrillContext, f: Findings, region: string): Promise<void> {
  const home = new Set(backend.hosts().filter((h) => h.region === region && h.services.includes("redis")).map((h) => h.name));
  const primary = await waitFor("Sentinels to agree on a Redis primary", 60_000, () => backend.redisPrimary(), 250);
  if (home.size === 0 || home.has(primary)) return;
  // One of the region's Redis hosts replicating from the primary is enough: Sentinel promotes among
  // the primary's own replicas. (Another may still replicate from it, as its config file says: Sentinel
  // corrects such a replica only a failover-timeout later, 3 min with stock's timings.)
  const { failoverTimeoutMs } = presetOf(backend.t).sentinel;
  await waitFor(`a Redis replica in ${region} in sync with ${primary}`, 60_000 + failoverTimeoutMs, async () =>
    (await backend.redisReplication(primary))?.onlineReplicas.some((r) => home.has(r)), 250);
  // Every Sentinel must have seen every returned host turned into a replica before the failover. A
  // host that came back as a primary is converted by the Sentinels (+convert-to-slave), and each one
  // learns of it only from that host's next INFO, up to 10 s later. A Sentinel whose last INFO still
  // said "master" takes the replica the failover has just promoted for that same rogue primary and
  // converts it again, before the failing-over Sentinel sees the promotion: the failover then waits
  // out its failover-timeout and aborts (the lab saw this: -failover-abort-slave-timeout after 180 s
  // under stock). So: every Sentinel names the primary, and every replica it lists as up reports the
  // role "slave". The Sentinel asked is one that also lists a replica of the region with link ok,
  // the region's own when it is ready.
  const isAddressOf = (ip: string, host: string) => ip === host || ip === backend.redisTarget(host).host;
  const sentinel = await waitFor(`every Sentinel to name ${primary} and see each replica report the role slave`, 60_000, async () => {
    const views = await Promise.all(backend.hostsRunning("sentinel").map(async (s) => ({ s, view: await sentinelView(backend, s.name) })));
    for (const { s, view } of views) {
      if (!isAddressOf(view.master.ip, primary)) throw new Error(`Sentinel ${s.name} names ${view.master.ip}, not ${primary}`);
      const rogue = view.replicas.find((r) => !/s_down|disconnected/.test(r.flags) && r["role-reported"] !== "slave");
      if (rogue) throw new Error(`Sentinel ${s.name} last heard ${rogue.ip}:${rogue.port} report the role ${rogue["role-reported"]}`);
    }
    const isHome = (ip: string) => [...home].some((h) => isAddressOf(ip, h));
    return views.filter(({ view }) => view.replicas.some((r) => isHome(r.ip) && r.flags === "slave" && r["master-link-status"] === "ok"))
      .map(({ s }) => s).sort((a, b) => Number(b.region === region) - Number(a.region === region))[0];
  }, 250);
  const t0 = Date.now();
  const onOld = (...args: string[]) => redisCommand(backend.redisTarget(primary, "admin"), args);
  // Sentinel promotes without telling the old primary, which it turns into a replica only ~10 s later:
  // writes it took meanwhile were lost (the lab saw 550). So its writes wait (CLIENT PAUSE … WRITE)
  // while Sentinel switches, then its clients are dropped and reconnect to the new primary.
  await onOld("CLIENT", "PAUSE", "15000", "WRITE");
  try {
    const reply = await redisCommand(backend.sentinelTarget(sentinel.name, "admin"), ["SENTINEL", "FAILOVER", sentinelMasterName(backend.t)]);
    if (String(reply) !== "OK") throw new Error(`SENTINEL FAILOVER on ${sentinel.name}: ${String(reply)}`);
    // Sentinel's own bound on each step of a failover is its failover-timeout: wait that, and a minute.
    const now = await waitFor(`the Redis primary back in ${region}`, failoverTimeoutMs + 60_000, async () => {
      const p = await backend.redisPrimary();
      return p && home.has(p) ? p : undefined;
    }, 100).catch(async (e: Error) => {
      throw new Error(`${e.message} (SENTINEL FAILOVER asked of ${sentinel.name}); the Sentinels' views: ${await sentinelViews(backend)}`);
    });
    const dropped = await onOld("CLIENT", "KILL", "TYPE", "normal");
    f.note(`Redis failback: writes paused on ${primary}, SENTINEL FAILOVER on ${sentinel.name} made ${now} the primary in ${secondsSince(t0)} s, ${String(dropped)} clients of the old one dropped`);
  } finally {
    await onOld("CLIENT", "UNPAUSE").catch(() => undefined);
  }
}

/** What one Sentinel says of the monitored primary (SENTINEL MASTER) and its replicas (SENTINEL REPLICAS). */
async function sentinelView(backend: DrillContext["backend"], sentinelHost: string): Promise<{ readonly master: Record<string, string>; readonly replicas: readonly Record<string, string>[] }> {
  const target = backend.sentinelTarget(sentinelHost, "admin");
  const name = sentinelMasterName(backend.t);
  const master = sentinelFields(await redisCommand(target, ["SENTINEL", "MASTER", name]));
  const replicas = await redisCommand(target, ["SENTINEL", "REPLICAS", name]);
  return { master, replicas: (Array.isArray(replicas) ? replicas : []).map(sentinelFields) };
}

/** Each running Sentinel's master, its flags and config epoch, and its replicas' flags and reported
 * roles: for a report that says why a failover did not land. */
async function sentinelViews(backend: DrillContext["backend"]): Promise<string> {
  const views = await Promise.all(backend.hostsRunning("sentinel").map(async (s) => {
    try {
      const { master: m, replicas } = await sentinelView(backend, s.name);
      const rs = replicas.map((r) => `${r.ip} ${r.flags} (reports ${r["role-reported"]}) link ${r["master-link-status"]}`);
      return `${s.name}: master ${m.ip} (${m.flags}, epoch ${m["config-epoch"]}), replicas ${rs.join(", ") || "none"}`;
    } catch (e) {
      return `${s.name}: ${(e as Error).message}`;
    }
  }));
  return views.join("; ");
}

/** Powers off every host of a region; with synchronous_mode the generated failover hook, triggered as
 * Alertmanager would once the leader key is gone, then lets a remote replica win. */
export async function loseRegion(ctx: DrillContext, f: Findings, leader: Host, writesBack: () => boolean): Promise<void> {
  const { backend } = ctx;
  const hosts = backend.hosts().filter((h) => h.region === leader.region);
  // etcd extends every lease when a new etcd leader is elected: losing the etcd leader too adds up to a ttl.
  const etcdLeader = await backend.etcdLeader();
  const hook = await backend.failoverHook();
  await Promise.all(hosts.map((h) => backend.powerOff(h.name)));
  f.note(`powered off ${hosts.map((h) => h.name).join(", ")}; the etcd leader was ${etcdLeader ?? "unknown"}`);
  await hookAfterLeaderKey(ctx, f, hook, leader.region, writesBack);
}

/** With synchronous_mode, once the leader key is gone as seen from outside `lostRegion`, triggers the
 * generated failover hook as Alertmanager would (PatroniNoLeader) and waits for its decision. */
async function hookAfterLeaderKey(ctx: DrillContext, f: Findings, hook: FailoverHookControl | null, lostRegion: string, writesBack: () => boolean): Promise<void> {
  const { backend } = ctx;
  if (!hook) return;
  try {
    const t0 = Date.now();
    // Asked of the other regions' nodes: a cut-off region's nodes may still answer with a stale view.
    const outside = backend.hostsRunning("patroni").filter((h) => h.region !== lostRegion).map((h) => h.name);
    const noLeader = async () => {
      const ms = await backend.members(outside);
      return ms.length > 0 && !ms.some((m) => m.role === "leader" && m.state === "running");
    };
    await waitFor("the leader key to expire", (presetOf(backend.t).patroni.ttl * 2 + 10) * 1000, async () => (await noLeader()) || writesBack(), 250);
    if (writesBack()) {
      f.note("promoted without the failover hook");
      return;
    }
    const expired = secondsSince(t0);
    await hook.trigger();
    // Bounded by the alert path in the rehearsal (scrape and evaluation intervals, the rule's for:,
    // Alertmanager's group_wait) on top of the hook's own confirmations.
    const outcome = await waitFor("the failover hook to decide", 180_000, () => hook.outcome(), 100);
    const decided = secondsSince(t0);
    f.note(`failover hook (generated failover-hook.py): triggered when the leader key was gone at ${expired} s, "${outcome}" at ${decided} s`);
    // Where the real alert path triggers it: its share, and the hook's own (confirmations, the change).
    const alert = await hook.triggered?.().catch(() => null);
    if (alert) {
      const reached = (alert.atMs - t0) / 1000;
      const s = (x: number) => x.toFixed(1);
      f.note(`alert path: the alert reached the hook at ${s(reached)} s from ${alert.by}'s Alertmanager, ${s(reached - Number(expired))} s after the leader key was gone (PatroniNoLeader's for:, the probe and evaluation intervals, no group wait); the hook's confirmations and change took ${s(Number(decided) - reached)} s`);
    }
    if (!outcome.startsWith("applied")) f.violation(`the failover hook did not act: ${outcome}`);
  } finally {
    await hook.stop();
  }
}

/** Cuts the primary region off from the other regions (WAN partition; the drill's own clients still
 * see both sides). Its primary must demote itself before the other side promotes: never two primaries. */
export async function partitionRegion(ctx: DrillContext, f: Findings, leader: Host, writesBack: () => boolean): Promise<void> {
  const partitions = need(ctx.backend, "partitions");
  const hook = await ctx.backend.failoverHook();
  await partitions.isolateRegion(leader.region);
  f.note(`cut ${leader.region} off from the other regions (its hosts keep running; the drill's clients still reach them)`);
  await hookAfterLeaderKey(ctx, f, hook, leader.region, writesBack);
}

/** Heals the partition, waits for the region to rejoin, fails back. */
export async function healPartition(ctx: DrillContext, f: Findings, old: Host): Promise<void> {
  const since = Date.now() / 1000;
  await need(ctx.backend, "partitions").heal();
  f.note("partition healed");
  await rejoinRegion(ctx, f, old.region, since);
  await failback(ctx, f, old.region);
}

/** etcd loses quorum (two members outside the primary's region killed) for longer than any leader key
 * lives: no node may be promoted meanwhile. */
export async function etcdQuorumLoss(ctx: DrillContext, f: Findings, leader: Host): Promise<void> {
  const { backend } = ctx;
  const { ttl, loopWait } = presetOf(backend.t).patroni;
  const victims = backend.hostsRunning("etcd").filter((h) => h.region !== leader.region).slice(0, 2);
  await Promise.all(victims.map((h) => backend.killService(h.name, "etcd")));
  f.note(`stopped etcd on ${victims.map((h) => h.name).join(", ")} for ${ttl + 2 * loopWait + 3} s`);
  // The outage itself lasts a fixed, reported time: long enough for any leader key to expire twice over.
  await sleep((ttl + 2 * loopWait + 3) * 1000);
  const states = await Promise.all(backend.hostsRunning("patroni").map(async (h) =>
    [h.name, (await sql(backend.pgTarget(h.name), "SELECT NOT pg_is_in_recovery()").catch(() => ["down"]))[0]] as const));
  for (const [n, s] of states) if (n !== leader.name && s === "t") f.violation(`${n} was promoted while etcd had no quorum`);
  const was = states.find(([n]) => n === leader.name)?.[1];
  f.note(`without quorum the primary ${was === "t" ? "kept accepting writes (failsafe)" : "demoted itself to read-only (failsafe_mode off)"}`);
  for (const h of victims) await backend.startService(h.name, "etcd");
}

/** The primary region stops answering: its hosts frozen at once (a partition, as seen from outside).
 * The generated failover hook, triggered as Alertmanager would once DatabaseRegionDown fires, confirms
 * the loss, fences the region's database droplets through the DigitalOcean API (the stand-in powers
 * those hosts off) and promotes the standby cluster. */
export async function fenceAndPromote(ctx: DrillContext, f: Findings, leader: Host): Promise<void> {
  const { backend } = ctx;
  const token = randomBytes(16).toString("hex");
  const api = await DigitalOceanStandIn.start(backend, { token, powerOffDelayMs: POWER_OFF_DELAY_MS });
  const hook = await backend.failoverHook({ apiToken: token });
  if (!hook) throw new Error("standby-promote needs the failover hook, and this topology has none");
  try {
    const region = backend.hosts().filter((h) => h.region === leader.region);
    await Promise.all(region.map((h) => backend.freeze(h.name)));
    const t0 = Date.now();
    f.note(`froze ${region.length} hosts of ${leader.region}: it answers nothing`);
    // What Prometheus scrapes: the region's Patroni APIs all failing (production waits `for: 1m` more).
    const pg = region.filter((h) => h.services.includes("patroni"));
    await waitFor(`${leader.region}'s Patroni APIs to stop answering`, 30_000, async () =>
      (await Promise.all(pg.map((h) => backend.patroniAnswers(h.name)))).every((up) => !up), 100);
    const seen = secondsSince(t0);
    await hook.trigger("DatabaseRegionDown");
    const expected = pg.map((h) => h.name);
    const allFenced = () => expected.every((n) => api.poweredOff().some((x) => x.host === n));
    await waitFor("the fence to complete (or the hook to stop)", 120_000, async () => allFenced() || (await hook.outcome())?.startsWith("failover stopped"), 50);
    if (allFenced()) {
      // Right when the last power-off completes, no node of the standby cluster may be a primary yet.
      const early = await primariesNow(backend, backend.hostsRunning("patroni").filter((h) => h.region !== leader.region).map((h) => h.name));
      if (early.length) f.violation(`${early.join(", ")} promoted before ${leader.region} was fenced`);
      f.note(`fence complete at ${secondsSince(t0)} s, no standby node promoted before it`);
    }
    const outcome = await waitFor("the failover hook to decide", 120_000, () => hook.outcome(), 100);
    f.note(`failover hook (generated failover-hook.py): triggered by DatabaseRegionDown at ${seen} s, "${outcome}" at ${secondsSince(t0)} s`);
    if (!outcome.startsWith("applied")) f.violation(`the failover hook did not promote: ${outcome}`);
    const fenced = api.poweredOff();
    f.note(`DigitalOcean API stand-in: ${[...new Set(api.calls.map((c) => c.replace(/\/\d+ /, "/ID ")))].join("; ")}; powered off ${fenced.map((x) => x.host).join(", ") || "nothing"}`);
    const missed = expected.filter((n) => !fenced.some((x) => x.host === n));
    if (missed.length) f.violation(`not fenced: ${missed.join(", ")}`);
  } finally {
    await hook.stop();
    await api.stop();
  }
}

/** SIGSTOPs the leader's Patroni (PostgreSQL keeps running under it) for longer than its key lives: the
 * watchdog it armed must reset the host before another node can be promoted; then SIGCONT. */
export async function freezePatroni({ backend }: DrillContext, f: Findings, leader: Host): Promise<void> {
  const watchdog = need(backend, "watchdog");
  const { ttl, loopWait } = presetOf(backend.t).patroni;
  const wd = watchdog.status(leader.name);
  if (!wd?.armed) f.violation("the leader's watchdog was not armed (Patroni's log says why)");
  const resetsBefore = wd?.resets.length ?? 0;
  const t0 = Date.now();
  watchdog.pauseService(leader.name, "patroni");
  const resetAt = await waitFor("a watchdog reset", (ttl + loopWait + 2) * 1000, () => {
    const st = watchdog.status(leader.name);
    return st && st.resets.length > resetsBefore ? st.resets.at(-1)!.at : undefined;
  }, 100).catch(() => null);
  if (resetAt === null) {
    watchdog.resumeService(leader.name, "patroni");
    f.note(`SIGSTOP Patroni for ${ttl + loopWait + 2} s: the watchdog did not reset the host; SIGCONT`);
  } else {
    f.note(`SIGSTOP Patroni: its watchdog (timeout ${wd!.timeoutSeconds} s) reset the host ${(resetAt - t0 / 1000).toFixed(1)} s later, PostgreSQL with it`);
  }
}
