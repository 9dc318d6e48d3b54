// The shared drill harness for the database drills: healthy cluster → prober + writer through
// HAProxy → random delay 0…loop_wait → fault → wait for writes to come back → heal → checker.
import { presetOf, rtoBudget, type Host, type TimingPresetName } from "../../lib/model";
import { maxConcurrentPrimaries, primarySpans, promotedAfter, summarizeWrites, writeGap } from "./checker";
import type { Lab } from "../backends/loopback/lab";
import { readOrders, sql, startProbe, startWriter, type WriteOp } from "../clients/pg";
import { redisReadBack, redisWriter, sentinelAsk } from "./redis-drill";
import { sleep, waitFor } from "../proc";

export interface DrillResult {
  readonly name: string;
  readonly preset: TimingPresetName;
  /** First failed write to the first acknowledged write after it (null: writes never came back). */
  readonly rtoSeconds: number | null;
  /** Fault to the first direct probe that saw a new primary (pg_is_in_recovery() false). */
  readonly promotedAfterSeconds: number | null;
  readonly ackedWrites: number;
  readonly lostAckedWrites: number;
  /** Lost acknowledged writes the drill tolerates: 0 in a region, and across regions (asynchronous
   * replication) what maximum_lag_on_failover lets Patroni lose, in orders of this run's WAL size. */
  readonly lostAckedWritesBound: number;
  readonly unknownWrites: number;
  readonly failedWrites: number;
  readonly maxConcurrentPrimaries: number;
  readonly targetSeconds: number | null;
  readonly passed: boolean;
  readonly faultDelaySeconds: number;
  readonly oldPrimary: string | null;
  readonly newPrimary: string | null;
  /** Which layer took the time, when the target was missed (or always, for the record). */
  readonly layers: string;
  /** The lab returned to full health afterwards (otherwise the runner rebuilds it). */
  readonly healed: boolean;
  /** Drills that take Redis's primary region with them (withRedis): the Redis write gap through Sentinel. */
  readonly redis?: RedisOutcome;
  readonly notes: readonly string[];
}

/** Redis during a region fault, judged against the model's worst-case Redis budget (rtoBudget). Lost
 * acknowledged Redis writes are reported, not judged: Redis replicates asynchronously. */
export interface RedisOutcome {
  /** First failed Redis write to the first acknowledged one after it (null: not back in the drill). */
  readonly rtoSeconds: number | null;
  readonly budgetSeconds: number;
  readonly ackedWrites: number;
  readonly lostAckedWrites: number;
  readonly failedWrites: number;
  readonly unknownWrites: number;
}

export interface DrillContext {
  readonly lab: Lab;
  readonly log: (line: string) => void;
  readonly random: () => number;
}

/** Targets from issue 4 (seconds of write unavailability); presets without one are judged on data only. */
export const TARGETS: Readonly<Record<string, Partial<Record<TimingPresetName, number>>>> = {
  "primary-loss": { fast: 8, balanced: 15 },
  switchover: { fast: 2, balanced: 2 },
  "region-loss": { balanced: 20 },
  "redis-primary-loss": { fast: 8, balanced: 8 },
};

export interface PgDrillSpec {
  readonly name: string;
  /** Write through an app host outside this region (the region is about to be lost). */
  readonly avoidRegion?: (leader: Host) => string;
  readonly expectNewPrimary: boolean;
  /** Injects the fault; returns notes for the report. */
  readonly fault: (ctx: DrillContext, leader: Host, writesBack: () => boolean) => Promise<string[]>;
  /** Puts the lab back to full health for the next drill. */
  readonly heal: (ctx: DrillContext, oldLeader: Host) => Promise<string[]>;
  /** Start from a degraded lab (a region still down) instead of waiting for full health. */
  readonly degraded?: boolean;
  /** The old primary's region fails over to another region over asynchronous replication: acknowledged
   * writes may be lost, within maximum_lag_on_failover. */
  readonly crossRegion?: boolean;
  /** The old primary's region stays gone (fenced): its nodes are not read back, and the lab is rebuilt
   * before the next drill instead of healed. */
  readonly regionGone?: boolean;
  /** Also write to Redis through Sentinel during the drill (region faults take Redis's primary and a
   * Sentinel with them): its writes must come back within the model's Redis budget. */
  readonly withRedis?: boolean;
}

/** Notes starting with this fail the drill (e.g. a promotion while etcd had no quorum). */
export const VIOLATION = "VIOLATION: ";

const r1 = (n: number | null) => (n === null ? null : Math.round(n * 100) / 100);

export async function runPgDrill(ctx: DrillContext, spec: PgDrillSpec): Promise<DrillResult> {
  const { lab, log } = ctx;
  const preset = presetOf(lab.t);
  if (!spec.degraded) await lab.waitHealthy(180_000);
  const leaderName = await waitFor("a Patroni leader", 30_000, () => lab.leader());
  const leader = lab.host(leaderName);
  const avoid = spec.avoidRegion?.(leader);
  const apps = lab.hostsRunning("haproxy");
  const app = apps.find((h) => h.region !== avoid && h.region === leader.region) ?? apps.find((h) => h.region !== avoid);
  if (!app) throw new Error(`${spec.name}: no HAProxy host outside region ${avoid}`);
  const byAddress = new Map(lab.env.hosts.map((h) => [lab.env.addressOf(h.name), h.name]));
  const pgNodes = lab.hostsRunning("patroni").map((h) => h.name);
  const [firstId, startLsn] = (await sql(lab.pgTarget(leaderName), "SELECT coalesce(max(id), 0) + 1, pg_current_wal_lsn() FROM lab_orders"))[0].split("|");

  const probe = startProbe(Object.fromEntries(pgNodes.map((n) => [n, lab.pgTarget(n)])));
  const writer = startWriter(lab.haproxyTarget(app.name), Number(firstId));
  // The Redis client sits with the writer's app host: a region cut off from it is out of its reach.
  const reach = (addr: string) => lab.reachable(app.region, addr);
  const redis = spec.withRedis ? redisWriter(sentinelAsk(lab, reach), lab.secrets.redis, Date.now(), reach) : null;
  const notes: string[] = [`writer via HAProxy on ${app.name}`];
  let faultAt = Infinity;
  const ticker = setInterval(() => {
    if (faultAt === Infinity) return;
    const ops = writer.records;
    const count = (r: WriteOp["r"]) => ops.filter((o) => o.r === r).length;
    log(`    t+${(Date.now() / 1000 - faultAt).toFixed(1).padStart(5)} s  acked ${count("ok")}  failed ${count("fail")}  unknown ${count("info")}  last write on ${byAddress.get(ops.filter((o) => o.r === "ok").at(-1)?.node ?? "") ?? "-"}`);
  }, 2000);
  // Updated on every poll; the last poll before recovery (or the timeout) holds the measurement.
  const m = { gap: writeGap([], 0), promoted: null as number | null };
  const measure = () => {
    m.gap = writeGap(writer.records, faultAt, spec.expectNewPrimary ? lab.env.addressOf(leaderName) : undefined);
    m.promoted = promotedAfter(probe.records, faultAt, leaderName, spec.expectNewPrimary);
  };
  const delay = ctx.random() * preset.patroni.loopWait;
  let healed = false;
  try {
    await waitFor("the writer's first acknowledged orders", 30_000, () => writer.records.filter((o) => o.r === "ok").length >= 25);
    await sleep(delay * 1000);
    faultAt = Date.now() / 1000;
    log(`  ${spec.name}: fault on ${leaderName} (${leader.region}) after a random ${delay.toFixed(2)} s`);
    const writesBack = () => {
      measure();
      const now = Date.now() / 1000;
      return m.gap.seconds !== null && (m.gap.backAt !== null ? now - m.gap.backAt > 1 : now - faultAt > 3) && (!spec.expectNewPrimary || m.promoted !== null);
    };
    notes.push(...await spec.fault(ctx, leader, writesBack));
    const budget = (2 * preset.patroni.ttl + preset.patroni.primaryStartTimeout + 30) * 1000;
    await waitFor("writes to come back through HAProxy", budget, writesBack, 200).catch((e: Error) => notes.push(e.message));
    try {
      // A database host that still has power but lost Patroni (killed, or reset by its watchdog) boots again.
      notes.push(...await lab.bootStoppedDatabaseHosts(faultAt));
      notes.push(...await spec.heal(ctx, leader));
      if (spec.regionGone) {
        await sleep(1000);
        notes.push(`${leader.region} stays fenced: the lab is rebuilt before another drill`);
      } else {
        await lab.waitHealthy(180_000);
        healed = true;
        await sleep(1000); // a few acknowledged writes on the healed cluster, read back below as well
      }
    } catch (e) {
      notes.push(`${VIOLATION}the cluster did not return to full health: ${(e as Error).message}`);
    }
  } finally {
    clearInterval(ticker);
    await writer.stop().catch((e: Error) => notes.push(e.message));
    await redis?.stop();
    await probe.stop().catch((e: Error) => notes.push(e.message));
    notes.push(...lab.stopRestarting());
  }
  const redisOutcome = redis ? await judgeRedis(lab, redis.ops, faultAt, notes) : undefined;

  // Checker: every acknowledged order must be on the primary and, once caught up, on every replica.
  const newPrimary = await waitFor("a Patroni leader", 30_000, () => lab.leader()).catch(() => null)
    ?? (await primariesNow(lab, pgNodes))[0] ?? null;
  if (newPrimary === null) notes.push(`${VIOLATION}no primary to read the orders back from`);
  const onPrimary = newPrimary === null ? new Map<number, { node: string; at: number }>() : await readOrders(lab.pgTarget(newPrimary));
  const ops = writer.records;
  const summary = summarizeWrites(ops, new Set(onPrimary.keys()));
  const gone = spec.regionGone ? lab.hostsRunning("patroni").filter((h) => h.region === leader.region).map((h) => h.name) : [];
  if (gone.length) notes.push(`not read back: ${gone.join(", ")} (fenced with ${leader.region})`);
  if (newPrimary !== null) notes.push(...await checkReplicas(lab, newPrimary, pgNodes.filter((n) => !gone.includes(n)), ops));
  const bound = spec.crossRegion && newPrimary !== null ? await lossBound(lab, newPrimary, startLsn, Number(firstId), notes) : 0;
  const writes = [
    ...ops.filter((o) => o.r === "ok" && o.node).map((o) => ({ node: byAddress.get(o.node!) ?? o.node!, at: o.t1 })),
    ...[...onPrimary.values()].map((w) => ({ node: byAddress.get(w.node) ?? w.node, at: w.at })),
  ];
  const concurrent = maxConcurrentPrimaries(primarySpans(probe.records, writes));
  if (concurrent.max > 1) notes.push(`${concurrent.nodes.join(" and ")} were both read-write primaries at ${new Date(concurrent.at! * 1000).toISOString()}`);
  if (summary.unknownCommitted) notes.push(`${summary.unknownCommitted} of the unknown writes did commit (not a loss)`);

  const promotedAt = m.promoted;
  if (spec.expectNewPrimary && promotedAt !== null) {
    // How long the old primary kept answering as one after the fault (a cut-off primary demotes itself).
    const last = probe.records.filter((r) => r.n === leaderName && r.p === 1 && r.t >= faultAt && r.t < faultAt + promotedAt).at(-1);
    notes.push(last ? `${leaderName} answered as primary until ${(last.t - faultAt).toFixed(1)} s after the fault (new primary seen at ${promotedAt.toFixed(1)} s)` : `${leaderName} never answered as primary after the fault`);
  }
  const target = TARGETS[spec.name]?.[lab.preset] ?? null;
  const rto = m.gap.seconds;
  const p = m.promoted;
  const layers = layerReport(lab, m.gap, faultAt, p, notes);
  if (summary.lost.length > 0) notes.push(`${summary.lost.length} acknowledged orders lost (ids ${summary.lost.slice(0, 10).join(", ")}${summary.lost.length > 10 ? ", …" : ""}), tolerated: ${bound}`);
  const passed = rto !== null && summary.lost.length <= bound && concurrent.max <= 1 && (target === null || rto <= target)
    && !notes.some((n) => n.startsWith(VIOLATION));
  if (target !== null && rto !== null && rto > target) notes.push(`missed the ${target} s target: ${layers}`);
  return {
    name: spec.name, preset: lab.preset, rtoSeconds: r1(rto), promotedAfterSeconds: r1(p), ackedWrites: summary.acked,
    lostAckedWrites: summary.lost.length, lostAckedWritesBound: bound, unknownWrites: summary.unknown, failedWrites: summary.failed,
    maxConcurrentPrimaries: concurrent.max, targetSeconds: target, passed, faultDelaySeconds: r1(delay)!, oldPrimary: leaderName,
    newPrimary, layers, healed, ...(redisOutcome ? { redis: redisOutcome } : {}), notes,
  };
}

/** The Redis side of a region drill: its write gap must end within the model's Redis budget. */
async function judgeRedis(lab: Lab, ops: readonly WriteOp[], faultAt: number, notes: string[]): Promise<RedisOutcome> {
  const budget = rtoBudget(lab.t).redisPrimaryLoss;
  const gap = writeGap(ops, faultAt);
  const present = await redisReadBack(lab, ops.map((o) => o.id)).catch((e: Error) => {
    notes.push(`Redis orders not read back: ${e.message}`);
    return null;
  });
  const summary = summarizeWrites(ops, present ?? new Set(ops.map((o) => o.id)));
  const failed = ops.filter((o) => o.t0 >= faultAt && o.r !== "ok").length;
  if (gap.firstFailAt === null) notes.push("Redis (through Sentinel): no write failed");
  else if (gap.seconds === null) notes.push(`${VIOLATION}Redis (through Sentinel): writes failing since ${(gap.firstFailAt - faultAt).toFixed(1)} s after the fault, not back before the drill ended`);
  else {
    notes.push(`Redis (through Sentinel): writes back ${gap.seconds.toFixed(1)} s after the first failure (${failed} failed or unknown; budget ${budget} s)`);
    if (gap.seconds > budget) notes.push(`${VIOLATION}Redis took longer than the model's budget of ${budget} s`);
  }
  if (present && summary.lost.length) {
    const lost = new Set(summary.lost);
    const at = ops.filter((o) => lost.has(o.id)).map((o) => o.t1 - faultAt);
    const nodes = [...new Set(ops.filter((o) => lost.has(o.id)).map((o) => o.node))].join(", ");
    notes.push(`Redis: ${summary.lost.length} acknowledged writes not on the final primary, acknowledged by ${nodes} ${Math.min(...at).toFixed(1)}…${Math.max(...at).toFixed(1)} s after the fault (asynchronous replication; reported, not judged)`);
  }
  return {
    rtoSeconds: gap.firstFailAt === null ? 0 : r1(gap.seconds), budgetSeconds: budget, ackedWrites: summary.acked,
    lostAckedWrites: present ? summary.lost.length : 0, failedWrites: summary.failed, unknownWrites: summary.unknown,
  };
}

/** Acknowledged orders a cross-region failover may lose: maximum_lag_on_failover divided by the WAL one
 * order took in this run (all WAL since the writer started, checkpoints included, over the orders
 * written: an overestimate per order, so the bound errs low). */
async function lossBound(lab: Lab, primary: string, startLsn: string, firstId: number, notes: string[]): Promise<number> {
  const [bytes, orders] = (await sql(lab.pgTarget(primary), `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '${startLsn}'), count(*) FROM lab_orders WHERE id >= ${firstId}`))[0].split("|");
  const perOrder = Number(bytes) / Math.max(1, Number(orders));
  const bound = Math.floor(lab.t.database.maximumLagOnFailoverBytes / perOrder);
  notes.push(`loss bound: maximum_lag_on_failover ${lab.t.database.maximumLagOnFailoverBytes} bytes ÷ ${Math.round(perOrder)} bytes of WAL per order = ${bound} orders`);
  return bound;
}

/** Nodes answering as read-write primaries right now (direct probe). */
export async function primariesNow(lab: Lab, nodes: readonly string[]): Promise<string[]> {
  const states = await Promise.all(nodes.map((n) => sql(lab.pgTarget(n), "SELECT NOT pg_is_in_recovery()", 3000).then((r) => r[0] === "t", () => false)));
  return nodes.filter((_, i) => states[i]);
}

/** Every replica, once it has replayed the primary's current WAL position, holds every acknowledged order. */
async function checkReplicas(lab: Lab, primary: string, nodes: readonly string[], ops: readonly WriteOp[]): Promise<string[]> {
  const notes: string[] = [];
  const lsn = (await sql(lab.pgTarget(primary), "SELECT pg_current_wal_lsn()"))[0];
  for (const n of nodes.filter((x) => x !== primary)) {
    try {
      await waitFor(`${n} to replay up to ${lsn}`, 30_000, async () => (await sql(lab.pgTarget(n), `SELECT pg_last_wal_replay_lsn() >= '${lsn}'`))[0] === "t", 200);
      const missing = summarizeWrites(ops, new Set((await readOrders(lab.pgTarget(n))).keys())).lost.length;
      if (missing > 0) notes.push(`${VIOLATION}${missing} acknowledged orders missing on replica ${n}`);
    } catch (e) {
      notes.push(`${VIOLATION}replica ${n} could not be checked: ${(e as Error).message}`);
    }
  }
  return notes;
}

/** Splits the outage: failure detection + promotion (Patroni/etcd, bounded by ttl) and routing (HAProxy checks). */
function layerReport(lab: Lab, gap: { firstFailAt: number | null; backAt: number | null }, faultAt: number, promoted: number | null, notes: readonly string[]): string {
  const { patroni, haproxy } = presetOf(lab.t);
  if (gap.firstFailAt === null) return "no write failed";
  const parts: string[] = [];
  if (promoted !== null) {
    parts.push(`writes failing until the direct probe saw the new primary ${(faultAt + promoted - gap.firstFailAt).toFixed(1)} s (Patroni/etcd: ttl ${patroni.ttl}, loop_wait ${patroni.loopWait}${/region-failover|failover hook/.test(notes.join()) ? ", plus the failover hook" : ""})`);
    // The probe samples every 100 ms, so a write can be acknowledged just before the probe sees the promotion.
    if (gap.backAt !== null) parts.push(`routing ${Math.max(0, gap.backAt - faultAt - promoted).toFixed(1)} s (Patroni's /primary turning 200, then HAProxy's check: inter ${haproxy.interMs} ms, downinter ${haproxy.downinterMs} ms, rise ${haproxy.rise})`);
  } else if (gap.backAt !== null) {
    parts.push(`same primary back after ${(gap.backAt - gap.firstFailAt).toFixed(1)} s`);
  }
  return parts.join("; ");
}
