#!/usr/bin/env node
// shop-multiregion entry point. `npm start [-- --topology FILE] [--out DIR]` synthesizes the Terraform
// JSON of every stack into cdktf.out/ and prints a summary. Under the cdktf CLI (`cdktf synth`,
// `cdktf deploy`, which set CDKTF_OUTDIR) it synthesizes where the CLI asks; the topology then comes
// from SHOP_TOPOLOGY (default: the bundled example).
import * as path from "path";
import { loadTopology, rtoBudget, TopologyError, type Topology } from "./lib/model";
import { buildApp } from "./lib/stacks/app";
import { synthesize, type SynthSummary } from "./lib/synth";

const DEFAULT_TOPOLOGY = "examples/topology.yaml";

export interface CliOptions {
  readonly topology: string;
  readonly out: string;
}

export function parseArgs(argv: readonly string[]): CliOptions {
  const opts = { topology: DEFAULT_TOPOLOGY, out: "cdktf.out" };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === "--topology" || flag === "--out") {
      if (!value || value.startsWith("--")) throw new UsageError(`${flag} needs a value`);
      opts[flag === "--topology" ? "topology" : "out"] = value;
      i++;
    } else {
      throw new UsageError(`unknown argument ${JSON.stringify(flag)}`);
    }
  }
  return opts;
}

class UsageError extends Error {}

export function printSummary(t: Topology, summary: SynthSummary, out: string, log: (s: string) => void = console.log): void {
  log(`shop-multiregion: ${t.project} (${t.environment}), database mode ${t.database.mode}, timing preset ${t.timing}`);
  log(`regions: ${t.regions.map((r) => `${r.slug} (${r.role}, VPC ${r.vpcRange})`).join(", ")}`);
  for (const s of summary.stacks) {
    const total = Object.values(s.resources).reduce((a, b) => a + b, 0);
    log(`stack ${s.name}: ${total} resources`);
    for (const [type, n] of Object.entries(s.resources).sort()) log(`  ${String(n).padStart(3)} ${type}`);
  }
  const rto = rtoBudget(t);
  log(`worst-case recovery budget (s): primary loss ${rto.primaryLoss}, postgres crash ${rto.postgresCrash}, region loss ${rto.regionLossDatabase} (database) / ${rto.regionLossWeb} (edge), redis primary loss ${rto.redisPrimaryLoss}`);
  log(`wrote ${path.join(out, "stacks")}/<stack>/cdk.tf.json for ${summary.stacks.length} stacks`);
}

export interface Io {
  readonly log: (s: string) => void;
  readonly error: (s: string) => void;
}

/** Runs the CLI; returns the exit code (2: bad input, 3: a policy check failed). */
export function run(argv: readonly string[], io: Io = { log: console.log, error: console.error }): number {
  try {
    const opts = parseArgs(argv);
    const topology = loadTopology(opts.topology);
    printSummary(topology, synthesize(topology, opts.out), opts.out, io.log);
    return 0;
  } catch (e) {
    if (e instanceof TopologyError || e instanceof UsageError) {
      io.error(`error: ${e.message}`);
      if (e instanceof UsageError) io.error("usage: npm start -- [--topology FILE] [--out DIR]");
      return 2;
    }
    if (e instanceof Error && /Validation failed/.test(e.message)) {
      io.error(`error: policy check failed, nothing written:\n${e.message}`);
      return 3;
    }
    throw e;
  }
}

if (require.main === module) {
  if (process.env.CDKTF_OUTDIR) {
    buildApp(loadTopology(process.env.SHOP_TOPOLOGY ?? DEFAULT_TOPOLOGY)).app.synth();
  } else {
    process.exitCode = run(process.argv.slice(2));
  }
}
