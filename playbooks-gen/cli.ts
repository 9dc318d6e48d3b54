// npm run generate -- [--topology FILE] [--outputs FILE] [--out DIR]
// Writes the Ansible tree for a deployment; a user mistake is one clear message and exit code 1,
// and nothing is written.
import * as fs from "fs";
import { loadTopology, TopologyError } from "../lib/model/load";
import { checkOutputs, OutputsError, parseDeployOutputs, type DeployOutputs } from "../lib/model/outputs";
import type { Topology } from "../lib/model/types";
import { TreeError } from "./engine/tree";
import { generateAnsible } from "./generate";

export const DEFAULTS = { topology: "examples/topology.yaml", outputs: "examples/outputs.json", out: "cdktf.out/ansible" };
const USAGE = "usage: npm run generate -- [--topology FILE] [--outputs FILE] [--out DIR]";

class UsageError extends Error {}

export function parseArgs(argv: readonly string[]): typeof DEFAULTS {
  const options = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, "");
    if (!argv[i].startsWith("--") || !(key in options)) throw new UsageError(`unknown argument ${argv[i]}\n${USAGE}`);
    const value = argv[++i];
    if (value === undefined || value.startsWith("--")) throw new UsageError(`${argv[i - 1]} needs a value\n${USAGE}`);
    options[key as keyof typeof DEFAULTS] = value;
  }
  return options;
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
export function main(argv: readonly string[], log: (line: string) => void = console.log, error: (line: string) => void = console.error): number {
  try {
    const options = parseArgs(argv);
    const topology = loadTopology(options.topology);
    const { files } = generateAnsible(topology, readOutputs(options.outputs, topology), options.out, options.outputs);
    log(`wrote ${files} files to ${options.out}`);
    log(`next: ansible-playbook -i ${options.out}/inventory/hosts.yml ${options.out}/site.yml -e @vault.yml --ask-vault-pass`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof TopologyError || e instanceof OutputsError || e instanceof TreeError) {
      error(`error: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
