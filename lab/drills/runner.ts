// Runs drills over any backend: one backend per timing preset (the chosen one and Patroni's stock
// baseline), the drills in order, a backend rebuilt when a drill left it broken.
import type { TimingPresetName } from "../../lib/model";
import type { BackendProvider, DrillBackend } from "../backends/types";
import { DRILLS } from "./registry";
import { printRow, printSummary } from "./report";
import { abortedResult, type DrillResult } from "./types";

export async function runDrills(provider: BackendProvider, presets: readonly TimingPresetName[], names: readonly string[], repeat: number, log: (l: string) => void): Promise<DrillResult[]> {
  const lacking = names.flatMap((n) => DRILLS[n].needs.filter((c) => !provider.capabilities.has(c)).map((c) => `${n} needs ${c}`));
  if (lacking.length) throw new Error(`the ${provider.kind} backend cannot run: ${lacking.join(", ")}`);
  const results: DrillResult[] = [];
  for (const preset of presets) {
    let { backend, owned } = await provider.acquire(preset, log);
    try {
      let broken: string | null = null;
      for (const name of names) {
        for (let i = 0; i < repeat; i++) {
          // Each drill starts from a healthy backend: rebuild one a drill left broken (not one we were lent).
          if (broken !== null && owned) {
            log(`  rebuilding the ${backend.kind === "loopback" ? "lab" : backend.kind} after ${broken}`);
            await backend.down(keepAs(preset, results.length));
            ({ backend, owned } = await provider.acquire(preset, log));
          }
          const r = await run(backend, name, log);
          results.push(r);
          printRow(r, log);
          broken = r.healed ? null : name;
        }
      }
    } finally {
      if (owned) log(await backend.down(keepAs(preset, results.length)));
    }
  }
  printSummary(results, log);
  return results;
}

function run(backend: DrillBackend, name: string, log: (l: string) => void): Promise<DrillResult> {
  const ctx = { backend, log, random: Math.random };
  return DRILLS[name].run(ctx).catch((e: Error) => abortedResult(name, ctx, e));
}

/** The name a torn-down backend's kept logs go under: its preset and the drills run before it went down. */
function keepAs(preset: TimingPresetName, drillsSoFar: number): string {
  return `${preset}-after-${drillsSoFar}-drills`;
}
