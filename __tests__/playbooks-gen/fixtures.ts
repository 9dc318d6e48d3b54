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
  // Each region runs its own etcd in this mode: three members, so one lost droplet leaves a majority.
  const text = fs.readFileSync(EXAMPLE_TOPOLOGY, "utf8").replace("mode: stretched", "mode: standby-cluster")
    .replace(/etcd: \{ count: 1 \}/g, "etcd: { count: 3 }");
  return parseTopology(text, "standby.yaml");
}

export const exampleOutputs = (): DeployOutputs => parseDeployOutputs(JSON.parse(fs.readFileSync(EXAMPLE_OUTPUTS, "utf8")), EXAMPLE_OUTPUTS);

/** The example's deploy outputs plus the two more etcd droplets per region that standbyExample() has
 * (addresses after the last one the example's outputs use in each region). */
export function standbyOutputs(): DeployOutputs {
  const base = exampleOutputs();
  const hosts = { ...base.hosts };
  for (const [region, third] of [["nyc1", "10.219.0"], ["ams3", "10.219.16"]] as const) {
    const first = hosts[`etcd-${region}-1`];
    for (const n of [2, 3]) {
      const name = `etcd-${region}-${n}`;
      hosts[name] = { ...first, name, private_ipv4: `${third}.${40 + n}`, public_ipv4: `192.0.2.${region === "nyc1" ? 140 + n : 150 + n}` };
    }
  }
  return { ...base, hosts };
}

export function hostNamed(t: Topology, name: string): Host {
  const host = hostsOf(t).find((h) => h.name === name);
  if (!host) throw new Error(`no host ${name} in the topology`);
  return host;
}

/** The deploy outputs that cover the given example topology (stretched or standby-cluster). */
export const outputsFor = (t: Topology): DeployOutputs => t.database.mode === "standby-cluster" ? standbyOutputs() : exampleOutputs();
