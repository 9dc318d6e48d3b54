// The review page's budget table: each failure class, each layer's term, the total against the
// objective, and the figures drills measured (lab or rehearsal reports) beside the bound that
// applies to them.
import * as fs from "fs";
import {
  failoverBudget, FAILURE_CLASS_LABELS, FAILURE_CLASSES, objectiveOf, TIMING_PRESETS,
  type BudgetOptions, type BudgetTerm, type FailureClass, type Objective, type PartitionRpo, type TimingPresetName, type Topology,
} from "../model";
import { ReportInputError } from "./stacks";

/** The drills that measure a failure class (switchover and the others measure no failure). */
export const DRILL_CLASSES: Readonly<Record<string, FailureClass>> = {
  "primary-loss": "primaryLoss",
  "patroni-freeze": "primaryLoss",
  "postgres-crash": "postgresCrash",
  "region-loss": "regionLossDatabase",
  "region-partition": "regionLossDatabase",
  "standby-promote": "regionLossDatabase",
  "redis-primary-loss": "redisPrimaryLoss",
};

/** What the review needs of one drill result (lab/drills/types.ts DrillResult; the lab's and the
 * rehearsal's reports both hold them under `drills`). */
export interface DrillFigure {
  readonly name: string;
  readonly preset: string;
  readonly backend: string;
  readonly rtoSeconds: number | null;
  readonly lostAckedWrites: number;
  readonly redis?: { readonly rtoSeconds: number | null };
  readonly customers?: { readonly rtoSeconds: number | null; readonly lostAckedWrites: number };
}

export interface Measurement {
  readonly failureClass: FailureClass;
  readonly source: string;
  readonly drill: string;
  readonly preset: string;
  readonly backend: string;
  readonly rtoSeconds: number | null;
  readonly lostAckedWrites: number | null;
  /** The budget that applies to the run: its preset, and the lab's own trigger on the loopback lab. */
  readonly boundSeconds: number | null;
  readonly withinBound: boolean;
}

export interface BudgetRow {
  readonly failureClass: FailureClass;
  readonly label: string;
  readonly terms: readonly BudgetTerm[];
  readonly totalSeconds: number | null;
  readonly objective: Objective;
  readonly meetsObjective: boolean;
  readonly rpoBytes: number | null;
  readonly rpoWhy: string;
  /** Region classes: the loss when the region is cut off instead (budget.ts PartitionRpo). */
  readonly partition?: PartitionRpo;
  readonly measured: readonly Measurement[];
}

/** Reads lab (`npm run lab -- drill … --report`) or rehearsal (`npm run rehearse -- … --report`) reports. */
export function readDrillReports(files: readonly string[]): Array<{ file: string; drills: DrillFigure[] }> {
  return files.map((file) => {
    let doc: unknown;
    try {
      doc = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
      throw new ReportInputError(`--lab-report ${file} cannot be read as JSON (${e instanceof Error ? e.message : String(e)}); pass a report written by npm run lab -- drill … --report FILE or npm run rehearse`);
    }
    const drills = (doc as { drills?: unknown }).drills;
    if (!Array.isArray(drills) || drills.some((d) => typeof d?.name !== "string" || typeof d?.preset !== "string")) {
      throw new ReportInputError(`--lab-report ${file} has no drills[] with name and preset; pass a report written by npm run lab -- drill … --report FILE or npm run rehearse`);
    }
    return { file, drills: drills as DrillFigure[] };
  });
}

/** The budget options that apply to a drill run: the loopback lab triggers the failover hook itself and
 * its stopped processes refuse at once; a partition leaves the lost nodes' addresses silent, and the
 * rehearsal goes through the alert path. */
export function drillBudgetOptions(backend: string, drill: string): BudgetOptions {
  return { trigger: backend === "loopback" && drill !== "region-partition" ? "lab" : "alert" };
}

function measure(t: Topology, file: string, d: DrillFigure, cls: FailureClass, rto: number | null, lost: number | null, drill: string): Measurement {
  const preset = (d.preset in TIMING_PRESETS ? d.preset : t.timing) as TimingPresetName;
  const bound = failoverBudget({ ...t, timing: preset }, drillBudgetOptions(d.backend, d.name))[cls].totalSeconds;
  return {
    failureClass: cls, source: file, drill, preset: d.preset, backend: d.backend, rtoSeconds: rto, lostAckedWrites: lost,
    boundSeconds: bound, withinBound: rto !== null && (bound === null || rto <= bound),
  };
}

export function measurementsOf(t: Topology, reports: ReadonlyArray<{ file: string; drills: readonly DrillFigure[] }>): Measurement[] {
  const out: Measurement[] = [];
  for (const { file, drills } of reports) {
    for (const d of drills) {
      const cls = DRILL_CLASSES[d.name];
      if (cls) out.push(measure(t, file, d, cls, d.rtoSeconds, d.lostAckedWrites, d.name));
      // Region drills also write to Redis through Sentinel, whose primary goes with the region, and
      // customers order through the edge, which must move them to another region.
      if (d.redis && cls === "regionLossDatabase") out.push(measure(t, file, d, "redisPrimaryLoss", d.redis.rtoSeconds, null, `${d.name} (Redis)`));
      if (d.customers && cls === "regionLossDatabase") out.push(measure(t, file, d, "regionLossEdge", d.customers.rtoSeconds, d.customers.lostAckedWrites, `${d.name} (customers)`));
    }
  }
  return out;
}

export function budgetRows(t: Topology, measurements: readonly Measurement[] = []): BudgetRow[] {
  const budget = failoverBudget(t);
  return FAILURE_CLASSES.map((c) => {
    const b = budget[c];
    const objective = objectiveOf(t, c);
    return {
      failureClass: c, label: FAILURE_CLASS_LABELS[c], terms: b.terms, totalSeconds: b.totalSeconds, objective,
      meetsObjective: objective.rtoSeconds === undefined || (b.totalSeconds !== null && b.totalSeconds <= objective.rtoSeconds),
      rpoBytes: b.rpoBytes, rpoWhy: b.rpoWhy, ...(b.partition ? { partition: b.partition } : {}),
      measured: measurements.filter((m) => m.failureClass === c),
    };
  });
}
