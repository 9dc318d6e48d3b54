// Shared fixtures for the generator's tests: the bundled example topology and its production env.
import * as fs from "fs";
import * as path from "path";
import { hostsOf, type Host } from "../../lib/model/hosts";
import { loadTopology, parseTopology } from "../../lib/model/load";
import { parseDeployOutputs, type DeployOutputs } from "../../lib/model/outputs";
import type { Topology } from "../../lib/model/types";

export const ROOT = path.resolve(__dirname, "../..");
export const EXAMPLE_TOPOLOGY = path.join(ROOT, "examples/topology.yaml");
export const EXAMPLE_OUTPUTS = path.join(ROOT, "examples/outputs.json");

export const example = (): Topology => loadTopology(EXAMPLE_TOPOLOGY);

/** The example in standby-cluster mode (the witness keeps hosting the third Sentinel). */
export function standbyExample(): Topology {
  const text = fs.readFileSync(EXAMPLE_TOPOLOGY, "utf8").replace("mode: stretched", "mode: standby-cluster");
  return parseTopology(text, "standby.yaml");
}

export const exampleOutputs = (): DeployOutputs => parseDeployOutputs(JSON.parse(fs.readFileSync(EXAMPLE_OUTPUTS, "utf8")), EXAMPLE_OUTPUTS);

export function hostNamed(t: Topology, name: string): Host {
  const host = hostsOf(t).find((h) => h.name === name);
  if (!host) throw new Error(`no host ${name} in the topology`);
  return host;
}
