// The shared harness of the database drills: healthy cluster → prober + order writer through an app
// host → random delay 0…loop_wait → fault → wait for writes to come back → heal → checker.
import { failoverBudget, partitionAckWindowSeconds, presetOf, rtoBudget, type Host } from "../../lib/model";
import { drillBudgetOptions } from "../../lib/report/budget-table";
import type { DrillBackend, StoredOrder, WriteOp } from "../backends/types";
import { sql, startProbe } from "../clients/pg";
import { sleep, waitFor } from "../proc";
import { cutOffOrders, maxConcurrentPrimaries, primarySpans, promotedAfter, summarizeWrites, writeGap } from "./checker";
import { redisReadBack, redisWriter, sentinelAsk } from "./redis-drill";
import { Findings, HEALTHY_WAIT_MS, round2, type CustomerOutcome, type DrillContext, type DrillResult, type RedisOutcome } from "./types";

export interface PgDrillSpec {
  readonly name: string;
  /** Write through an app host outside this region (the region is about to be lost). */
  readonly avoidRegion?: (leader: Host) => string;
  readonly expectNewPrimary: boolean;
  /** Injects the fault. `writesBack` says whether writes are back (and measures on the way). */
  readonly fault: (ctx: DrillContext, f: Findings, leader: Host, writesBack: () => boolean) => Promise<void>;
  /** Puts the backend back to full health for the next drill. */
  readonly heal: (ctx: DrillContext, f: Findings, oldLeader: Host) => Promise<void>;
  /** Start from a degraded backend (a region still down) instead of waiting for full health. */
  readonly degraded?: boolean;
  /** The old primary's region fails over to another region over asynchronous replication: acknowledged
   * writes may be lost, within maximum_lag_on_failover. */
  readonly crossRegion?: boolean;
  /** The old primary's region stays gone (fenced): its nodes are not read back, and the backend is
   * rebuilt before the next drill instead of healed. */
  readonly regionGone?: boolean;
  /** Also write to Redis through Sentinel during the drill (region faults take Redis's primary and a
   * Sentinel with them): its writes must come back within the model's Redis budget. */
  readonly withRedis?: boolean;
  /** The old primary's region is cut off, not gone: its primary keeps acknowledging writes no other
   * region receives until it demotes, so the loss bound adds each writer's rate × the model's window
   * (partitionAckWindowSeconds). */
  readonly cutOff?: boolean;
}

export async function runPgDrill(ctx: DrillContext, spec: PgDrillSpec, target: number | null): Promise<DrillResult> {
  const { backend, log } = ctx;
  const preset = presetOf(backend.t);
  const f = new Findings();
  if (!spec.degraded) await backend.waitHealthy(HEALTHY_WAIT_MS);
  const leaderName = await waitFor("a Patroni leader", 30_000, () => backend.leader());
  const leader = backend.host(leaderName);
  const avoid = spec.avoidRegion?.(leader);
  const apps = backend.hostsRunning("app");
  const app = apps.find((h) => h.region !== avoid && h.region === leader.region) ?? apps.find((h) => h.region !== avoid);
  if (!app) throw new Error(`${spec.name}: no app host outside region ${avoid}`);
  const pgNodes = backend.hostsRunning("patroni").map((h) => h.name);
  const firstId = await backend.nextOrderId(leaderName);
  const [startLsn] = await sql(backend.pgTarget(leaderName), "SELECT pg_current_wal_lsn()");

  const probe = startProbe(Object.fromEntries(pgNodes.map((n) => [n, backend.pgTarget(n)])));
  const writer = backend.orderWriter(app.name, firstId);
  const customers = backend.customers ? backend.customers.writer(await backend.customers.nextOrderId(leaderName)) : null;
  // The Redis client sits with the writer's app host: a region cut off from it is out of its reach.
  const reach = (host: string) => backend.reachable(app.region, host);
  const redis = spec.withRedis ? redisWriter(sentinelAsk(backend, reach), (h) => backend.redisTarget(h), Date.now(), reach) : null;
  f.note(`writer via ${writer.via}`);
  let faultAt = Infinity;
  const ticker = setInterval(() => {
    if (faultAt === Infinity) return;
    const ops = writer.records;
    const count = (r: WriteOp["r"]) => ops.filter((o) => o.r === r).length;
    log(`    t+${(Date.now() / 1000 - faultAt).toFixed(1).padStart(5)} s  acked ${count("ok")}  failed ${count("fail")}  unknown ${count("info")}  last write on ${ops.filter((o) => o.r === "ok").at(-1)?.node ?? "-"}`);
  }, 2000);
  // Updated on every poll; the last poll before recovery (or the timeout) holds the measurement.
  const m = { gap: writeGap([], 0), promoted: null as number | null };
  const measure = () => {
    m.gap = writeGap(writer.records, faultAt, spec.expectNewPrimary ? leaderName : undefined);
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
    await spec.fault(ctx, f, leader, writesBack);
    const budget = (2 * preset.patroni.ttl + preset.patroni.primaryStartTimeout + 30) * 1000;
    await waitFor(`writes to come back through ${writer.via}`, budget, writesBack, 200).catch((e: Error) => f.note(e.message));
    if (customers) {
      // The edge follows the database: its checks run at their own pace (load balancer, then Cloudflare).
      const webBudget = edgeBudget(ctx, spec.name) ?? rtoBudget(backend.t).regionLossEdge ?? 300;
      const customersBack = () => { const g = writeGap(customers.records, faultAt); return g.firstFailAt === null ? Date.now() / 1000 - faultAt > 3 : g.backAt !== null; };
      await waitFor(`orders to come back through ${customers.via}`, (webBudget + 30) * 1000, customersBack, 200).catch((e: Error) => f.note(e.message));
    }
    try {
      // A database host that still has power but lost Patroni (killed, or reset by its watchdog) boots again.
      f.note(...await backend.recoverDatabaseHosts(faultAt));
      await spec.heal(ctx, f, leader);
      if (spec.regionGone) {
        await sleep(1000);
        f.note(`${leader.region} stays fenced: the backend is rebuilt before another drill`);
      } else {
        await backend.waitHealthy(HEALTHY_WAIT_MS);
        healed = true;
        await sleep(1000); // a few acknowledged writes on the healed cluster, read back below as well
      }
    } catch (e) {
      f.violation(`the cluster did not return to full health: ${(e as Error).message}`);
    }
  } finally {
    clearInterval(ticker);
    await writer.stop().catch((e: Error) => f.note(e.message));
    await customers?.stop().catch((e: Error) => f.note(e.message));
    await redis?.stop();
    await probe.stop().catch((e: Error) => f.note(e.message));
    f.note(...backend.endDrill());
  }
  const redisOutcome = redis ? await judgeRedis(backend, redis.ops, faultAt, f) : undefined;

  // Checker: every acknowledged order must be on the primary and, once caught up, on every replica.
  const newPrimary = await waitFor("a Patroni leader", 30_000, () => backend.leader()).catch(() => null)
    ?? (await primariesNow(backend, pgNodes))[0] ?? null;
  if (newPrimary === null) f.violation("no primary to read the orders back from");
  const onPrimary = newPrimary === null ? new Map<number, StoredOrder>() : await backend.readOrders(newPrimary);
  const ops = writer.records;
  const summary = summarizeWrites(ops, new Set(onPrimary.keys()));
  const gone = spec.regionGone ? backend.hostsRunning("patroni").filter((h) => h.region === leader.region).map((h) => h.name) : [];
  if (gone.length) f.note(`not read back: ${gone.join(", ")} (fenced with ${leader.region})`);
  if (newPrimary !== null) await checkReplicas(backend, f, newPrimary, pgNodes.filter((n) => !gone.includes(n)), ops);
  const lagBound = spec.crossRegion && newPrimary !== null ? await lossBound(backend, f, newPrimary, startLsn, firstId, onPrimary) : 0;
  const bound = lagBound + (spec.cutOff ? cutOffBound(backend, f, "the writer", ops, faultAt) : 0);
  const writes = [
    ...ops.filter((o) => o.r === "ok" && o.node).map((o) => ({ node: o.node!, at: o.t1 })),
    ...[...onPrimary.values()].map((w) => ({ node: w.node, at: w.at })),
  ];
  const concurrent = maxConcurrentPrimaries(primarySpans(probe.records, writes));
  if (concurrent.max > 1) f.violation(`${concurrent.nodes.join(" and ")} were both read-write primaries at ${new Date(concurrent.at! * 1000).toISOString()}`);
  if (summary.unknownCommitted) f.note(`${summary.unknownCommitted} of the unknown writes did commit (not a loss)`);

  const promotedAt = m.promoted;
  if (spec.expectNewPrimary && promotedAt !== null) {
    // How long the old primary kept answering as one after the fault (a cut-off primary demotes itself).
    const last = probe.records.filter((r) => r.n === leaderName && r.p === 1 && r.t >= faultAt && r.t < faultAt + promotedAt).at(-1);
    f.note(last ? `${leaderName} answered as primary until ${(last.t - faultAt).toFixed(1)} s after the fault (new primary seen at ${promotedAt.toFixed(1)} s)` : `${leaderName} never answered as primary after the fault`);
  }
  const customerBound = customers ? lagBound + (spec.cutOff ? cutOffBound(backend, f, "customers", customers.records, faultAt) : 0) : 0;
  const customerOutcome = customers && newPrimary !== null
    ? await judgeCustomers(backend, customers.records, customers.via, faultAt, newPrimary, spec.crossRegion ? edgeBudget(ctx, spec.name) : null, customerBound, f) : undefined;
  const rto = m.gap.seconds;
  const p = m.promoted;
  const layers = layerReport(backend, m.gap, faultAt, p, f.notes);
  if (summary.lost.length > 0) {
    const line = `${summary.lost.length} acknowledged orders lost (ids ${summary.lost.slice(0, 10).join(", ")}${summary.lost.length > 10 ? ", …" : ""}), tolerated: ${bound}`;
    if (summary.lost.length > bound) f.violation(line);
    else f.note(line);
  }
  const passed = rto !== null && summary.lost.length <= bound && concurrent.max <= 1 && (target === null || rto <= target) && f.violations.length === 0;
  if (target !== null && rto !== null && rto > target) f.note(`missed the ${target} s target: ${layers}`);
  return {
    name: spec.name, preset: backend.preset, backend: backend.kind, rtoSeconds: round2(rto), promotedAfterSeconds: round2(p), ackedWrites: summary.acked,
    lostAckedWrites: summary.lost.length, lostAckedWritesBound: bound, unknownWrites: summary.unknown, failedWrites: summary.failed,
    maxConcurrentPrimaries: concurrent.max, targetSeconds: target, passed, faultDelaySeconds: round2(delay)!, oldPrimary: leaderName,
    newPrimary, layers, healed, ...(redisOutcome ? { redis: redisOutcome } : {}), ...(customerOutcome ? { customers: customerOutcome } : {}), violations: f.violations, notes: f.notes,
  };
}

/** The model's bound for customers through the edge in this drill run (the same options as the review
 * page's comparison); null when an operator promotes. */
function edgeBudget(ctx: DrillContext, drill: string): number | null {
  return failoverBudget(ctx.backend.t, drillBudgetOptions(ctx.backend.kind, drill)).regionLossEdge.totalSeconds;
}

/** Orders a cut-off primary may acknowledge before it demotes: the writer's acknowledged orders per
 * second before the fault × the model's window (loop_wait + 2 × retry_timeout), rounded up. */
function cutOffBound(backend: DrillBackend, f: Findings, who: string, ops: readonly WriteOp[], faultAt: number): number {
  const window = partitionAckWindowSeconds(backend.t);
  const { rate, orders } = cutOffOrders(ops, faultAt, window);
  f.note(`loss bound (${who}, cut off): ${rate.toFixed(1)} acknowledged orders/s before the fault × ${window} s the cut-off primary may still acknowledge = ${orders} orders`);
  return orders;
}

/** Customers through the edge: every order the edge acknowledged is on the new primary (within the
 * same loss bound as the database's own writer across regions, at the customers' own rate when cut
 * off), and their gap beside the model's edge budget (`budget`: across regions only). */
async function judgeCustomers(backend: DrillBackend, ops: readonly WriteOp[], via: string, faultAt: number, primary: string, budget: number | null, bound: number, f: Findings): Promise<CustomerOutcome> {
  const gap = writeGap(ops, faultAt);
  const stored = await backend.customers!.readOrders(primary);
  const summary = summarizeWrites(ops, new Set(stored.keys()));
  const after = ops.filter((o) => o.t0 >= faultAt && o.r !== "ok");
  const errors = [...new Set(after.map((o) => o.err ?? o.r))].slice(0, 4).join(", ");
  if (gap.firstFailAt === null) f.note(`customers (${via}): no order failed`);
  else if (gap.seconds === null) f.note(`customers (${via}): orders failing since ${(gap.firstFailAt - faultAt).toFixed(1)} s after the fault, not back before the drill ended (${errors})`);
  else f.note(`customers (${via}): orders back ${gap.seconds.toFixed(1)} s after the first failure (${after.length} failed or unknown: ${errors})${budget === null ? "" : `; the model's edge budget ${budget} s`}`);
  if (summary.lost.length > bound) f.violation(`${summary.lost.length} orders acknowledged through the edge lost (ids ${summary.lost.slice(0, 10).join(", ")}), tolerated: ${bound}`);
  else if (summary.lost.length) f.note(`${summary.lost.length} orders acknowledged through the edge lost, within the tolerated ${bound}`);
  return {
    via, rtoSeconds: gap.firstFailAt === null ? 0 : round2(gap.seconds), budgetSeconds: budget, ackedWrites: summary.acked,
    lostAckedWrites: summary.lost.length, lostAckedWritesBound: bound, failedWrites: summary.failed, unknownWrites: summary.unknown,
  };
}

/** The Redis side of a region drill: its write gap must end within the model's Redis budget. */
async function judgeRedis(backend: DrillBackend, ops: readonly WriteOp[], faultAt: number, f: Findings): Promise<RedisOutcome> {
  const budget = rtoBudget(backend.t).redisPrimaryLoss;
  const gap = writeGap(ops, faultAt);
  const present = await redisReadBack(backend, ops.map((o) => o.id)).catch((e: Error) => {
    f.note(`Redis orders not read back: ${e.message}`);
    return null;
  });
  const summary = summarizeWrites(ops, present ?? new Set(ops.map((o) => o.id)));
  const failed = ops.filter((o) => o.t0 >= faultAt && o.r !== "ok").length;
  if (gap.firstFailAt === null) f.note("Redis (through Sentinel): no write failed");
  else if (gap.seconds === null) f.violation(`Redis (through Sentinel): writes failing since ${(gap.firstFailAt - faultAt).toFixed(1)} s after the fault, not back before the drill ended`);
  else {
    f.note(`Redis (through Sentinel): writes back ${gap.seconds.toFixed(1)} s after the first failure (${failed} failed or unknown; budget ${budget} s)`);
    if (gap.seconds > budget) f.violation(`Redis took longer than the model's budget of ${budget} s`);
  }
  if (present && summary.lost.length) {
    const lost = new Set(summary.lost);
    const at = ops.filter((o) => lost.has(o.id)).map((o) => o.t1 - faultAt);
    const nodes = [...new Set(ops.filter((o) => lost.has(o.id)).map((o) => o.node))].join(", ");
    f.note(`Redis: ${summary.lost.length} acknowledged writes not on the final primary, acknowledged by ${nodes} ${Math.min(...at).toFixed(1)}…${Math.max(...at).toFixed(1)} s after the fault (asynchronous replication; reported, not judged)`);
  }
  return {
    rtoSeconds: gap.firstFailAt === null ? 0 : round2(gap.seconds), budgetSeconds: budget, ackedWrites: summary.acked,
    lostAckedWrites: present ? summary.lost.length : 0, failedWrites: summary.failed, unknownWrites: summary.unknown,
  };
}

/** Acknowledged orders a cross-region failover may lose: maximum_lag_on_failover divided by the WAL one
 * order took in this run (all WAL since the writer started, checkpoints included, over the orders
 * written: an overestimate per order, so the bound errs low). */
async function lossBound(backend: DrillBackend, f: Findings, primary: string, startLsn: string, firstId: number, onPrimary: ReadonlyMap<number, StoredOrder>): Promise<number> {
  const [bytes] = await sql(backend.pgTarget(primary), `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '${startLsn}')`);
  const orders = [...onPrimary.keys()].filter((id) => id >= firstId).length;
  const perOrder = Number(bytes) / Math.max(1, orders);
  const maxLag = backend.t.database.maximumLagOnFailoverBytes;
  const bound = Math.floor(maxLag / perOrder);
  f.note(`loss bound: maximum_lag_on_failover ${maxLag} bytes ÷ ${Math.round(perOrder)} bytes of WAL per order = ${bound} orders`);
  return bound;
}

/** Nodes answering as read-write primaries right now (direct probe). */
export async function primariesNow(backend: DrillBackend, nodes: readonly string[]): Promise<string[]> {
  const states = await Promise.all(nodes.map((n) => sql(backend.pgTarget(n), "SELECT NOT pg_is_in_recovery()", 3000).then((r) => r[0] === "t", () => false)));
  return nodes.filter((_, i) => states[i]);
}

/** Every replica, once it has replayed the primary's current WAL position, holds every acknowledged order. */
async function checkReplicas(backend: DrillBackend, f: Findings, primary: string, nodes: readonly string[], ops: readonly WriteOp[]): Promise<void> {
  const [lsn] = await sql(backend.pgTarget(primary), "SELECT pg_current_wal_lsn()");
  for (const n of nodes.filter((x) => x !== primary)) {
    try {
      await waitFor(`${n} to replay up to ${lsn}`, 30_000, async () => (await sql(backend.pgTarget(n), `SELECT pg_last_wal_replay_lsn() >= '${lsn}'`))[0] === "t", 200);
      const missing = summarizeWrites(ops, new Set((await backend.readOrders(n)).keys())).lost.length;
      if (missing > 0) f.violation(`${missing} acknowledged orders missing on replica ${n}`);
    } catch (e) {
      f.violation(`replica ${n} could not be checked: ${(e as Error).message}`);
    }
  }
}

/** Splits the outage: failure detection + promotion (Patroni/etcd, bounded by ttl) and routing (HAProxy checks). */
function layerReport(backend: DrillBackend, gap: { firstFailAt: number | null; backAt: number | null }, faultAt: number, promoted: number | null, notes: readonly string[]): string {
  const { patroni, haproxy } = presetOf(backend.t);
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
