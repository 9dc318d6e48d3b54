// Synthesis for `npm start`: build the app, synthesize into a staging directory, and only when every
// stack passed its policies swap the result into the output directory (nothing half-written).
import * as fs from "fs";
import * as path from "path";
import type { Topology } from "./model";
import type { App } from "cdktf";
import { buildApp } from "./stacks/app";

export interface SynthSummary {
  readonly stacks: ReadonlyArray<{ readonly name: string; readonly resources: Readonly<Record<string, number>> }>;
}

export class OutDirError extends Error {}

/** Refuses an existing, non-empty output folder that synthesis did not make (no cdktf manifest.json
 * listing stacks): its `stacks/` would be replaced. Called before anything is written. */
export function checkOutDir(outdir: string): void {
  if (!fs.existsSync(outdir)) return;
  if (!fs.statSync(outdir).isDirectory()) throw new OutDirError(`--out ${outdir} is a file, not a folder; pass a new or empty folder`);
  if (fs.readdirSync(outdir).length === 0) return;
  let manifest: unknown;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(outdir, "manifest.json"), "utf8"));
  } catch {
    manifest = undefined;
  }
  if (typeof manifest !== "object" || manifest === null || !("stacks" in manifest)) {
    throw new OutDirError(`--out ${outdir} exists and was not written by shop-multiregion (no manifest.json listing stacks); nothing written — pass a new or empty folder, e.g. --out cdktf.out`);
  }
}

/** Synthesizes every stack into `<outdir>/stacks/<stack>/cdk.tf.json` and `<outdir>/manifest.json`.
 * `build` makes the app in a given directory (tests pass one with an injected fault). */
export function synthesize(t: Topology, outdir: string, build: (dir: string) => App = (dir) => buildApp(t, dir, outdir).app): SynthSummary {
  checkOutDir(outdir);
  fs.mkdirSync(outdir, { recursive: true });
  const staging = fs.mkdtempSync(path.join(outdir, ".staging-"));
  try {
    build(staging).synth();
    for (const entry of ["stacks", "manifest.json"]) {
      fs.rmSync(path.join(outdir, entry), { recursive: true, force: true });
      fs.renameSync(path.join(staging, entry), path.join(outdir, entry));
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return summarize(outdir);
}

export function summarize(outdir: string): SynthSummary {
  const stacksDir = path.join(outdir, "stacks");
  const stacks = fs.readdirSync(stacksDir).sort().map((name) => {
    const json = JSON.parse(fs.readFileSync(path.join(stacksDir, name, "cdk.tf.json"), "utf8"));
    const resources: Record<string, number> = {};
    for (const [type, byId] of Object.entries((json.resource ?? {}) as Record<string, object>)) resources[type] = Object.keys(byId).length;
    return { name, resources };
  });
  return { stacks };
}
