import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DEFAULTS, main } from "../../playbooks-gen/cli";
import { listFiles } from "../../playbooks-gen/engine/tree";
import { EXAMPLE_OUTPUTS, EXAMPLE_TOPOLOGY } from "./fixtures";

function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = main(args, (l) => out.push(l), (l) => err.push(l));
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const snapshot = (dir: string) => Object.fromEntries(listFiles(dir).map((f) => [f, fs.readFileSync(path.join(dir, f), "utf8")]));

describe("npm run generate", () => {
  let root: string;
  beforeEach(() => { root = fs.mkdtempSync(path.join(os.tmpdir(), "generate-")); });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));
  const base = () => ["--topology", EXAMPLE_TOPOLOGY, "--outputs", EXAMPLE_OUTPUTS, "--out", path.join(root, "ansible")];

  it("defaults to the bundled example and cdktf.out/ansible", () => {
    expect(DEFAULTS).toEqual({ topology: "examples/topology.yaml", outputs: "examples/outputs.json", out: "cdktf.out/ansible" });
  });

  it("writes the same bytes on every run", () => {
    expect(run(base()).code).toBe(0);
    const first = snapshot(path.join(root, "ansible"));
    expect(run(base()).code).toBe(0);
    expect(snapshot(path.join(root, "ansible"))).toEqual(first);
    expect(Object.keys(first)).toContain("site.yml");
  });

  it("names an outputs file that does not parse, and writes nothing", () => {
    const bad = path.join(root, "outputs.json");
    fs.writeFileSync(bad, "{ not json");
    const r = run([...base().slice(0, 2), "--outputs", bad, "--out", path.join(root, "ansible")]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`^error: ${bad}: is not valid JSON .*cdktf deploy --outputs-file`));
    expect(fs.existsSync(path.join(root, "ansible"))).toBe(false);
  });

  it("names a host missing from the outputs, and keeps the previous tree", () => {
    expect(run(base()).code).toBe(0);
    const before = snapshot(path.join(root, "ansible"));
    const outputs = JSON.parse(fs.readFileSync(EXAMPLE_OUTPUTS, "utf8"));
    delete outputs["region-lon1"];
    const partial = path.join(root, "partial.json");
    fs.writeFileSync(partial, JSON.stringify(outputs));
    const r = run([...base().slice(0, 2), "--outputs", partial, "--out", path.join(root, "ansible")]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("host witness-lon1-1 of the topology is missing");
    expect(snapshot(path.join(root, "ansible"))).toEqual(before);
  });

  it("names a private address outside its region's VPC, and writes nothing", () => {
    const outputs = JSON.parse(fs.readFileSync(EXAMPLE_OUTPUTS, "utf8"));
    outputs["region-nyc1"].hosts["pg-nyc1-1"].private_ipv4 = "10.219.16.99";
    const wrong = path.join(root, "wrong.json");
    fs.writeFileSync(wrong, JSON.stringify(outputs));
    const r = run([...base().slice(0, 2), "--outputs", wrong, "--out", path.join(root, "ansible")]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`error: ${wrong}: hosts.pg-nyc1-1.private_ipv4 must be inside nyc1's VPC 10.219.0.0/20, got "10.219.16.99"`);
    expect(fs.existsSync(path.join(root, "ansible"))).toBe(false);
  });

  it("names a missing outputs file and an unknown argument", () => {
    expect(run(["--outputs", path.join(root, "nope.json"), "--out", path.join(root, "x")]).err).toMatch(/nope\.json: file not found/);
    const r = run(["--output", "x"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error: Unknown option '--output'.*\nusage: npm run generate/);
  });

  it("follows the shared CLI convention: --help prints the usage and exits 0, a value-less flag exits 2", () => {
    const help = run(["--help"]);
    expect([help.code, help.out, help.err]).toEqual([0, "usage: npm run generate -- [--topology FILE] [--outputs FILE] [--out DIR] [--help]", ""]);
    const r = run(["--topology"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error: Option '--topology <value>' argument missing\nusage: npm run generate/);
  });
});
