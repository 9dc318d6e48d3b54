// The review page of the example: diagram, resources and their changes, budget against objectives and
// measurements, cost and policy, as data and as Markdown.
import * as fs from "fs";
import * as path from "path";
import { failoverBudget, loadTopology } from "../../lib/model";
import { measurementsOf, readDrillReports } from "../../lib/report/budget-table";
import { buildReview, renderMarkdown } from "../../lib/report/review";
import type { StackJson } from "../../lib/policy/json";
import { synthStacks } from "../support/synth";
import { example, variant } from "../support/topology";

const LAB_REPORT = path.join(__dirname, "fixtures/lab-report-balanced.json");
const REHEARSAL_REPORT = path.join(__dirname, "fixtures/rehearsal-report.json");
const PARTITION_REPORT = path.join(__dirname, "fixtures/rehearsal-report-partition.json");
const t = example();
const { outdir, stacks } = synthStacks(t);
afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

const review = buildReview({ topology: t, stacks });

describe("review diagram", () => {
  const nodes = new Map(review.diagram.nodes.map((n) => [n.id, n]));
  const edge = (from: string, to: string) => review.diagram.edges.find((e) => e.from === from && e.to === to);

  it("draws each region with its role, tiers with counts, and every database and Redis host", () => {
    expect(review.diagram.regions.map((r) => r.label)).toEqual([
      "nyc1 · primary · VPC 10.219.0.0/20", "ams3 · secondary · VPC 10.219.16.0/20", "lon1 · witness · VPC 10.219.32.0/20",
    ]);
    expect(nodes.get("app_nyc1")).toEqual({ id: "app_nyc1", label: "app ×2<br/>s-2vcpu-4gb", region: "nyc1" });
    expect(nodes.get("witness_lon1")?.region).toBe("lon1");
    expect(nodes.get("pg_nyc1_1")?.label).toContain("(leader)");
    expect(nodes.get("redis_nyc1_1")?.label).toBe("redis-nyc1-1 (primary)<br/>Redis + Sentinel s-1vcpu-2gb");
    expect(nodes.get("redis_nyc1_2")?.label).toBe("redis-nyc1-2<br/>Redis s-1vcpu-2gb");
  });

  it("orders the edge pools as the synthesized Cloudflare load balancer does, the last one the fallback", () => {
    expect(edge("cloudflare", "lb_nyc1")).toEqual({ from: "cloudflare", to: "lb_nyc1", label: "pool 1", dotted: false });
    expect(edge("cloudflare", "lb_ams3")).toEqual({ from: "cloudflare", to: "lb_ams3", label: "pool 2, fallback", dotted: true });
  });

  it("marks the in-region standby synchronous and the remote replica asynchronous", () => {
    expect(edge("pg_nyc1_1", "pg_nyc1_2")).toMatchObject({ label: "sync", dotted: false });
    expect(edge("pg_nyc1_1", "pg_ams3_1")).toMatchObject({ label: "async (nosync)", dotted: true });
    expect(review.diagram.edges.filter((e) => e.from === "redis_nyc1_1").map((e) => e.to)).toEqual(["redis_nyc1_2", "redis_ams3_1"]);
  });

  it("states the etcd and Sentinel quorums", () => {
    expect(nodes.get("etcd_quorum_0")?.label).toBe("etcd quorum 2 of 3<br/>etcd-nyc1-1, etcd-ams3-1, witness-lon1-1");
    expect(nodes.get("sentinel_quorum")?.label).toBe("Sentinel quorum 2 of 3<br/>redis-nyc1-1, redis-ams3-1, witness-lon1-1");
  });

  it("draws a standby-cluster topology with one etcd quorum per region and the standby cluster asynchronous", () => {
    const standby = loadTopology(path.join(__dirname, "../../examples/topology-standby-cluster.yaml"), {});
    const r = buildReview({ topology: standby, stacks: synthStacks(standby).stacks });
    expect(r.diagram.nodes.filter((n) => n.id.startsWith("etcd_quorum")).map((n) => n.label)).toEqual(["etcd quorum 2 of 3<br/>etcd-nyc1-1, etcd-nyc1-2, etcd-nyc1-3", "etcd quorum 2 of 3<br/>etcd-ams3-1, etcd-ams3-2, etcd-ams3-3"]);
    expect(r.diagram.edges.find((e) => e.to === "pg_ams3_1")?.label).toBe("async (standby cluster)");
  });
});

describe("review budget", () => {
  it("has a row per failure class with its terms, total and objective", () => {
    expect(review.budget.map((r) => [r.failureClass, r.totalSeconds, r.objective.rtoSeconds, r.meetsObjective])).toEqual([
      ["primaryLoss", 13.5, 60, true],
      ["postgresCrash", 32.5, 180, true],
      ["regionLossDatabase", 52.1, 300, true],
      ["regionLossEdge", 70.1, 300, true],
      ["redisPrimaryLoss", 27, 60, true],
    ]);
    expect(review.budget[2].terms.map((x) => x.layer)).toContain("hook confirmations");
  });

  it("puts each measured figure beside the bound of its run: the lab's own trigger on loopback", () => {
    const m = measurementsOf(t, readDrillReports([LAB_REPORT]));
    expect(m.map((x) => [x.drill, x.failureClass, x.boundSeconds])).toEqual([
      ["primary-loss", "primaryLoss", 13.5],
      ["region-loss", "regionLossDatabase", 32.1],
      ["region-loss (Redis)", "redisPrimaryLoss", 27],
      ["redis-primary-loss", "redisPrimaryLoss", 27],
    ]);
  });
});

describe("rehearsal reports", () => {
  it("hold the rehearsal's figures against the production bound, alert path included", () => {
    // The clean-clone CI run of 2026-12-02 before TLS (README, "Measured on the rehearsal", last paragraph of the table).
    const drills = [
      { name: "primary-loss", preset: "balanced", backend: "rehearsal", rtoSeconds: 10.5, lostAckedWrites: 0 },
      { name: "region-loss", preset: "balanced", backend: "rehearsal", rtoSeconds: 34.9, lostAckedWrites: 0 },
      { name: "switchover", preset: "balanced", backend: "rehearsal", rtoSeconds: 2.8, lostAckedWrites: 0 },
    ];
    expect(measurementsOf(t, [{ file: "rehearsal-report.json", drills }]).map((m) => [m.drill, m.boundSeconds, m.withinBound])).toEqual([
      ["primary-loss", 13.5, true],
      ["region-loss", 52.1, true], // the production bound, alert path included (the lab's own trigger gives 32.1 s)
    ]);
  });

  it("hold the customers' gap through the edge against the edge budget (database + load balancer, or Cloudflare)", () => {
    // The clean-clone CI run of 2026-12-02 with TLS: database 46.2 s, customers 60.2 s (over the old 50 s).
    const drills = [{ name: "region-loss", preset: "balanced", backend: "rehearsal", rtoSeconds: 46.2, lostAckedWrites: 0, customers: { rtoSeconds: 60.2, lostAckedWrites: 0 } }];
    expect(measurementsOf(t, [{ file: "ci.json", drills }]).map((m) => [m.drill, m.failureClass, m.rtoSeconds, m.boundSeconds, m.withinBound])).toEqual([
      ["region-loss", "regionLossDatabase", 46.2, 52.1, true],
      ["region-loss (customers)", "regionLossEdge", 60.2, 70.1, true],
    ]);
  });

  it("read the rehearsal's own report (converge, check and drills) and its region-partition", () => {
    const m = measurementsOf(t, readDrillReports([REHEARSAL_REPORT, PARTITION_REPORT]));
    expect(m.map((x) => [x.drill, x.failureClass, x.rtoSeconds, x.boundSeconds])).toEqual([
      ["primary-loss", "primaryLoss", 9.03, 13.5],
      ["region-loss", "regionLossDatabase", 30.04, 52.1],
      ["region-loss (Redis)", "redisPrimaryLoss", 7.67, 27],
      ["region-loss (customers)", "regionLossEdge", 44.15, 70.1],
      ["redis-primary-loss", "redisPrimaryLoss", 5.63, 27],
      ["region-partition", "regionLossDatabase", 48.4, 52.1],
      ["region-partition (Redis)", "redisPrimaryLoss", 7.38, 27],
      ["region-partition (customers)", "regionLossEdge", 53.03, 70.1],
    ]);
    expect(m.find((x) => x.drill === "region-partition (customers)")!.lostAckedWrites).toBe(124);
  });
});

describe("the committed lab report", () => {
  const drills = readDrillReports([LAB_REPORT])[0].drills;

  it("measured every figure within its computed bound, at the topology's round trip and at the lab's 0 ms", () => {
    const measured = measurementsOf(t, [{ file: LAB_REPORT, drills }]);
    expect(measured.length).toBe(4);
    for (const m of measured) {
      const atLab = failoverBudget({ ...t, timing: m.preset as typeof t.timing }, { trigger: "lab", rttMs: 0 })[m.failureClass].totalSeconds!;
      expect({ drill: m.drill, rto: m.rtoSeconds, within: m.withinBound, withinAtZeroRtt: m.rtoSeconds! <= atLab }).toEqual({ drill: m.drill, rto: m.rtoSeconds, within: true, withinAtZeroRtt: true });
    }
  });

  it("would have broken the budget before its WAN and hook terms: region-loss measured over the old 18.8 s", () => {
    expect(drills.find((d) => d.name === "region-loss")!.rtoSeconds).toBeGreaterThan(18.8);
  });
});

describe("review resources and changes", () => {
  it("counts resources per stack and type", () => {
    expect(review.resources.map((s) => [s.stack, s.total])).toEqual([["global", 7], ["network", 19], ["region-ams3", 16], ["region-lon1", 2], ["region-nyc1", 20]]);
    expect(review.resources.find((s) => s.stack === "region-nyc1")!.byType.digitalocean_volume).toBe(2);
    expect(review.changes).toBeNull();
  });

  it("lists what changed against a base and flags what destroys data", () => {
    const base: StackJson[] = JSON.parse(JSON.stringify(stacks));
    const nyc1 = base.find((s) => s.name === "region-nyc1")!.json.resource;
    nyc1.digitalocean_volume["pg-nyc1-3-pgdata"] = { name: "pg-nyc1-3-pgdata", region: "nyc1", size: 100 }; // gone now: removed
    nyc1.digitalocean_droplet["pg-nyc1-2"].image = "debian-11-x64"; // the new image replaces it
    nyc1.digitalocean_droplet["app-nyc1-1"].size = "s-1vcpu-2gb"; // resized in place
    nyc1.digitalocean_droplet["pg-nyc1-1"].user_data = "#cloud-config\n"; // ignored by its lifecycle: no replacement
    delete nyc1.digitalocean_droplet["worker-nyc1-1"]; // new now: added
    const r = buildReview({ topology: t, stacks, base });
    expect(r.changes).toEqual([
      { stack: "region-nyc1", address: "digitalocean_droplet.app-nyc1-1", kind: "changed", attributes: ["size"], destroysData: null },
      { stack: "region-nyc1", address: "digitalocean_droplet.pg-nyc1-1", kind: "changed", attributes: ["user_data"], destroysData: null },
      { stack: "region-nyc1", address: "digitalocean_droplet.pg-nyc1-2", kind: "changed", attributes: ["image"], destroysData: "replaces a database droplet (image changed)" },
      { stack: "region-nyc1", address: "digitalocean_droplet.worker-nyc1-1", kind: "added", attributes: [], destroysData: null },
      { stack: "region-nyc1", address: "digitalocean_volume.pg-nyc1-3-pgdata", kind: "removed", attributes: [], destroysData: "destroys a PostgreSQL data volume" },
    ]);
    expect(renderMarkdown(r)).toContain("> - `digitalocean_volume.pg-nyc1-3-pgdata` (stack region-nyc1): destroys a PostgreSQL data volume");
  });
});

describe("review cost and policy", () => {
  it("prices the example per region and in total from the dated table", () => {
    // nyc1: 3 × $12 + $18 + 3 × $24 + 2 × $48 + 200 GiB × $0.10 + 1 LB node $10 = $252;
    // ams3: 2 × $12 + $18 + 3 × $24 + $48 + $10 + $10 = $182; lon1: $6;
    // global: Spaces $5 + Cloudflare LB (2 origins) $5 + Business plan $250 = $260.
    expect(review.cost.regions.map((r) => [r.region, r.monthly])).toEqual([["nyc1", 252], ["ams3", 182], ["lon1", 6], ["global", 260]]);
    expect(review.cost.monthly).toBe(700);
    expect(review.cost.unpriced).toEqual([]);
  });

  it("reports a size the table has no price for instead of guessing", () => {
    const big = variant((d) => { d.regions[0].tiers.postgres.size = "g-2vcpu-8gb"; });
    const r = buildReview({ topology: big, stacks: synthStacks(big).stacks });
    expect(r.cost.unpriced).toEqual(["droplet g-2vcpu-8gb"]);
    expect(r.cost.monthly).toBe(700 - 96);
  });

  it("lists every policy rule that ran, and each declared exception with its reason and whether it is still needed", () => {
    expect(review.policy.rules.map((r) => r.rule)).toEqual(["FW-1", "FW-2", "FW-3", "FW-4", "FW-5", "FW-6", "DR-1", "LB-1", "LB-2", "LB-3", "LB-4", "SP-1", "CF-3", "SEC-1", "SEC-2", "VPC-1"]);
    expect(review.policy.rules.every((r) => r.violations.length === 0)).toBe(true);
    const withException = variant((d) => { d.policyExceptions = [{ rule: "FW-5", resource: "digitalocean_firewall.fw-nothing", reason: "kept for the review test" }]; });
    expect(buildReview({ topology: withException, stacks }).policy.exceptions).toEqual([
      { rule: "FW-5", resource: "digitalocean_firewall.fw-nothing", reason: "kept for the review test", used: false },
    ]);
  });
});

describe("REVIEW.md", () => {
  const md = renderMarkdown(buildReview({ topology: t, stacks, labReports: [{ file: "__tests__/report/fixtures/lab-report-balanced.json", drills: readDrillReports([LAB_REPORT])[0].drills }] }));

  it("renders the diagram as a Mermaid block with its nodes and edges", () => {
    expect(md).toContain("```mermaid\nflowchart TB\n");
    expect(md).toContain('  subgraph nyc1["nyc1 · primary · VPC 10.219.0.0/20"]');
    expect(md).toContain('  pg_nyc1_1 -.->|"async (nosync)"| pg_ams3_1');
    expect(md).toContain("| **total** | | | **$700.00** |");
    expect(md).toContain("| region loss (database) | region-loss | loopback | balanced | 19.74 s | 32.1 s | yes | 0 |");
  });

  it("names a region partition's loss: the window the cut-off primary still acknowledges", () => {
    expect(md).toContain("| region partition (the primary's region cut off, not lost) | as region loss | — | — | 1048576 bytes + the writes of 8 s (a region cut off, not lost:");
    expect(md).toContain("loop_wait 2 s + 2 × retry_timeout 3 s = 8 s after its last renewal");
  });

  it("matches the reviewed page", () => {
    expect(md).toMatchSnapshot();
  });
});
