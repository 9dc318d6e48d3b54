// How the drill runner gets loopback labs: one per preset, reusing a lab `up` left running with that
// preset (lent: never torn down or rebuilt), otherwise booting one (on the next /24 when a lab kept up
// by `up` holds the default addresses).
import { loadTopology, type TimingPresetName } from "../../../lib/model";
import type { BackendProvider, Capability } from "../types";
import { labHookHost, labHosts } from "./env";
import { Lab, type LabOptions } from "./lab";

/** How to get a capability the loopback lab lacks, for the registry's refusal. */
export const LOOPBACK_HINTS: Partial<Record<Capability, string>> = {
  partitions: "cuts a region off through the lab WAN: run it with --wan-rtt MS (e.g. --wan-rtt 60)",
};

/** What a loopback lab with these options can do, known before it boots. */
export function loopbackCapabilities(options: Pick<LabOptions, "topologyFile" | "wanRttMs">): ReadonlySet<Capability> {
  const t = loadTopology(options.topologyFile);
  const caps: Capability[] = ["watchdog"];
  if (options.wanRttMs) caps.push("partitions");
  if (labHookHost(t, labHosts(t)) !== undefined) caps.push("fenceApi");
  return new Set(caps);
}

/** Whether a drill may run on the lab `up` left running: same preset, same topology file, no WAN. */
export function reusable(running: { readonly preset: TimingPresetName; readonly topologyFile: string } | null, options: Pick<LabOptions, "topologyFile" | "wanRttMs">, preset: TimingPresetName): boolean {
  return running !== null && running.preset === preset && running.topologyFile === options.topologyFile && !options.wanRttMs;
}

export function loopbackProvider(options: LabOptions): BackendProvider {
  const announced = new Set<TimingPresetName>();
  return {
    kind: "loopback",
    capabilities: loopbackCapabilities(options),
    async acquire(preset, log) {
      // A lab left up by `up` has no WAN: reuse it only for drills without one, and only when it runs
      // this very topology (a lab of the stretched example cannot stand in for the standby cluster's).
      const reuse = reusable(Lab.exists(options.root) ? Lab.open(options.root) : null, options, preset);
      // A lab kept up by `up` holds the default addresses: a second one takes the next /24.
      const other = Lab.exists(options.root) && !reuse;
      const opts = other ? { ...options, preset, root: `${options.root}-${preset}`, net: options.net.replace(/\d+$/, (o) => String((Number(o) + 1) % 256)) } : { ...options, preset };
      // Once per preset: a rebuild after a broken drill says so itself.
      if (!announced.has(preset)) log(`\n== preset ${preset}${options.wanRttMs ? `, ${options.wanRttMs} ms between regions` : ""}: ${reuse ? "using the running lab" : "booting a lab"} ==`);
      announced.add(preset);
      return reuse ? { backend: Lab.open(opts.root, log), owned: false } : { backend: await Lab.up(opts, log), owned: true };
    },
  };
}
