// Users run the cdktf CLI (`cdktf synth`, `cdktf deploy`) through cdktf.json: it must run the same app
// and produce the same stacks as `npm start`.
import { spawnSync } from "child_process";
import * as path from "path";
import { synthesize } from "../../lib/synth";
import { example } from "../support/topology";
import { readTree, tempDir } from "../support/synth";

const ROOT = path.join(__dirname, "../..");

describe("cdktf CLI", () => {
  it("synthesizes through cdktf.json the same stacks as npm start", () => {
    const cliOut = tempDir();
    const cli = spawnSync(path.join(ROOT, "node_modules/.bin/cdktf"), ["synth", "--output", cliOut], {
      cwd: ROOT, encoding: "utf8", timeout: 240_000, env: { ...process.env, CI: "1", CHECKPOINT_DISABLE: "1", SHOP_TOPOLOGY: "examples/topology.yaml" },
    });
    expect({ status: cli.status, stderr: cli.status === 0 ? "" : cli.stderr }).toEqual({ status: 0, stderr: "" });
    const ours = tempDir();
    synthesize(example(), ours);
    const stacks = (tree: Record<string, string>) => Object.fromEntries(Object.entries(tree).filter(([p]) => p.endsWith("cdk.tf.json")));
    expect(Object.keys(stacks(readTree(cliOut))).sort()).toEqual(Object.keys(stacks(readTree(ours))).sort());
    expect(stacks(readTree(cliOut))).toEqual(stacks(readTree(ours)));
  });
});
