import * as fs from "fs";
import * as path from "path";
import { run, runUnderCdktf } from "../main";
import { EXAMPLE_FILE, variantText } from "./support/topology";
import { tempDir } from "./support/synth";

function capture(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = run(argv, { log: (s) => out.push(s), error: (s) => err.push(s) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("npm start", () => {
  it("synthesizes the example and prints stacks, resource counts and regions", () => {
    const out = path.join(tempDir(), "cdktf.out");
    const r = capture(["--topology", EXAMPLE_FILE, "--out", out]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("regions: nyc1 (primary, VPC 10.219.0.0/20), ams3 (secondary, VPC 10.219.16.0/20), lon1 (witness, VPC 10.219.32.0/20)");
    expect(r.out).toMatch(/stack region-nyc1: \d+ resources\n(?: +\d+ \w+\n)*\s+9 digitalocean_droplet/);
    expect(r.out).toMatch(/stack global: \d+ resources/);
    expect(fs.existsSync(path.join(out, "stacks", "global", "cdk.tf.json"))).toBe(true);
    expect(r.out).toContain("no deploy outputs given"); // a topology passed by path brings no outputs
  });

  it("also writes the Ansible tree for the bundled example from its example outputs", () => {
    const dir = tempDir();
    const r = capture(["--out", path.join(dir, "out")]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/wrote the Ansible tree \(\d+ files\) to .*out\/ansible\/ from examples\/outputs\.json/);
    expect(fs.existsSync(path.join(dir, "out", "ansible", "inventory", "hosts.yml"))).toBe(true);
  });

  it("exits 2 on an outputs file that misses a host, and writes nothing", () => {
    const dir = tempDir();
    const outputs = path.join(dir, "outputs.json");
    const json = JSON.parse(fs.readFileSync(path.join(__dirname, "../examples/outputs.json"), "utf8"));
    delete json["region-lon1"];
    fs.writeFileSync(outputs, JSON.stringify(json));
    const r = capture(["--topology", EXAMPLE_FILE, "--outputs", outputs, "--out", path.join(dir, "out")]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("host witness-lon1-1 of the topology is missing");
    expect(fs.existsSync(path.join(dir, "out"))).toBe(false);
  });

  it("exits 2 on a bad topology, names the file and field, and writes nothing", () => {
    const dir = tempDir();
    const file = path.join(dir, "topology.yaml");
    fs.writeFileSync(file, variantText((d) => { d.regions[0].tiers.etcd.count = 2; }));
    const out = path.join(dir, "cdktf.out");
    const r = capture(["--topology", file, "--out", out]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error: ${file}: 1 problem:`);
    expect(r.err).toContain("etcd member count (tiers.etcd + tiers.witness over all regions) must be odd and >= 3 (3 or 5), got 4");
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace for a user mistake
    expect(fs.existsSync(out)).toBe(false);
  });

  it("keeps the previous output when the new topology is bad", () => {
    const dir = tempDir();
    const out = path.join(dir, "cdktf.out");
    expect(capture(["--topology", EXAMPLE_FILE, "--out", out]).code).toBe(0);
    const before = fs.readFileSync(path.join(out, "stacks", "region-nyc1", "cdk.tf.json"), "utf8");
    const file = path.join(dir, "bad.yaml");
    fs.writeFileSync(file, "project: [unclosed\n");
    const r = capture(["--topology", file, "--out", out]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/line 2, column 1: /);
    expect(fs.readFileSync(path.join(out, "stacks", "region-nyc1", "cdk.tf.json"), "utf8")).toBe(before);
  });

  it("exits 2 on an existing --out folder it did not make, and writes no stacks there", () => {
    const out = tempDir();
    fs.writeFileSync(path.join(out, "notes.txt"), "mine\n");
    const r = capture(["--topology", EXAMPLE_FILE, "--out", out]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error: --out ${out} exists and was not written by shop-multiregion (no manifest.json listing stacks); nothing written`);
    expect(fs.readdirSync(out)).toEqual(["notes.txt"]);
  });

  it("exits 2 when <out>/ansible holds files the generator did not write, before writing the stacks", () => {
    const out = path.join(tempDir(), "cdktf.out");
    expect(capture(["--topology", EXAMPLE_FILE, "--out", out]).code).toBe(0); // stacks, no tree
    fs.rmSync(path.join(out, "stacks", "global"), { recursive: true });
    fs.mkdirSync(path.join(out, "ansible"));
    fs.writeFileSync(path.join(out, "ansible", "site.yml"), "# hand-written\n");
    const r = capture(["--out", out]); // the example brings its outputs, so the tree is due
    expect(r.code).toBe(2);
    expect(r.err).toContain(`error: ${path.join(out, "ansible")} exists and was not written by the generator`);
    expect(fs.existsSync(path.join(out, "stacks", "global"))).toBe(false); // the stacks were not written again
    expect(fs.readFileSync(path.join(out, "ansible", "site.yml"), "utf8")).toBe("# hand-written\n");
  });

  it("rejects unknown arguments with usage", () => {
    const r = capture(["--topolgy", "x.yaml"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error: Unknown option '--topolgy'/);
    expect(r.err).toContain("usage: npm start -- [--topology FILE] [--outputs FILE] [--out DIR] [--help]");
  });

  it("prints its usage on --help and exits 0, writing nothing", () => {
    const r = capture(["--help", "--out", path.join(tempDir(), "never")]);
    expect([r.code, r.out, r.err]).toEqual([0, "usage: npm start -- [--topology FILE] [--outputs FILE] [--out DIR] [--help]", ""]);
  });
});

describe("under the cdktf CLI (cdktf synth|deploy)", () => {
  const io = () => {
    const err: string[] = [];
    return { err, io: { log: () => undefined, error: (s: string) => err.push(s) } };
  };

  it("fails without SHOP_TOPOLOGY instead of synthesizing the bundled example", () => {
    const out = tempDir();
    const { err, io: sink } = io();
    expect(runUnderCdktf({ CDKTF_OUTDIR: out }, sink)).toBe(2);
    expect(err.join("\n")).toBe("error: SHOP_TOPOLOGY is not set; under cdktf synth/deploy the topology comes from it (e.g. SHOP_TOPOLOGY=examples/topology.yaml cdktf synth), and the bundled example is never deployed by default");
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it("names a bad SHOP_TOPOLOGY file", () => {
    const { err, io: sink } = io();
    expect(runUnderCdktf({ CDKTF_OUTDIR: tempDir(), SHOP_TOPOLOGY: "nope.yaml" }, sink)).toBe(2);
    expect(err.join("\n")).toMatch(/^error: nope\.yaml: 1 problem:\n  - file not found/);
  });
});
