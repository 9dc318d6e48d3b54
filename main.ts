#!/usr/bin/env node
// shop-multiregion entry point. `npm start [-- --topology FILE] [--outputs FILE] [--out DIR]`
// synthesizes the Terraform JSON of every stack into cdktf.out/, prints a summary, and writes the
// Ansible tree to cdktf.out/ansible/ when deploy outputs are at hand (the bundled example ships
// documentation addresses in examples/outputs.json). Under the cdktf CLI (`cdktf synth`,
// `cdktf deploy`, which set CDKTF_OUTDIR) it synthesizes where the CLI asks; the topology then comes
// from SHOP_TOPOLOGY, which must be set.
import * as path from "path";
import { loadTopology, OutputsError, rtoBudget, TopologyError, type Topology } from "./lib/model";
import { checkTreeTarget, TreeError, writeTree } from "./playbooks-gen/engine/tree";
import { readOutputs } from "./playbooks-gen/cli";
import { generateTree } from "./playbooks-gen/generate";
import { buildApp } from "./lib/stacks/app";
import { checkOutDir, OutDirError, synthesize, type SynthSummary } from "./lib/synth";
import { writeReview } from "./lib/report/cli";
import { EXIT, parseCli, reportError, type Io } from "./lib/cli";

const DEFAULT_TOPOLOGY = "examples/topology.yaml";
const DEFAULT_OUTPUTS = "examples/outputs.json";
const USAGE = "usage: npm start -- [--topology FILE] [--outputs FILE] [--out DIR] [--help]";

export interface CliOptions {
  readonly topology: string;
  /** Deploy outputs for the Ansible tree; defaults to the bundled example's only with the example. */
  readonly outputs?: string;
  readonly out: string;
}

export function parseArgs(argv: readonly string[]): CliOptions | "help" {
  const parsed = parseCli(argv, { topology: { type: "string", default: DEFAULT_TOPOLOGY }, outputs: { type: "string" }, out: { type: "string", default: "cdktf.out" } });
  if (parsed === "help") return parsed;
  const { topology, outputs, out } = parsed.values;
  return { topology: topology!, out: out!, outputs: outputs ?? (topology === DEFAULT_TOPOLOGY ? DEFAULT_OUTPUTS : undefined) };
}

export function printSummary(t: Topology, summary: SynthSummary, out: string, log: (s: string) => void = console.log): void {
  log(`shop-multiregion: ${t.project} (${t.environment}), database mode ${t.database.mode}, timing preset ${t.timing}`);
  log(`regions: ${t.regions.map((r) => `${r.slug} (${r.role}, VPC ${r.vpcRange})`).join(", ")}`);
  for (const s of summary.stacks) {
    const total = Object.values(s.resources).reduce((a, b) => a + b, 0);
    log(`stack ${s.name}: ${total} resources`);
    for (const [type, n] of Object.entries(s.resources).sort()) log(`  ${String(n).padStart(3)} ${type}`);
  }
  const rto = rtoBudget(t);
  log(`worst-case recovery budget (s): primary loss ${rto.primaryLoss}, postgres crash ${rto.postgresCrash}, region loss ${rto.regionLossDatabase ?? "manual"} (database) / ${rto.regionLossEdge ?? "manual"} (edge), redis primary loss ${rto.redisPrimaryLoss}`);
  log(`wrote ${path.join(out, "stacks")}/<stack>/cdk.tf.json for ${summary.stacks.length} stacks`);
}

export type { Io };

/** Runs the CLI; returns the exit code (2: bad input, 3: a policy check failed). */
export function run(argv: readonly string[], io: Io = { log: console.log, error: console.error }): number {
  try {
    const opts = parseArgs(argv);
    if (opts === "help") {
      io.log(USAGE);
      return EXIT.ok;
    }
    const topology = loadTopology(opts.topology);
    // The Ansible tree is rendered in memory before anything is written, so bad outputs leave the
    // previous output intact.
    const tree = opts.outputs === undefined ? undefined : generateTree(topology, readOutputs(opts.outputs, topology), opts.outputs);
    // Both destinations are checked before the stacks are written (nothing half-written).
    checkOutDir(opts.out);
    if (tree) checkTreeTarget(path.join(opts.out, "ansible"));
    printSummary(topology, synthesize(topology, opts.out), opts.out, io.log);
    // The pull request's review page (npm run report), from the stacks just written.
    io.log(`wrote ${writeReview(topology, opts.out, opts.out).file}`);
    if (tree) {
      const ansible = path.join(opts.out, "ansible");
      writeTree(ansible, tree);
      io.log(`wrote the Ansible tree (${Object.keys(tree).length} files) to ${ansible}/ from ${opts.outputs}`);
    } else {
      io.log("no deploy outputs given: after `cdktf deploy --outputs-file FILE`, run `npm run generate -- --topology FILE --outputs FILE`");
    }
    return 0;
  } catch (e) {
    return reportError(e, io, USAGE, [TopologyError, OutputsError, TreeError, OutDirError], (err) => /Validation failed/.test(err.message));
  }
}

/** Under the cdktf CLI (`cdktf synth|deploy`): the topology must be named in SHOP_TOPOLOGY, never
 * defaulted, so a deploy cannot build the bundled example by accident. Returns the exit code. */
export function runUnderCdktf(env: NodeJS.ProcessEnv, io: Io = { log: console.log, error: console.error }): number {
  const file = env.SHOP_TOPOLOGY;
  if (!file) {
    io.error(`error: SHOP_TOPOLOGY is not set; under cdktf synth/deploy the topology comes from it (e.g. SHOP_TOPOLOGY=${DEFAULT_TOPOLOGY} cdktf synth), and the bundled example is never deployed by default`);
    return 2;
  }
  try {
    buildApp(loadTopology(file, env)).app.synth();
    return EXIT.ok;
  } catch (e) {
    return reportError(e, io, USAGE, [TopologyError], (err) => /Validation failed/.test(err.message));
  }
}

if (require.main === module) {
  if (process.env.CDKTF_OUTDIR) {
    process.exitCode = runUnderCdktf(process.env);
  } else {
    process.exitCode = run(process.argv.slice(2));
  }
}
