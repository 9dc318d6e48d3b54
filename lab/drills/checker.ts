// The checker: pure functions over what the writer saw, what the nodes hold afterwards and what the
// prober sampled. Shared by every drill; unit-tested against real PostgreSQL in __tests__/lab.
import type { ProbeSample, WriteOp } from "../backends/types";

export interface WriteSummary {
  readonly acked: number;
  readonly failed: number;
  readonly unknown: number;
  /** Acknowledged ids missing from the node that should hold them. */
  readonly lost: readonly number[];
  /** Unknown (timed-out) ids that did commit: not a loss, reported for completeness. */
  readonly unknownCommitted: number;
}

export function summarizeWrites(ops: readonly WriteOp[], present: ReadonlySet<number>): WriteSummary {
  const acked = ops.filter((o) => o.r === "ok");
  const unknown = ops.filter((o) => o.r === "info");
  return {
    acked: acked.length,
    failed: ops.filter((o) => o.r === "fail").length,
    unknown: unknown.length,
    lost: acked.filter((o) => !present.has(o.id)).map((o) => o.id),
    unknownCommitted: unknown.filter((o) => present.has(o.id)).length,
  };
}

/**
 * Write unavailability: from the first write after the fault that did not succeed to the
 * acknowledgement of the first write after it that succeeded on a node other than `notOn` (the old
 * primary, when the drill expects a new one). 0 when no write failed; null when writes never came back.
 */
export function writeGap(ops: readonly WriteOp[], faultAt: number, notOn?: string): { seconds: number | null; firstFailAt: number | null; backAt: number | null; node?: string } {
  const after = ops.filter((o) => o.t1 >= faultAt).sort((a, b) => a.id - b.id);
  const firstFail = after.find((o) => o.r !== "ok");
  if (!firstFail) return { seconds: 0, firstFailAt: null, backAt: null };
  const back = after.find((o) => o.id > firstFail.id && o.r === "ok" && o.node !== notOn);
  if (!back) return { seconds: null, firstFailAt: firstFail.t0, backAt: null };
  return { seconds: back.t1 - firstFail.t0, firstFailAt: firstFail.t0, backAt: back.t1, node: back.node };
}

/**
 * Seconds from the fault until the direct probe saw a primary again: a node other than `oldPrimary`
 * when the drill expects a new one, otherwise any node after the old primary was seen not to be one
 * (0 when it never stopped being primary).
 */
export function promotedAfter(samples: readonly ProbeSample[], faultAt: number, oldPrimary: string, expectNew: boolean): number | null {
  const after = samples.filter((x) => x.t >= faultAt);
  if (expectNew) {
    const s = after.find((x) => x.p === 1 && x.n !== oldPrimary);
    return s ? s.t - faultAt : null;
  }
  const lost = after.find((x) => x.n === oldPrimary && x.p !== 1);
  if (!lost) return 0;
  const back = after.find((x) => x.t > lost.t && x.p === 1);
  return back ? back.t - faultAt : null;
}

/** A time span during which a node acted as a read-write primary. */
export interface Span {
  readonly node: string;
  readonly from: number;
  readonly to: number;
}

/**
 * Primary spans per node: runs of consecutive "primary" probe samples, widened by every write the
 * node acknowledged or holds (a write proves the node was read-write at that instant).
 */
export function primarySpans(samples: readonly ProbeSample[], writes: ReadonlyArray<{ node: string; at: number }>): Span[] {
  const spans: Span[] = [];
  const byNode = new Map<string, ProbeSample[]>();
  for (const s of samples) byNode.set(s.n, [...(byNode.get(s.n) ?? []), s]);
  for (const [node, list] of byNode) {
    let open: { from: number; to: number } | null = null;
    for (const s of [...list].sort((a, b) => a.t - b.t)) {
      if (s.p === 1) open = open ? { from: open.from, to: s.t } : { from: s.t, to: s.t };
      else if (open) {
        spans.push({ node, ...open });
        open = null;
      }
    }
    if (open) spans.push({ node, ...open });
  }
  for (const w of writes) {
    const i = spans.findIndex((s) => s.node === w.node && s.from - 1 <= w.at && w.at <= s.to + 1);
    if (i < 0) spans.push({ node: w.node, from: w.at, to: w.at });
    else spans[i] = { node: w.node, from: Math.min(spans[i].from, w.at), to: Math.max(spans[i].to, w.at) };
  }
  return spans;
}

/** Largest number of distinct nodes whose primary spans overlap at one instant. */
export function maxConcurrentPrimaries(spans: readonly Span[]): { max: number; at: number | null; nodes: string[] } {
  const events = spans.flatMap((s) => [{ t: s.from, d: 1, s }, { t: s.to, d: -1, s }])
    // Starts before ends at the same instant: touching spans of two nodes count as overlapping.
    .sort((a, b) => a.t - b.t || b.d - a.d);
  const open = new Map<string, number>();
  let best = { max: 0, at: null as number | null, nodes: [] as string[] };
  for (const e of events) {
    open.set(e.s.node, (open.get(e.s.node) ?? 0) + e.d);
    if (open.get(e.s.node) === 0) open.delete(e.s.node);
    if (open.size > best.max) best = { max: open.size, at: e.t, nodes: [...open.keys()].sort() };
  }
  return best;
}

/** Orders a writer may have had acknowledged by a cut-off primary before it demoted: its acknowledged
 * orders per second before the fault (from its first write) × `windowSeconds`, rounded up. */
export function cutOffOrders(ops: readonly WriteOp[], faultAt: number, windowSeconds: number): { rate: number; orders: number } {
  const acked = ops.filter((o) => o.r === "ok" && o.t1 < faultAt).length;
  const span = ops.length ? faultAt - Math.min(...ops.map((o) => o.t0)) : 0;
  const rate = span > 0 ? acked / span : 0;
  return { rate, orders: Math.ceil(rate * windowSeconds) };
}
