// What every drill shares: its context (a backend), the typed verdict it returns, and the findings it
// gathers on the way (notes for people, violations that fail it).
import type { DatabaseMode, TimingPresetName } from "../../lib/model";
import type { BackendKind, Capability, DrillBackend } from "../backends/types";

export interface DrillContext {
  readonly backend: DrillBackend;
  readonly log: (line: string) => void;
  readonly random: () => number;
}

/** How long a drill waits for the backend's full health (before it starts, after its heal) and for a
 * returning region's nodes to stream again: a bound on a health check, not a target. A clean-clone CI
 * run of the rehearsal on a loaded machine (converge 3× slower than usual) ran out of the former 180 s
 * waiting for every replica to stream after region-loss's failback (2026-12-02). */
export const HEALTHY_WAIT_MS = 600_000;

/** What a drill found: `notes` explain, `violations` fail the drill whatever the numbers say. */
export class Findings {
  readonly notes: string[] = [];
  readonly violations: string[] = [];

  note(...lines: string[]): void {
    this.notes.push(...lines);
  }

  violation(line: string): void {
    this.violations.push(line);
  }
}

export interface DrillResult {
  readonly name: string;
  readonly preset: TimingPresetName;
  /** Which backend ran it. */
  readonly backend: BackendKind;
  /** First failed write to the first acknowledged write after it (null: writes never came back). */
  readonly rtoSeconds: number | null;
  /** Fault to the first direct probe that saw a new primary (pg_is_in_recovery() false). */
  readonly promotedAfterSeconds: number | null;
  readonly ackedWrites: number;
  readonly lostAckedWrites: number;
  /** Lost acknowledged writes the drill tolerates: 0 in a region, and across regions (asynchronous
   * replication) what maximum_lag_on_failover lets Patroni lose, in orders of this run's WAL size. */
  readonly lostAckedWritesBound: number;
  readonly unknownWrites: number;
  readonly failedWrites: number;
  readonly maxConcurrentPrimaries: number;
  readonly targetSeconds: number | null;
  readonly passed: boolean;
  readonly faultDelaySeconds: number;
  readonly oldPrimary: string | null;
  readonly newPrimary: string | null;
  /** Which layer took the time, when the target was missed (or always, for the record). */
  readonly layers: string;
  /** The backend returned to full health afterwards (otherwise the runner rebuilds it). */
  readonly healed: boolean;
  /** Drills that take Redis's primary region with them (withRedis): the Redis write gap through Sentinel. */
  readonly redis?: RedisOutcome;
  /** Backends with the `customers` capability: orders through the edge (Cloudflare and the regional
   * load balancers), the gap a shopper sees. */
  readonly customers?: CustomerOutcome;
  /** What fails the drill beyond the numbers: a promotion without quorum, a replica missing orders,
   * two primaries at once, a drill that aborted or did not recover. */
  readonly violations: readonly string[];
  readonly notes: readonly string[];
}

/** Redis during a region fault, judged against the model's worst-case Redis budget (rtoBudget). Lost
 * acknowledged Redis writes are reported, not judged: Redis replicates asynchronously. */
export interface RedisOutcome {
  /** First failed Redis write to the first acknowledged one after it (null: not back in the drill). */
  readonly rtoSeconds: number | null;
  readonly budgetSeconds: number;
  readonly ackedWrites: number;
  readonly lostAckedWrites: number;
  readonly failedWrites: number;
  readonly unknownWrites: number;
}

export interface CustomerOutcome {
  readonly via: string;
  /** First failed order through the edge to the first acknowledged one after it (0: none failed;
   * null: not back before the drill ended). */
  readonly rtoSeconds: number | null;
  /** The model's bound for this failure class as customers see it, when it has one (region loss). */
  readonly budgetSeconds: number | null;
  readonly ackedWrites: number;
  readonly lostAckedWrites: number;
  /** Lost orders tolerated: as the database writer's across regions, at the customers' own rate when
   * the region is cut off rather than lost. */
  readonly lostAckedWritesBound?: number;
  readonly failedWrites: number;
  readonly unknownWrites: number;
}

/** A named drill: what it applies to, what it needs of a backend, and how it runs. */
export interface DrillDef {
  /** The database modes it applies to: losing the primary region is a different drill in each. */
  readonly modes: readonly DatabaseMode[];
  /** Capabilities beyond the DrillBackend core. */
  readonly needs: readonly Capability[];
  /** Seconds of write unavailability to meet per preset (issue 4); presets without one are judged on data only. */
  readonly targets?: Partial<Record<TimingPresetName, number>>;
  readonly run: (ctx: DrillContext) => Promise<DrillResult>;
}

/** The result of a drill that could not run to its end. */
export function abortedResult(name: string, ctx: Pick<DrillContext, "backend">, e: Error): DrillResult {
  return {
    name, preset: ctx.backend.preset, backend: ctx.backend.kind, rtoSeconds: null, promotedAfterSeconds: null, ackedWrites: 0, lostAckedWrites: 0,
    lostAckedWritesBound: 0, unknownWrites: 0, failedWrites: 0, maxConcurrentPrimaries: 0, targetSeconds: null, passed: false, faultDelaySeconds: 0,
    oldPrimary: null, newPrimary: null, layers: "", healed: false, violations: [`drill aborted: ${e.message}`], notes: [],
  };
}

/** A capability the drill needs, or an error naming it (the registry refuses such drills up front). */
export function need<C extends Capability>(backend: DrillBackend, capability: C): NonNullable<DrillBackend[C]> {
  const c = backend[capability];
  if (!c) throw new Error(`the ${backend.kind} backend has no ${capability} capability`);
  return c as NonNullable<DrillBackend[C]>;
}

export const secondsSince = (from: number) => ((Date.now() - from) / 1000).toFixed(1);
export const round2 = (n: number | null) => (n === null ? null : Math.round(n * 100) / 100);
