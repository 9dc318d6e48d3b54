// Recovery objectives as code: `objectives.<class>.rtoSeconds/rpoBytes` in the topology file, held
// against the worst-case budget (budget.ts) at load time. A miss names the class, each layer's term
// and a change that would meet it; RPO 0 across regions refuses automatic promotion of an
// asynchronous replica.
import { failoverBudget, FAILURE_CLASS_LABELS, type ClassBudget } from "./budget";
import type { JsonSchema } from "./schema";
import { CLOUDFLARE_MIN_MONITOR_INTERVAL } from "./catalog";
import { CLOUDFLARE_PLANS, FAILURE_CLASSES, TIMING_PRESET_NAMES, type FailureClass, type Objective, type Topology } from "./types";

/** The classes whose recovery waits for a cross-region promotion (an operator's, when manual). */
const REGION_CLASSES: readonly FailureClass[] = ["regionLossDatabase", "regionLossEdge"];

/** What a topology promises when it states nothing: ceilings every preset and plan meets at the
 * default round trip, so a stated objective is what makes the check bite. RPO is checked only when
 * stated. A manual cross-region promotion has no region-loss RTO, for the database or the edge (a person
 * decides when). */
export const DEFAULT_OBJECTIVES: Readonly<Record<FailureClass, Objective>> = {
  primaryLoss: { rtoSeconds: 60 },
  postgresCrash: { rtoSeconds: 180 },
  regionLossDatabase: { rtoSeconds: 300 },
  regionLossEdge: { rtoSeconds: 300 },
  redisPrimaryLoss: { rtoSeconds: 60 },
};

const objectiveSchema = (c: FailureClass): JsonSchema => ({
  type: "object",
  additionalProperties: false,
  description: `Objective for ${FAILURE_CLASS_LABELS[c]}.`,
  properties: {
    rtoSeconds: { type: "number", minimum: 0, description: `Worst-case seconds until writes work again; the budget must not exceed it (default ${DEFAULT_OBJECTIVES[c].rtoSeconds}${REGION_CLASSES.includes(c) ? ", none with crossRegionPromotion manual" : ""}).` },
    rpoBytes: { type: "integer", minimum: 0, description: "Worst-case acknowledged bytes lost (not checked unless stated)." },
  },
});

export const OBJECTIVES_SCHEMA: JsonSchema = {
  type: "object",
  additionalProperties: false,
  default: {},
  description: "Recovery objectives per failure class, checked against the worst-case failover budget at load time.",
  properties: Object.fromEntries(FAILURE_CLASSES.map((c) => [c, objectiveSchema(c)])),
};

/** The objective in force for a class: as written, else the default (none for a manual region loss). */
export function objectiveOf(t: Pick<Topology, "objectives" | "database">, c: FailureClass): Objective {
  const written = t.objectives[c] ?? {};
  const manualRegion = REGION_CLASSES.includes(c) && t.database.crossRegionPromotion === "manual";
  return { rtoSeconds: written.rtoSeconds ?? (manualRegion ? undefined : DEFAULT_OBJECTIVES[c].rtoSeconds), rpoBytes: written.rpoBytes };
}

const terms = (b: ClassBudget) => b.terms.map((x) => `${x.layer} ${x.seconds} s`).join(" + ");

/** Single-field changes that bring the class's budget within `rto`, cheapest-sounding first. */
function fixesFor(t: Topology, c: FailureClass, rto: number): string[] {
  const meets = (changed: Topology) => {
    const total = failoverBudget(changed)[c].totalSeconds;
    return total !== null && total <= rto ? total : null;
  };
  const fixes: string[] = [];
  for (const timing of TIMING_PRESET_NAMES) {
    const total = timing === t.timing ? null : meets({ ...t, timing });
    if (total !== null) fixes.push(`timing: ${timing} (${total} s)`);
  }
  if (c === "regionLossEdge") {
    for (const plan of CLOUDFLARE_PLANS) {
      const interval = CLOUDFLARE_MIN_MONITOR_INTERVAL[plan];
      if (interval >= t.cloudflare.monitorIntervalSeconds) continue;
      const total = meets({ ...t, cloudflare: { ...t.cloudflare, plan, monitorIntervalSeconds: interval } });
      if (total !== null) { fixes.push(`cloudflare.plan: ${plan} (monitor every ${interval} s: ${total} s)`); break; }
    }
  }
  if (REGION_CLASSES.includes(c) && t.database.mode === "stretched") {
    const total = meets({ ...t, interRegionRtt: { defaultMs: 0, pairs: [] } });
    if (total !== null) {
      fixes.push(`regions closer together (${total} s at 0 ms between them)`);
    }
  }
  return fixes;
}

/** Every objective the topology's budget misses, each naming the class, the terms and a fix. */
export function objectiveErrors(t: Topology): string[] {
  const budget = failoverBudget(t);
  const errors: string[] = [];
  for (const c of FAILURE_CLASSES) {
    const field = `objectives.${c}`;
    const b = budget[c];
    const o = objectiveOf(t, c);
    const label = FAILURE_CLASS_LABELS[c];
    if (o.rtoSeconds !== undefined) {
      if (b.totalSeconds === null) {
        errors.push(`${field}.rtoSeconds is ${o.rtoSeconds}, but database.crossRegionPromotion manual waits for an operator, so no ${label} RTO can be promised; remove rtoSeconds or set crossRegionPromotion: automatic`);
      } else if (b.totalSeconds > o.rtoSeconds) {
        const fixes = fixesFor(t, c, o.rtoSeconds);
        errors.push(`${field}.rtoSeconds is ${o.rtoSeconds}, but the worst-case ${label} budget is ${b.totalSeconds} s (${terms(b)}); ${fixes.length ? `${fixes.join(", or ")}, or ` : ""}raise rtoSeconds to ${Math.ceil(b.totalSeconds)}`);
      }
    }
    if (o.rpoBytes === undefined || (b.rpoBytes !== null && b.rpoBytes <= o.rpoBytes)) continue;
    if (c === "regionLossDatabase" || c === "regionLossEdge") {
      if (c === "regionLossEdge" && t.objectives.regionLossDatabase?.rpoBytes !== undefined) continue; // said once, for the database
      const lag = t.database.maximumLagOnFailoverBytes;
      const fix = t.database.mode === "stretched" && !t.database.synchronousMode
        ? "set database.synchronousMode: true and crossRegionPromotion: manual (without a synchronous standby Patroni promotes a remote replica by itself)"
        : "set database.crossRegionPromotion: manual (the hook confirms and alerts; an operator promotes, choosing between waiting for the region and the loss)";
      const what = t.database.mode === "standby-cluster"
        ? "promotes the asynchronous standby cluster without a lag check, so every acknowledged write it had not received is lost"
        : `promotes an asynchronous cross-region replica (remote replicas are nosync): up to maximum_lag_on_failover (${lag} bytes) of acknowledged writes can be lost (the lab's region-loss drill tolerates that many bytes: about 80 orders at its write rate)`;
      errors.push(`${field}.rpoBytes is ${o.rpoBytes}, but automatic cross-region promotion ${what}; ${fix}${b.rpoBytes === null ? "" : `, or raise rpoBytes to ${b.rpoBytes}`}`);
      continue;
    }
    errors.push(`${field}.rpoBytes is ${o.rpoBytes}, but ${b.rpoWhy}${b.rpoBytes === null ? "; no rpoBytes can be promised, remove it" : c === "redisPrimaryLoss" ? "" : `; set database.synchronousMode: true, or raise rpoBytes to ${b.rpoBytes}`}`);
  }
  return errors;
}

/** Settings that contradict each other before any objective is looked at. */
export function promotionErrors(t: Topology): string[] {
  const errors: string[] = [];
  if (t.database.crossRegionPromotion === "manual" && t.database.mode === "stretched" && !t.database.synchronousMode) {
    errors.push(`database.crossRegionPromotion manual needs database.synchronousMode: true in stretched mode, got false: without a synchronous standby Patroni promotes a remote replica by itself and nothing waits for an operator`);
  }
  const slugs = new Set(t.regions.map((r) => r.slug));
  const seen = new Set<string>();
  t.interRegionRtt.pairs.forEach((p, i) => {
    const [a, b] = p.regions.split("-");
    const bad = [a, b].filter((s) => !slugs.has(s));
    if (bad.length) errors.push(`interRegionRtt.pairs[${i}].regions must name two regions of the topology (${[...slugs].join(", ")}), got ${JSON.stringify(p.regions)}`);
    else if (a === b) errors.push(`interRegionRtt.pairs[${i}].regions must name two different regions, got ${JSON.stringify(p.regions)}`);
    const key = [a, b].sort().join("-");
    if (seen.has(key)) errors.push(`interRegionRtt.pairs[${i}].regions ${JSON.stringify(p.regions)} is listed twice; keep one round trip per pair`);
    seen.add(key);
  });
  return errors;
}
