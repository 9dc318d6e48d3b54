// redis-primary-loss: a writer that finds the primary through Sentinel (as Sentinel-aware clients do)
// SETs numbered orders; the primary's redis-server is SIGKILLed; Sentinel must promote a replica.
// The same writer runs beside the database drills that take Redis's primary region with them.
import { presetOf } from "../../lib/model";
import { SENTINEL_DOWN_AFTER_STAGGER_MS } from "../../lib/model/timing";
import type { DrillBackend, ProbeSample, RedisTarget, WriteOp } from "../backends/types";
import { Redis, redisOnce } from "../clients/resp";
import { sleep, waitFor } from "../proc";
import { maxConcurrentPrimaries, primarySpans, summarizeWrites, writeGap } from "./checker";
import { Findings, HEALTHY_WAIT_MS, round2, type DrillContext, type DrillResult } from "./types";

const OP_TIMEOUT_MS = 1000;

/** Writes until `stop()`; each op is recorded like the order writer's (ok / fail / info = unknown), with
 * the host name of the primary that took it. `ask` names the primary, `target` says how to reach a host. */
export function redisWriter(ask: () => Promise<string | null>, target: (host: string) => RedisTarget, firstId: number, reachable: (host: string) => boolean = () => true) {
  const ops: WriteOp[] = [];
  let running = true;
  const done = (async () => {
    let conn: Redis | null = null;
    let node = "";
    for (let id = firstId; running; id++) {
      const t0 = Date.now() / 1000;
      let r: WriteOp["r"];
      let err: string | undefined;
      try {
        if (!conn) {
          const primary = await ask();
          if (!primary) throw Object.assign(new Error("Sentinels name no primary"), { certain: true });
          const to = target(primary);
          if (!reachable(primary)) {
            // Where the client sits, a partition hides this node: its connect times out.
            await sleep(OP_TIMEOUT_MS);
            throw Object.assign(new Error(`connect to ${primary}:${to.port} timed out (cut off from the client)`), { certain: true });
          }
          conn = await Redis.connect(to.host, to.port, OP_TIMEOUT_MS, to.tls).catch((e: Error) => { throw Object.assign(e, { certain: true }); });
          await conn.command(["AUTH", to.user, to.password], OP_TIMEOUT_MS);
          node = primary;
        }
        if (!reachable(node)) {
          // The node went behind a partition under an open connection: the command times out, unanswered.
          await sleep(OP_TIMEOUT_MS);
          throw new Error(`SET on ${node} timed out (cut off from the client)`);
        }
        await conn.command(["SET", `order:${id}`, String(id)], OP_TIMEOUT_MS);
        r = "ok";
      } catch (e) {
        // An error reply (READONLY, NOREPLICAS) means not written; a lost connection or timeout may hide a write.
        const certain = (e as { certain?: boolean }).certain || /^(READONLY|NOREPLICAS|NOAUTH|WRONGPASS)/.test((e as Error).message);
        r = certain ? "fail" : "info";
        err = (e as Error).message;
        conn?.close();
        conn = null;
      }
      ops.push({ id, t0, t1: Date.now() / 1000, r, node: r === "ok" ? node : undefined, err });
      await sleep(Math.max(0, 20 - (Date.now() / 1000 - t0) * 1000));
    }
    conn?.close();
  })();
  return { ops, stop: async () => { running = false; await done; } };
}

/** Runs one command on a Redis server or Sentinel. */
export function redisCommand(to: RedisTarget, args: readonly (string | number)[]) {
  return redisOnce(to.host, to.port, to, args);
}

/** Which of these order ids the current Redis primary (as the Sentinels name it) holds. */
export async function redisReadBack(backend: DrillBackend, ids: readonly number[]): Promise<Set<number>> {
  const primary = await waitFor("Sentinels to agree on a primary", 30_000, () => backend.redisPrimary());
  const values = ids.length ? await redisCommand(backend.redisTarget(primary), ["MGET", ...ids.map((id) => `order:${id}`)]) : [];
  return new Set(ids.filter((_, i) => Array.isArray(values) && values[i] !== null));
}

/** The most frequent error messages (first words) among failed writes, for the report. */
function commonErrors(ops: readonly WriteOp[]): string {
  const counts = new Map<string, number>();
  for (const o of ops) if (o.err) counts.set(o.err.slice(0, 60), (counts.get(o.err.slice(0, 60)) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([e, n]) => `${n}× "${e}"`).join(", ");
}

/** What a Sentinel-aware client does: ask the Sentinels it reaches, first that answers, for the primary. */
export function sentinelAsk(backend: DrillBackend, reachable: (host: string) => boolean = () => true): () => Promise<string | null> {
  const sentinels = backend.hostsRunning("sentinel").map((h) => h.name);
  return async () => {
    for (const s of sentinels.filter(reachable)) {
      const primary = await backend.sentinelMaster(s).catch(() => null);
      if (primary) return primary;
    }
    return null;
  };
}

export async function runRedisDrill(ctx: DrillContext, target: number | null): Promise<DrillResult> {
  const { backend, log } = ctx;
  const f = new Findings();
  await backend.waitHealthy(HEALTHY_WAIT_MS);
  const old = await waitFor("Sentinels to agree on a primary", 30_000, () => backend.redisPrimary());
  const ask = sentinelAsk(backend);
  // Role of every Redis node, sampled like the PostgreSQL prober. p = 1 only for a master that can take
  // writes: with min-replicas-to-write 1, a restarted old master without replicas refuses them.
  const samples: ProbeSample[] = [];
  // When Sentinel names a new primary: its promotion time, whether or not the node takes writes yet.
  const named: Array<{ t: number; primary: string | null }> = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      named.push({ t: Date.now() / 1000, primary: await ask() });
      for (const h of backend.hostsRunning("redis")) {
        const r = await backend.redisReplication(h.name).catch(() => null);
        samples.push({ n: h.name, t: Date.now() / 1000, p: r === null ? null : r.role === "master" && r.connectedReplicas > 0 ? 1 : 0 });
      }
      await sleep(100);
    }
  })();
  const writer = redisWriter(ask, (h) => backend.redisTarget(h), Date.now());
  const { downAfterMs, failoverTimeoutMs } = presetOf(backend.t).sentinel;
  // Sentinel pings every second: a random point in that cycle.
  const delay = ctx.random();
  let faultAt = Infinity;
  const m = { gap: writeGap([], 0), promoted: null as number | null };
  let healed = false;
  try {
    await waitFor("first acknowledged Redis writes", 30_000, () => writer.ops.filter((o) => o.r === "ok").length >= 25);
    await sleep(delay * 1000);
    faultAt = Date.now() / 1000;
    // The host goes, as a droplet power-off takes it (with the Sentinel it may run). A crashed
    // redis-server alone is restarted by systemd within seconds, before Sentinel calls it down.
    log(`  redis-primary-loss: power off ${old} after a random ${delay.toFixed(2)} s`);
    await backend.powerOff(old);
    // Sentinel promotes within a second or two of agreeing the primary is down (failover-timeout only
    // bounds a failover that stalls); 20 s beyond down-after is a generous bound.
    // Long enough for a split Sentinel election and its retry (2 × failover-timeout), then some.
    const budget = downAfterMs + 2 * failoverTimeoutMs + 20_000;
    await waitFor("Redis writes to come back", budget, () => {
      m.gap = writeGap(writer.ops, faultAt, old);
      const switched = named.find((x) => x.t >= faultAt && x.primary !== null && x.primary !== old);
      m.promoted = switched ? switched.t - faultAt : null;
      return m.gap.backAt !== null && m.promoted !== null && Date.now() / 1000 - m.gap.backAt > 1;
    }, 200).catch((e: Error) => f.note(`${e.message}; writes failed with: ${commonErrors(writer.ops.filter((o) => o.t0 >= faultAt))}`));
    await backend.powerOn(old);
    try {
      await backend.waitHealthy(HEALTHY_WAIT_MS);
      healed = true;
    } catch (e) {
      f.violation(`the backend did not return to full health: ${(e as Error).message}`);
    }
  } finally {
    await writer.stop();
    sampling = false;
    await sampler;
  }
  const primary = await waitFor("Sentinels to agree on a primary", 30_000, () => backend.redisPrimary());
  const present = await redisReadBack(backend, writer.ops.map((o) => o.id));
  const summary = summarizeWrites(writer.ops, present);
  const concurrent = maxConcurrentPrimaries(primarySpans(samples, writer.ops.filter((o) => o.r === "ok").map((o) => ({ node: o.node!, at: o.t1 }))));
  if (concurrent.max > 1) f.violation(`${concurrent.nodes.join(" and ")} both answered as master at once`);
  const { gap } = m;
  const rto = gap.seconds;
  const p = m.promoted;
  // After the switch, the new primary refuses writes (NOREPLICAS) until a replica has resynced with it.
  const refused = p === null ? [] : writer.ops.filter((o) => o.t0 >= faultAt + p && o.err?.startsWith("NOREPLICAS"));
  const layers = p === null || gap.backAt === null ? "" : `sentinel ${p.toFixed(1)} s to promote (down-after ${downAfterMs}–${downAfterMs + (backend.hostsRunning("sentinel").length - 1) * SENTINEL_DOWN_AFTER_STAGGER_MS} ms, staggered); `
    + (refused.length ? `then the new primary refused writes with NOREPLICAS for ${(refused.at(-1)!.t1 - faultAt - p).toFixed(1)} s (min-replicas-to-write until a replica resynced)` : `client ${(gap.backAt - faultAt - p).toFixed(1)} s to follow`);
  if (target !== null && rto !== null && rto > target) f.note(`missed the ${target} s target: ${layers}`);
  if (summary.lost.length) f.violation(`${summary.lost.length} acknowledged Redis writes lost`);
  return {
    name: "redis-primary-loss", preset: backend.preset, backend: backend.kind, rtoSeconds: round2(rto), promotedAfterSeconds: round2(p),
    ackedWrites: summary.acked, lostAckedWrites: summary.lost.length, lostAckedWritesBound: 0, unknownWrites: summary.unknown, failedWrites: summary.failed,
    maxConcurrentPrimaries: concurrent.max, targetSeconds: target,
    passed: healed && rto !== null && summary.lost.length === 0 && concurrent.max <= 1 && (target === null || rto <= target) && f.violations.length === 0,
    faultDelaySeconds: round2(delay)!, oldPrimary: old, newPrimary: primary, layers, healed, violations: f.violations, notes: f.notes,
  };
}
