// The writer and checker shared by every drill: pure checks on crafted histories, then the real
// writer against a real PostgreSQL that is SIGKILLed and restarted under it.
import { requireDebianPackages } from "../support/debian";
import { maxConcurrentPrimaries, primarySpans, promotedAfter, summarizeWrites, writeGap } from "../../lab/drills/checker";
import type { ProbeSample, WriteOp } from "../../lab/backends/types";
import { readOrders, startProbe, startWriter } from "../../lab/clients/pg";
import { sleep, waitFor } from "../../lab/proc";
import { PgServer } from "./pg-server";

const op = (id: number, t0: number, r: WriteOp["r"], node?: string): WriteOp => ({ id, t0, t1: t0 + 0.01, r, node });

describe("checker", () => {
  it("counts an acknowledged order missing afterwards as lost, and unknown ones that committed apart", () => {
    const ops = [op(1, 0, "ok"), op(2, 1, "ok"), op(3, 2, "info"), op(4, 3, "fail"), op(5, 4, "info")];
    const s = summarizeWrites(ops, new Set([1, 3]));
    expect(s).toEqual({ acked: 2, failed: 1, unknown: 2, lost: [2], unknownCommitted: 1 });
  });

  it("measures the write gap from the first failed write to the next acknowledged one", () => {
    const ops = [op(1, 9, "ok", "a"), op(2, 10.5, "fail"), op(3, 11, "info"), op(4, 14, "ok", "b"), op(5, 15, "ok", "b")];
    const g = writeGap(ops, 10);
    expect(g.seconds).toBeCloseTo(3.51, 2);
    expect(g.node).toBe("b");
    expect(writeGap(ops.slice(0, 3), 10).seconds).toBeNull();
    expect(writeGap([op(1, 11, "ok")], 10).seconds).toBe(0);
    // A drill expecting a new primary counts only writes acknowledged elsewhere.
    expect(writeGap([...ops.slice(0, 3), op(4, 12, "ok", "a"), op(5, 16, "ok", "b")], 10, "a").seconds).toBeCloseTo(5.51, 2);
  });

  it("sees a primary in the probe as promotion, and two overlapping primaries as two", () => {
    const samples: ProbeSample[] = [
      { n: "a", t: 1, p: 1 }, { n: "b", t: 1, p: 0 }, { n: "a", t: 2, p: null }, { n: "b", t: 5, p: 0 }, { n: "b", t: 6, p: 1 }, { n: "b", t: 7, p: 1 },
    ];
    expect(promotedAfter(samples, 1.5, "a", true)).toBeCloseTo(4.5);
    // Without a new primary expected: back when any node is primary again after "a" stopped being one.
    expect(promotedAfter(samples, 1.5, "a", false)).toBeCloseTo(4.5);
    expect(promotedAfter([{ n: "a", t: 1, p: 1 }, { n: "a", t: 2, p: 1 }], 0.5, "a", false)).toBe(0);
    expect(maxConcurrentPrimaries(primarySpans(samples, [])).max).toBe(1);
    // Node a still acknowledged a write at 6.5, while b was primary: split brain.
    const split = maxConcurrentPrimaries(primarySpans(samples, [{ node: "a", at: 6.5 }]));
    expect(split.max).toBe(2);
    expect(split.nodes).toEqual(["a", "b"]);
  });
});

describe("writer and prober against a real PostgreSQL", () => {
  let pg: PgServer;
  beforeAll(async () => {
    requireDebianPackages(["postgresql-15", "python3-psycopg2"]);
    pg = new PgServer("127.0.5.2");
    await pg.start();
  }, 60_000);
  afterAll(async () => { await pg?.destroy(); });

  it("records acked, failed and unknown writes across a SIGKILL, and loses none it acknowledged", async () => {
    const writer = startWriter(pg.target, 1, { intervalMs: 10 });
    const probe = startProbe({ solo: pg.target }, 50);
    await waitFor("acked writes", 20_000, () => writer.records.filter((o) => o.r === "ok").length >= 20);
    const killedAt = Date.now() / 1000;
    await pg.kill();
    await waitFor("failed writes while down", 20_000, () => writer.records.some((o) => o.t0 > killedAt && o.r === "fail"));
    await sleep(300);
    await pg.start();
    await waitFor("writes back", 30_000, () => writer.records.some((o) => o.t0 > killedAt && o.r === "ok"));
    const ops = await writer.stop();
    const samples = await probe.stop();

    const rows = await readOrders(pg.target);
    const s = summarizeWrites(ops, new Set(rows.keys()));
    expect(s.lost).toEqual([]);
    expect(s.failed).toBeGreaterThan(0);
    expect(s.acked).toBeGreaterThan(20);
    // Every acknowledged write names the server that took it; every stored row too.
    expect(ops.filter((o) => o.r === "ok").every((o) => o.node === "127.0.5.2")).toBe(true);
    expect([...rows.values()].every((r) => r.node === "127.0.5.2")).toBe(true);
    const gap = writeGap(ops, killedAt);
    expect(gap.seconds).toBeGreaterThan(0.3);
    expect(samples.some((x) => x.p === null)).toBe(true);
    expect(samples.filter((x) => x.p === 1).length).toBeGreaterThan(5);
    expect(maxConcurrentPrimaries(primarySpans(samples, [])).max).toBe(1);
  }, 90_000);
});
