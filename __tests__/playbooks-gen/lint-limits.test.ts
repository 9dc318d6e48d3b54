// Valid topologies at the edges of the schema (five etcd members, the longest names, many hosts and
// admin ranges) still give a tree the lint gates accept, and etcd reads the wrapped member list whole.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { parseDeployOutputs } from "../../lib/model/outputs";
import type { Topology } from "../../lib/model/types";
import { writeTree } from "../../playbooks-gen/engine/tree";
import { generateTree } from "../../playbooks-gen/generate";
import { deployOutputs, planOf } from "../../lab/backends/rehearsal/plan";
import { requireDebianPackages } from "../support/debian";
import { variant } from "../support/topology";

const long = (n: number) => `p${"x".repeat(n - 2)}z`;

/** Five etcd members (two per serving region and the witness), the longest project and environment
 * that fit, 20 app hosts, five PostgreSQL and Redis nodes per region, 20 admin ranges. */
const largest = (): Topology => variant((d) => {
  d.project = long(26);
  d.environment = long(25);
  d.ssh.adminCidrs = Array.from({ length: 20 }, (_, i) => `198.51.${i}.0/24`);
  for (const r of d.regions.slice(0, 2)) {
    Object.assign(r.tiers, { app: { count: 20 }, postgres: { count: 5 }, redis: { count: 5 }, etcd: { count: 2 } });
  }
});

describe("the tree of the largest valid topology passes the lint gates", () => {
  let dir: string;
  beforeAll(() => {
    requireDebianPackages(["yamllint", "etcd-server"]);
    const t = largest();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "lint-limits-"));
    writeTree(dir, generateTree(t, parseDeployOutputs(deployOutputs(planOf(t)), "outputs.json"), "outputs.json"));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("yamllint --strict with the tree's config finds nothing (a five-member initial-cluster was over 200)", () => {
    const r = spawnSync("yamllint", ["--strict", "-c", ".yamllint", "-f", "parsable", "."], { cwd: dir, encoding: "utf8" });
    expect(r.stdout).toBe("");
    expect(r.status).toBe(0);
  });

  it("etcd reads the wrapped initial-cluster as the five members, comma-joined", () => {
    const file = path.join(dir, "files", "etcd-nyc1-1", "etcd.yml");
    const members = ["etcd-nyc1-1", "etcd-nyc1-2", "etcd-ams3-1", "etcd-ams3-2", "witness-lon1-1"];
    const expected = (yaml.load(fs.readFileSync(file, "utf8")) as Record<string, string>)["initial-cluster"];
    expect(expected.split(",").map((m) => m.split("=")[0])).toEqual(members);
    // etcd (Go's YAML) logs the members it parsed on start: run it on loopback ports for a moment.
    const data = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-parse-"));
    const port = 30000 + Math.floor(Math.random() * 10000);
    const local = fs.readFileSync(file, "utf8")
      .replace(/^listen-client-urls: .*$/m, `listen-client-urls: "http://127.0.0.1:${port}"`)
      .replace(/^listen-peer-urls: .*$/m, `listen-peer-urls: "http://127.0.0.1:${port + 1}"`)
      .replace(/^data-dir: .*$/m, `data-dir: ${JSON.stringify(data)}`);
    fs.writeFileSync(path.join(data, "etcd.yml"), local);
    const r = spawnSync("etcd", ["--config-file", path.join(data, "etcd.yml")], { encoding: "utf8", timeout: 3_000 });
    fs.rmSync(data, { recursive: true, force: true });
    const start = r.stderr.split("\n").find((line) => line.includes("starting an etcd server"));
    const sorted = (list: string) => list.split(",").sort();
    expect(sorted(JSON.parse(start ?? "{}")["initial-cluster"])).toEqual(sorted(expected)); // etcd logs them sorted
  });
});
