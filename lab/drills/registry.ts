// The named drills: what each applies to (database mode), what it needs of a backend beyond the
// DrillBackend core, its RTO targets, and how it runs. The CLI and the runner refuse a drill that does
// not fit the topology or the backend before anything boots.
import type { DatabaseMode, Topology } from "../../lib/model";
import type { BackendKind, Capability } from "../backends/types";
import { waitFor } from "../proc";
import { etcdQuorumLoss, failback, fenceAndPromote, freezePatroni, healPartition, inRegionCandidate, loseRegion, partitionRegion, restoreRegion, switchover } from "./faults";
import { runPgDrill, type PgDrillSpec } from "./pg-drill";
import { runRedisDrill } from "./redis-drill";
import { Findings, HEALTHY_WAIT_MS, type DrillContext, type DrillDef, type DrillResult } from "./types";

const none = async () => {};
const BOTH = ["stretched", "standby-cluster"] as const;

/** A database drill: `spec` run by the shared harness, judged against its target for the preset. */
function pgDrill(modes: readonly DatabaseMode[], spec: Omit<PgDrillSpec, "name">, opts: Pick<DrillDef, "targets"> & { needs?: readonly Capability[] } = {}) {
  return (name: string): DrillDef => ({
    modes, needs: opts.needs ?? [], targets: opts.targets,
    run: (ctx) => runPgDrill(ctx, { name, ...spec }, opts.targets?.[ctx.backend.preset] ?? null),
  });
}

/** region-return: lose the primary region (not measured), then measure its return and the failback. */
async function regionReturn(ctx: DrillContext): Promise<DrillResult> {
  const { backend } = ctx;
  await backend.waitHealthy(HEALTHY_WAIT_MS);
  const home = backend.host((await backend.leader())!);
  const lost = new Findings();
  await loseRegion(ctx, lost, home, () => false);
  await waitFor("a leader outside the lost region", 120_000, async () => { const l = await backend.leader(); return l !== null && l !== home.name; }, 250);
  return runPgDrill(ctx, {
    name: "region-return", expectNewPrimary: true, degraded: true, avoidRegion: () => home.region,
    fault: async (c, f) => {
      f.note(...lost.notes);
      for (const v of lost.violations) f.violation(v);
      await restoreRegion(c, f, home.region);
      await failback(c, f, home.region);
    },
    heal: none,
  }, null);
}

const DEFS: Record<string, (name: string) => DrillDef> = {
  "primary-loss": pgDrill(BOTH, {
    expectNewPrimary: true,
    // A droplet power-off: Patroni, PostgreSQL, etcd (if any) and the watchdog go at once, as in a cloud.
    fault: async ({ backend }, f, leader) => { await backend.powerOff(leader.name); f.note(`powered off ${leader.name}`); },
    heal: async ({ backend }, f, leader) => { await backend.powerOn(leader.name); f.note(`powered ${leader.name} on again`); },
  }, { targets: { fast: 8, balanced: 15 } }),
  "postgres-crash": pgDrill(BOTH, {
    expectNewPrimary: false,
    fault: async ({ backend }, f, leader) => { await backend.killService(leader.name, "postgresql"); f.note("SIGKILL PostgreSQL only"); },
    heal: none,
  }),
  "patroni-freeze": pgDrill(BOTH, { expectNewPrimary: true, fault: freezePatroni, heal: none }, { needs: ["watchdog"] }),
  switchover: pgDrill(BOTH, {
    expectNewPrimary: true,
    fault: async (ctx, f, leader) => switchover(ctx, f, leader.name, inRegionCandidate(await ctx.backend.members(), ctx, leader)),
    heal: none,
  }, { targets: { fast: 2, balanced: 2 } }),
  "region-loss": pgDrill(["stretched"], {
    expectNewPrimary: true, avoidRegion: (l) => l.region, crossRegion: true, withRedis: true,
    fault: loseRegion,
    heal: async (ctx, f, old) => { await restoreRegion(ctx, f, old.region); await failback(ctx, f, old.region); },
  }, { targets: { balanced: 20 } }),
  "etcd-quorum-loss": pgDrill(["stretched"], { expectNewPrimary: false, fault: etcdQuorumLoss, heal: none }),
  "region-partition": pgDrill(["stretched"], {
    expectNewPrimary: true, avoidRegion: (l) => l.region, crossRegion: true, withRedis: true, cutOff: true,
    fault: partitionRegion,
    heal: healPartition,
  }, { needs: ["partitions"] }),
  "standby-promote": pgDrill(["standby-cluster"], {
    expectNewPrimary: true, avoidRegion: (l) => l.region, crossRegion: true, regionGone: true, withRedis: true,
    fault: fenceAndPromote,
    heal: none,
  }, { needs: ["fenceApi"] }),
  "region-return": () => ({ modes: ["stretched"], needs: [], run: regionReturn }),
  "redis-primary-loss": () => {
    const targets: DrillDef["targets"] = { fast: 8, balanced: 8 };
    return { modes: BOTH, needs: [], targets, run: (ctx) => runRedisDrill(ctx, targets[ctx.backend.preset] ?? null) };
  },
};

/** Every drill by name, in the order `--help` lists them. */
export const DRILLS: Readonly<Record<string, DrillDef>> = Object.fromEntries(Object.entries(DEFS).map(([name, def]) => [name, def(name)]));

/** What `drill` runs without names: the CI set of the topology's mode. */
export function defaultDrills(mode: DatabaseMode): string[] {
  return ["primary-loss", "switchover", mode === "stretched" ? "region-loss" : "standby-promote", "redis-primary-loss"];
}

/** What each capability is, for refusals. */
const CAPABILITY_TEXT: Readonly<Record<Capability, string>> = {
  watchdog: "a host watchdog the drill can read, and pausing Patroni alone",
  partitions: "cutting a region off from the other regions",
  fenceApi: "an address for the DigitalOcean API stand-in the failover hook fences through",
  customers: "customers through the edge stand-ins (Cloudflare and the regional load balancers)",
};

/**
 * Refuses, all at once, drills that are unknown, do not apply to the topology's database mode, or need
 * a capability the backend lacks. `hints` says, per capability, how to get it on this backend (e.g.
 * the loopback lab's `--wan-rtt`); `topologyFile` names the file in the message.
 */
export function checkDrills(names: readonly string[], t: Topology, topologyFile: string, backend: { kind: BackendKind; capabilities: ReadonlySet<Capability> }, hints: Partial<Record<Capability, string>> = {}): void {
  const unknown = names.filter((n) => !(n in DRILLS));
  if (unknown.length) throw new Error(`unknown drill ${unknown.join(", ")}; drills: ${Object.keys(DRILLS).join(", ")}`);
  const mode = t.database.mode;
  const misplaced = names.filter((n) => !DRILLS[n].modes.includes(mode));
  if (misplaced.length) {
    const fits = Object.keys(DRILLS).filter((n) => DRILLS[n].modes.includes(mode));
    throw new Error(`${topologyFile}: database.mode is "${mode}", which drill ${misplaced.map((n) => `${n} (needs ${DRILLS[n].modes.join(" or ")})`).join(", ")} does not apply to; `
      + `drills for this topology: ${fits.join(", ")}${misplaced.includes("standby-promote") ? "; for standby-promote use --topology examples/topology-standby-cluster.yaml" : ""}`);
  }
  const lacking = names.flatMap((n) => DRILLS[n].needs.filter((c) => !backend.capabilities.has(c)).map((c) => [n, c] as const));
  if (lacking.length) {
    throw new Error(lacking.map(([n, c]) => hints[c] ? `${n} ${hints[c]}` : `drill ${n} needs ${c} (${CAPABILITY_TEXT[c]}), which the ${backend.kind} backend does not have`).join("\n"));
  }
}
