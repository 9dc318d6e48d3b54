// Names, ports, address plan and timing budget: pure functions of the model.
import { hostsOf, inboundRulesFor, parseCidr, portTable, rtoBudget, servingRegions, TIMING_PRESETS, tierRegionTag, watchdogTiming } from "../../lib/model";
import { example, variant } from "../support/topology";

const t = example();

describe("hosts", () => {
  it("derives stable host names per tier, region and index", () => {
    expect(hostsOf(t).map((h) => h.name)).toEqual([
      "app-nyc1-1", "app-nyc1-2", "worker-nyc1-1", "pg-nyc1-1", "pg-nyc1-2", "redis-nyc1-1", "redis-nyc1-2", "etcd-nyc1-1", "mon-nyc1-1",
      "app-ams3-1", "app-ams3-2", "worker-ams3-1", "pg-ams3-1", "redis-ams3-1", "etcd-ams3-1", "mon-ams3-1",
      "witness-lon1-1",
    ]);
  });

  it("puts the witness in etcd, Sentinel and Alertmanager groups", () => {
    expect(hostsOf(t).find((h) => h.name === "witness-lon1-1")!.groups).toEqual(["alertmanager", "etcd_cluster", "region_lon1", "sentinel"]);
  });

  it("runs one Sentinel per region with Redis, so no region holds a Sentinel majority", () => {
    const sentinels = hostsOf(t).filter((h) => h.services.includes("sentinel")).map((h) => h.name);
    expect(sentinels).toEqual(["redis-nyc1-1", "redis-ams3-1", "witness-lon1-1"]);
    expect(hostsOf(t).find((h) => h.name === "redis-nyc1-2")!.groups).toEqual(["redis", "region_nyc1"]);
  });

  it("keeps one Sentinel per region in standby-cluster mode with a witness, so losing the primary region leaves a majority", () => {
    const sc = variant((d) => { d.database.mode = "standby-cluster"; for (const r of d.regions) if (r.tiers.etcd) r.tiers.etcd.count = 3; });
    const sentinels = hostsOf(sc).filter((h) => h.services.includes("sentinel")).map((h) => h.name);
    expect(sentinels).toEqual(["redis-nyc1-1", "redis-ams3-1", "witness-lon1-1"]);
  });

  it("runs a Sentinel on every Redis host in a two-region standby-cluster topology (no witness)", () => {
    const sc = variant((d) => { d.database.mode = "standby-cluster"; for (const r of d.regions) if (r.tiers.etcd) r.tiers.etcd.count = 3; d.regions.pop(); d.regions[1].tiers.redis.count = 3; });
    const sentinels = hostsOf(sc).filter((h) => h.services.includes("sentinel")).map((h) => h.name);
    expect(sentinels).toEqual(["redis-nyc1-1", "redis-nyc1-2", "redis-ams3-1", "redis-ams3-2", "redis-ams3-3"]);
  });

  it("runs no etcd on a standby-cluster witness (each region has its own etcd)", () => {
    const sc = variant((d) => { d.database.mode = "standby-cluster"; for (const r of d.regions) if (r.tiers.etcd) r.tiers.etcd.count = 3; });
    expect(hostsOf(sc).find((h) => h.tier === "witness")!.services).toEqual(["sentinel", "alertmanager", "node_exporter"]);
  });

  it("orders serving regions primary first", () => {
    expect(servingRegions(t)).toEqual(["nyc1", "ams3"]);
  });

  it("tags tiers per region", () => {
    expect(tierRegionTag(t, "postgres", "nyc1")).toBe("shop-production-pg-nyc1");
  });
});

describe("ports", () => {
  it("opens the app port from the load balancer and keeps HAProxy's frontends and Prometheus local", () => {
    const app = inboundRulesFor(t, "app", "nyc1").map((r) => `${r.port}/${r.protocol}`);
    expect(app).toEqual(["22/tcp", "8080/tcp", "7000/tcp", "9100/tcp"]);
    // Prometheus listens on 127.0.0.1 only: no firewall opens it, nothing remote queries it.
    expect(portTable(t).filter((r) => r.from === "local").map((r) => r.port)).toEqual([5000, 5001, 9090]);
  });

  it("opens only what the tier's hosts in that region run", () => {
    const sc = variant((d) => { d.database.mode = "standby-cluster"; for (const r of d.regions) if (r.tiers.etcd) r.tiers.etcd.count = 3; });
    expect(inboundRulesFor(sc, "witness", "lon1").map((r) => r.port)).not.toContain(2379);
    expect(inboundRulesFor(t, "witness", "lon1").map((r) => r.port)).toEqual(expect.arrayContaining([2379, 2380, 26379]));
  });

  it("follows the app port of the topology", () => {
    expect(inboundRulesFor(variant((d) => { d.app.port = 3000; }), "app", "ams3").map((r) => r.port)).toContain(3000);
  });
});

describe("address plan", () => {
  it("gives each region a distinct private /20", () => {
    const ranges = t.regions.map((r) => parseCidr(r.vpcRange));
    expect(ranges.every((r) => typeof r !== "string" && r.prefix === 20)).toBe(true);
    expect(new Set(t.regions.map((r) => r.vpcRange)).size).toBe(3);
  });
});

describe("timing", () => {
  it("keeps Patroni's rule loop_wait + 2 × retry_timeout <= ttl in every preset", () => {
    for (const [name, p] of Object.entries(TIMING_PRESETS)) {
      expect({ name, ok: p.patroni.loopWait + 2 * p.patroni.retryTimeout <= p.patroni.ttl }).toEqual({ name, ok: true });
    }
  });

  it("leaves a cut-off primary at least 2 s to demote before its key expires in our presets (stock is Patroni's, at 0)", () => {
    for (const name of ["fast", "balanced", "wan-safe"] as const) {
      const p = TIMING_PRESETS[name].patroni;
      expect({ name, margin: p.ttl - (p.loopWait + 2 * p.retryTimeout) >= 2 }).toEqual({ name, margin: true });
    }
  });

  it("sets the watchdog so a stalled leader is reset before its key expires, but never before it can demote itself", () => {
    for (const [name, p] of Object.entries(TIMING_PRESETS)) {
      const { ttl, loopWait, retryTimeout } = p.patroni;
      const w = watchdogTiming(name as keyof typeof TIMING_PRESETS);
      expect({ name, sum: w.timeoutSeconds + w.safetyMarginSeconds }).toEqual({ name, sum: ttl });
      // Patroni refuses a watchdog whose timeout leaves no slack over loop_wait.
      expect({ name, slack: w.timeoutSeconds - loopWait > 0 }).toEqual({ name, slack: true });
      // The reset lands at least 2 s before the leader key can expire.
      expect({ name, margin: w.safetyMarginSeconds >= 2 }).toEqual({ name, margin: true });
      // A loop that sleeps loop_wait, then retries the DCS for retry_timeout, demotes before the reset.
      expect({ name, demotesFirst: w.timeoutSeconds >= loopWait + retryTimeout + 1 }).toEqual({ name, demotesFirst: true });
    }
    expect(watchdogTiming("stock").safetyMarginSeconds).toBe(5);
    expect(watchdogTiming("balanced")).toEqual({ timeoutSeconds: 6, safetyMarginSeconds: 4 });
  });

  it("orders presets from fast to wan-safe in their recovery budget", () => {
    const budget = (timing: string) => rtoBudget({ ...t, timing } as typeof t).primaryLoss;
    expect(budget("fast")).toBeLessThan(budget("balanced"));
    expect(budget("balanced")).toBeLessThan(budget("wan-safe"));
    expect(budget("wan-safe")).toBeLessThanOrEqual(budget("stock"));
  });

  it("bounds a PostgreSQL crash by primary_start_timeout, not Patroni's 300 s default", () => {
    expect(rtoBudget(t).postgresCrash).toBeLessThan(60);
    expect(rtoBudget({ ...t, timing: "stock" }).postgresCrash).toBeGreaterThan(300);
  });
});
