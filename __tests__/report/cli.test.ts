// `npm run report`: options, files written and exit codes.
import * as fs from "fs";
import * as path from "path";
import { runReport } from "../../lib/report/cli";
import { synthStacks, tempDir } from "../support/synth";
import { example } from "../support/topology";

const LAB_REPORT = path.join(__dirname, "fixtures/lab-report-balanced.json");

function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = runReport(argv, { log: (s) => out.push(s), error: (s) => err.push(s) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("npm run report", () => {
  let dir: string;
  beforeEach(() => { dir = tempDir("shop-report-test-"); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("prints its usage with --help and exits 0", () => {
    const r = run("--help");
    expect(r.code).toBe(0);
    expect(r.out).toContain("--lab-report FILE");
  });

  it.each([
    [["--bogus"], "Unknown option '--bogus'"],
    [["--format", "pdf"], "--format must be md or json, got \"pdf\""],
    [["--topology", "nope.yaml"], "nope.yaml: 1 problem:\n  - file not found"],
  ])("refuses %j with exit 2 and writes nothing", (argv, message) => {
    const r = run(...argv, "--out", dir);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it("refuses a lab report without drills, naming the file", () => {
    const bad = path.join(dir, "bad.json");
    fs.writeFileSync(bad, JSON.stringify({ check: { passed: true } }));
    const r = run("--out", path.join(dir, "out"), "--lab-report", bad);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`--lab-report ${bad} has no drills[] with name and preset`);
    expect(fs.existsSync(path.join(dir, "out", "REVIEW.md"))).toBe(false);
  });

  it("writes REVIEW.md with the measured figures and exits 0 when every figure is within its bound", () => {
    const r = run("--out", dir, "--lab-report", LAB_REPORT);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`wrote ${path.join(dir, "REVIEW.md")}: 64 resources, monthly cost $700.00`);
    expect(fs.readFileSync(path.join(dir, "REVIEW.md"), "utf8")).toContain("| region loss (database) | region-loss | loopback | balanced | 19.74 s | 32.1 s | yes |");
  });

  it("exits 3 and says which figure, when a measurement exceeds its bound (the page is still written)", () => {
    const report = JSON.parse(fs.readFileSync(LAB_REPORT, "utf8"));
    report.drills.find((d: { name: string }) => d.name === "primary-loss").rtoSeconds = 14.2;
    const file = path.join(dir, "slow.json");
    fs.writeFileSync(file, JSON.stringify(report));
    const r = run("--out", dir, "--lab-report", file);
    expect(r.code).toBe(3);
    expect(r.err).toBe(`measured beyond the budget: primary-loss (balanced, loopback) measured 14.2 s against a bound of 13.5 s for primary host loss (${file})`);
    expect(fs.readFileSync(path.join(dir, "REVIEW.md"), "utf8")).toContain("| 14.2 s | 13.5 s | **no** |");
  });

  it("takes the rehearsal's report as written (converge, check and drills, customers through the edge) and gates its figures", () => {
    const rehearsal = path.join(__dirname, "fixtures/rehearsal-report.json");
    const ok = run("--out", dir, "--lab-report", rehearsal);
    expect(ok.err).toBe("");
    expect(ok.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, "REVIEW.md"), "utf8")).toContain("| region loss (customers through the edge) | region-loss (customers) | rehearsal | balanced | 44.15 s | 70.1 s | yes | 0 |");
    // The rehearsal's region-partition at 60 ms: the database writer's gap of 48.4 s, measured while the
    // hook's patronictl could still pick the cut-off etcd member, is within 52.1 s (the alert path has no
    // Alertmanager cluster wait: every Alertmanager reaches the hook; each patronictl call counts 2.8 s).
    const partition = path.join(__dirname, "fixtures/rehearsal-report-partition.json");
    const both = run("--out", dir, "--lab-report", rehearsal, "--lab-report", partition);
    expect(both.err).toBe("");
    expect(both.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, "REVIEW.md"), "utf8")).toContain("| 48.4 s | 52.1 s | yes |");
  });

  it("gives the same content as JSON with --format json, and compares with --base", () => {
    const base = synthStacks(example()).outdir;
    const r = run("--out", dir, "--format", "json", "--base", base, "--lab-report", LAB_REPORT);
    fs.rmSync(base, { recursive: true, force: true });
    expect(r.code).toBe(0);
    expect(r.out).toContain(`, 0 changes against ${base}`);
    const json = JSON.parse(fs.readFileSync(path.join(dir, "REVIEW.json"), "utf8"));
    expect(json.cost.monthly).toBe(700);
    expect(json.changes).toEqual([]);
    expect(json.budget.map((b: { failureClass: string }) => b.failureClass)).toEqual(["primaryLoss", "postgresCrash", "regionLossDatabase", "regionLossEdge", "redisPrimaryLoss"]);
    expect(json.mermaid).toMatch(/^flowchart TB\n/);
  });
});
