// Objectives in the topology file: each refusal names the class, the layers and a fix.
import { DEFAULT_OBJECTIVES, failoverBudget, FAILURE_CLASSES } from "../../lib/model";
import { example, problemsOf, standbyClusterEdit, variant } from "../support/topology";

describe("objectives", () => {
  it("accepts both examples and the slowest preset on the slowest plan at 300 ms under the defaults", () => {
    expect(() => example()).not.toThrow();
    expect(() => variant(standbyClusterEdit)).not.toThrow();
    const slow = variant((d) => { d.timing = "wan-safe"; d.cloudflare.plan = "pro"; d.interRegionRtt = { defaultMs: 300 }; });
    for (const c of FAILURE_CLASSES) expect(failoverBudget(slow)[c].totalSeconds).toBeLessThanOrEqual(DEFAULT_OBJECTIVES[c].rtoSeconds!);
  });

  it("fails a region-loss RTO the budget exceeds, with every layer's term", () => {
    expect(problemsOf((d) => { d.objectives = { regionLossDatabase: { rtoSeconds: 20 } }; })).toEqual([
      "objectives.regionLossDatabase.rtoSeconds is 20, but the worst-case region loss (database) budget is 52.1 s (etcd election 3 s + leader key expiry 11 s + alert path beyond the key's expiry 16 s + hook confirmations 19.6 s + Patroni writes over the WAN 1.7 s + HAProxy 0.8 s); raise rtoSeconds to 53",
    ]);
  });

  it("names the Cloudflare plan that meets an edge RTO", () => {
    expect(problemsOf((d) => { d.cloudflare.plan = "pro"; d.objectives = { regionLossEdge: { rtoSeconds: 110 } }; })).toEqual([
      "objectives.regionLossEdge.rtoSeconds is 110, but the worst-case region loss (customers through the edge) budget is 185 s (database promoted in the surviving region 52.1 s + load balancer takes the app hosts back 18 s + Cloudflare monitor beyond them 114.9 s); cloudflare.plan: business (monitor every 15 s: 70.1 s), or raise rtoSeconds to 185",
    ]);
  });

  it("holds an edge RTO against the database's promotion too: no Cloudflare plan is faster than the database", () => {
    expect(problemsOf((d) => { d.objectives = { regionLossEdge: { rtoSeconds: 65 } }; })).toEqual([
      "objectives.regionLossEdge.rtoSeconds is 65, but the worst-case region loss (customers through the edge) budget is 70.1 s (database promoted in the surviving region 52.1 s + load balancer takes the app hosts back 18 s); timing: fast (53.8 s), or regions closer together (64.2 s at 0 ms between them), or raise rtoSeconds to 71",
    ]);
  });

  it("has no default edge RTO when an operator promotes, and refuses a stated one", () => {
    expect(() => variant((d) => { d.database.crossRegionPromotion = "manual"; })).not.toThrow();
    expect(problemsOf((d) => { d.database.crossRegionPromotion = "manual"; d.objectives = { regionLossEdge: { rtoSeconds: 300 } }; })).toEqual([
      "objectives.regionLossEdge.rtoSeconds is 300, but database.crossRegionPromotion manual waits for an operator, so no region loss (customers through the edge) RTO can be promised; remove rtoSeconds or set crossRegionPromotion: automatic",
    ]);
  });

  it("names the timing preset that meets a primary-loss RTO", () => {
    expect(problemsOf((d) => { d.objectives = { primaryLoss: { rtoSeconds: 11 } }; })).toEqual([
      "objectives.primaryLoss.rtoSeconds is 11, but the worst-case primary host loss budget is 13.5 s (leader key expiry 11 s + Patroni writes over the WAN 1.7 s + HAProxy 0.8 s); timing: fast (10.2 s), or raise rtoSeconds to 14",
    ]);
  });

  it("refuses automatic promotion for RPO 0 on region loss: asynchronous replicas lose up to maximum_lag_on_failover", () => {
    expect(problemsOf((d) => { d.objectives = { regionLossDatabase: { rpoBytes: 0 } }; })).toEqual([
      "objectives.regionLossDatabase.rpoBytes is 0, but automatic cross-region promotion promotes an asynchronous cross-region replica (remote replicas are nosync): up to maximum_lag_on_failover (1048576 bytes) of acknowledged writes can be lost (the lab's region-loss drill tolerates that many bytes: about 80 orders at its write rate); set database.crossRegionPromotion: manual (the hook confirms and alerts; an operator promotes, choosing between waiting for the region and the loss), or raise rpoBytes to 1048576",
    ]);
    expect(() => variant((d) => { d.database.crossRegionPromotion = "manual"; d.objectives = { regionLossDatabase: { rpoBytes: 0 } }; })).not.toThrow();
  });

  it("refuses RPO 0 without a synchronous standby, in the region and across regions", () => {
    const problems = problemsOf((d) => { d.database.synchronousMode = false; d.objectives = { primaryLoss: { rpoBytes: 0 }, regionLossDatabase: { rpoBytes: 0 } }; });
    expect(problems).toEqual([
      "objectives.primaryLoss.rpoBytes is 0, but without synchronousMode an asynchronous replica within maximum_lag_on_failover (1048576 bytes) can be promoted; set database.synchronousMode: true, or raise rpoBytes to 1048576",
      expect.stringContaining("set database.synchronousMode: true and crossRegionPromotion: manual (without a synchronous standby Patroni promotes a remote replica by itself), or raise rpoBytes to 1048576"),
    ]);
  });

  it("refuses a standby-cluster RPO on region loss: the standby cluster is promoted without a lag check", () => {
    expect(problemsOf((d) => { standbyClusterEdit(d); d.objectives = { regionLossDatabase: { rpoBytes: 4096 } }; })).toEqual([
      "objectives.regionLossDatabase.rpoBytes is 4096, but automatic cross-region promotion promotes the asynchronous standby cluster without a lag check, so every acknowledged write it had not received is lost; set database.crossRegionPromotion: manual (the hook confirms and alerts; an operator promotes, choosing between waiting for the region and the loss)",
    ]);
  });

  it("refuses a region-loss RTO when an operator promotes, and manual promotion without a synchronous standby", () => {
    expect(problemsOf((d) => { d.database.crossRegionPromotion = "manual"; d.objectives = { regionLossDatabase: { rtoSeconds: 100 } }; })).toEqual([
      "objectives.regionLossDatabase.rtoSeconds is 100, but database.crossRegionPromotion manual waits for an operator, so no region loss (database) RTO can be promised; remove rtoSeconds or set crossRegionPromotion: automatic",
    ]);
    expect(problemsOf((d) => { d.database.crossRegionPromotion = "manual"; d.database.synchronousMode = false; })).toEqual([
      "database.crossRegionPromotion manual needs database.synchronousMode: true in stretched mode, got false: without a synchronous standby Patroni promotes a remote replica by itself and nothing waits for an operator",
    ]);
  });

  it("refuses a Redis RPO and an RTO below Sentinel's budget", () => {
    expect(problemsOf((d) => { d.objectives = { redisPrimaryLoss: { rtoSeconds: 10, rpoBytes: 0 } }; })).toEqual([
      "objectives.redisPrimaryLoss.rtoSeconds is 10, but the worst-case Redis primary loss budget is 27 s (Sentinel down-after 5 s + split election retry 20 s + election and promotion 2 s); raise rtoSeconds to 27",
      "objectives.redisPrimaryLoss.rpoBytes is 0, but Redis replicates asynchronously: writes acknowledged before they reached a replica are lost; no rpoBytes can be promised, remove it",
    ]);
  });

  it("refuses round trips for regions the topology lacks, a region with itself, and a pair twice", () => {
    expect(problemsOf((d) => { d.interRegionRtt = { pairs: [{ regions: "nyc1-sfo3", ms: 70 }, { regions: "ams3-ams3", ms: 1 }, { regions: "ams3-nyc1", ms: 1 }, { regions: "nyc1-ams3", ms: 1 }] }; })).toEqual([
      'interRegionRtt.pairs[0].regions must name two regions of the topology (nyc1, ams3, lon1), got "nyc1-sfo3"',
      'interRegionRtt.pairs[1].regions must name two different regions, got "ams3-ams3"',
      'interRegionRtt.pairs[3].regions "nyc1-ams3" is listed twice; keep one round trip per pair',
    ]);
  });

  it("refuses an unknown failure class and a negative objective through the schema", () => {
    const problems = problemsOf((d) => { d.objectives = { regionLoss: { rtoSeconds: 30 }, primaryLoss: { rtoSeconds: -1 } }; });
    expect(problems.join("\n")).toMatch(/objectives\.regionLoss/);
    expect(problems.join("\n")).toMatch(/objectives\.primaryLoss\.rtoSeconds/);
  });
});
