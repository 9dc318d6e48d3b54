// npm run generate -- [--topology FILE] [--outputs FILE] [--out DIR]
// Writes the Ansible tree for a deployment. The shared CLI convention (lib/cli.ts): a user mistake is
// one clear message and exit code 2, and nothing is written; --help prints the usage.
import * as fs from "fs";
import { CONSOLE_IO, EXIT, parseCli, reportError, type Io } from "../lib/cli";
import { loadTopology, TopologyError } from "../lib/model/load";
import { checkOutputs, OutputsError, parseDeployOutputs, type DeployOutputs } from "../lib/model/outputs";
import type { Topology } from "../lib/model/types";
import { TreeError } from "./engine/tree";
import { generateAnsible } from "./generate";

export const DEFAULTS = { topology: "examples/topology.yaml", outputs: "examples/outputs.json", out: "cdktf.out/ansible" };
const USAGE = "usage: npm run generate -- [--topology FILE] [--outputs FILE] [--out DIR] [--help]";

export function parseArgs(argv: readonly string[]): typeof DEFAULTS | "help" {
  const parsed = parseCli(argv, {
    topology: { type: "string", default: DEFAULTS.topology },
    outputs: { type: "string", default: DEFAULTS.outputs },
    out: { type: "string", default: DEFAULTS.out },
  });
  if (parsed === "help") return parsed;
  return { topology: parsed.values.topology!, outputs: parsed.values.outputs!, out: parsed.values.out! };
}

/** Reads a deploy outputs file; with the topology, also holds it against the model (checkOutputs). */
export function readOutputs(file: string, topology?: Topology): DeployOutputs {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new OutputsError(file, [code === "ENOENT" ? "file not found; write it with cdktf deploy --outputs-file FILE, or pass --outputs FILE" : `cannot be read (${code})`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new OutputsError(file, [`is not valid JSON (${(e as Error).message}); write it again with cdktf deploy --outputs-file FILE`]);
  }
  const outputs = parseDeployOutputs(json, file);
  if (topology) checkOutputs(topology, outputs, file);
  return outputs;
}

/** Runs the generator; returns the process exit code. */
export function main(argv: readonly string[], log: Io["log"] = CONSOLE_IO.log, error: Io["error"] = CONSOLE_IO.error): number {
  try {
    const options = parseArgs(argv);
    if (options === "help") {
      log(USAGE);
      return EXIT.ok;
    }
    const topology = loadTopology(options.topology);
    const { files } = generateAnsible(topology, readOutputs(options.outputs, topology), options.out, options.outputs);
    log(`wrote ${files} files to ${options.out}`);
    log(`next: ansible-playbook -i ${options.out}/inventory/hosts.yml ${options.out}/site.yml -e @vault.yml --ask-vault-pass`);
    return EXIT.ok;
  } catch (e) {
    return reportError(e, { log, error }, USAGE, [TopologyError, OutputsError, TreeError]);
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
