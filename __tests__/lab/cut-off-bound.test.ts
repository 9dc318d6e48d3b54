// A region partition's loss bound in the drills: each writer's own acknowledged rate before the cut ×
// the window the model gives the cut-off primary (budget.ts partitionAckWindowSeconds).
import { partitionAckWindowSeconds } from "../../lib/model";
import { cutOffOrders } from "../../lab/drills/checker";
import type { WriteOp } from "../../lab/backends/types";
import { example } from "../support/topology";

const op = (id: number, t0: number, r: WriteOp["r"]): WriteOp => ({ id, t0, t1: t0 + 0.01, r });

describe("cutOffOrders", () => {
  it("counts only writes acknowledged before the fault, over the time since the writer's first", () => {
    // 40 orders acknowledged in the 10 s before the fault (4/s), then failures and a late success.
    const ops = [...Array.from({ length: 40 }, (_, i) => op(i, 100 + i * 0.25, "ok")), op(40, 110.1, "fail"), op(41, 111, "info"), op(42, 125, "ok")];
    const { rate, orders } = cutOffOrders(ops, 110, partitionAckWindowSeconds(example()));
    expect(rate).toBe(4);
    expect(orders).toBe(32); // 4/s × (loop_wait 2 + 2 × retry_timeout 3) s
  });

  it("covers the rehearsal's 124 lost customers' orders, which the lag bound alone (61) did not", () => {
    // region-partition at 60 ms: the cut-off primary answered for 3.5 s and acknowledged 124 customers'
    // orders meanwhile, so customers wrote at least 124 / 3.5 ≈ 35.4 orders/s.
    const ops = Array.from({ length: 355 }, (_, i) => op(i, 1000 + i * 0.1 / 3.55, "ok"));
    const { orders } = cutOffOrders(ops, 1010, partitionAckWindowSeconds(example()));
    expect(orders).toBe(284); // 35.5/s × 8 s
    expect(61 + orders).toBeGreaterThanOrEqual(124);
  });

  it("gives nothing for a writer that had no acknowledged write before the fault", () => {
    expect(cutOffOrders([op(1, 50, "fail")], 60, 8)).toEqual({ rate: 0, orders: 0 });
    expect(cutOffOrders([], 60, 8)).toEqual({ rate: 0, orders: 0 });
  });
});
