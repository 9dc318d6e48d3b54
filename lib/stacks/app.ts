// Builds the whole cdktf app for a topology: the network stack, a stack per region, the global stack, and the policy
// aspect. Used by main.ts (synthesis), by `cdktf synth`/`deploy` through cdktf.json, and by tests.
import { App, Aspects } from "cdktf";
import { GLOBAL_STACK_NAME, type Topology } from "../model";
import { OUTDIR_CONTEXT } from "../backend";
import { PolicyAspect } from "../policy/aspect";
import { GlobalStack } from "./global-stack";
import { NetworkStack } from "./network-stack";
import { RegionStack } from "./region-stack";

export interface ShopApp {
  readonly app: App;
  readonly network: NetworkStack;
  readonly regions: readonly RegionStack[];
  readonly global: GlobalStack;
}

/** `finalOutdir`: where the stacks land when `outdir` is a staging folder (local state paths are
 * anchored at the project root from there). */
export function buildApp(t: Topology, outdir?: string, finalOutdir?: string): ShopApp {
  // No stack traces in the manifest: they hold absolute paths and break byte-identical output.
  const app = new App({ outdir, stackTraces: false, context: finalOutdir === undefined ? {} : { [OUTDIR_CONTEXT]: finalOutdir } });
  const network = new NetworkStack(app, t);
  const regions = t.regions.map((r) => new RegionStack(app, t, r, network));
  const global = new GlobalStack(app, t, regions);
  // cdktf invokes aspects from each stack down, so the aspect goes on every stack (not on the app).
  const policy = new PolicyAspect(t, GLOBAL_STACK_NAME);
  for (const stack of [network, ...regions, global]) Aspects.of(stack).add(policy);
  return { app, network, regions, global };
}
