// Synthesizes a topology's whole app into a temporary directory and reads every stack back.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Topology } from "../../lib/model";
import { synthesize } from "../../lib/synth";
import type { StackJson } from "../../lib/policy/json";

export function tempDir(prefix = "shop-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function readStacks(outdir: string): StackJson[] {
  const dir = path.join(outdir, "stacks");
  return fs.readdirSync(dir).sort().map((name) => ({ name, json: JSON.parse(fs.readFileSync(path.join(dir, name, "cdk.tf.json"), "utf8")) }));
}

/** Every file of a synthesized tree as {relative path: content}. */
export function readTree(outdir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else files[path.relative(outdir, full)] = fs.readFileSync(full, "utf8");
    }
  };
  walk(outdir);
  return files;
}

export function synthStacks(t: Topology): { outdir: string; stacks: StackJson[] } {
  const outdir = tempDir();
  synthesize(t, outdir);
  return { outdir, stacks: readStacks(outdir) };
}
