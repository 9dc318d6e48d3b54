// The drill report: one terminal row per drill as it finishes, a summary with the preset/stock
// ratio, and the JSON file.
import * as fs from "fs";
import * as os from "os";
import type { BackendKind } from "../backends/types";
import type { DrillResult } from "./types";

const fmt = (n: number | null) => (n === null ? "-" : n.toFixed(1));

export function printRow(r: DrillResult, log: (l: string) => void): void {
  log(`${r.passed ? "PASS" : "FAIL"} ${r.name.padEnd(19)} ${r.preset.padEnd(9)} rto ${fmt(r.rtoSeconds).padStart(5)} s  promoted ${fmt(r.promotedAfterSeconds).padStart(5)} s  acked ${String(r.ackedWrites).padStart(5)}  lost ${r.lostAckedWrites}${r.lostAckedWritesBound > 0 ? ` (≤ ${r.lostAckedWritesBound} tolerated)` : ""}  unknown ${r.unknownWrites}  primaries ${r.maxConcurrentPrimaries}${r.targetSeconds === null ? "" : `  target ${r.targetSeconds} s`}${r.redis ? `  redis ${fmt(r.redis.rtoSeconds)} s (≤ ${r.redis.budgetSeconds})` : ""}${r.customers ? `  customers ${fmt(r.customers.rtoSeconds)} s${r.customers.budgetSeconds === null ? "" : ` (edge budget ${r.customers.budgetSeconds})`}${r.customers.lostAckedWritesBound ? ` lost ${r.customers.lostAckedWrites} (≤ ${r.customers.lostAckedWritesBound})` : ""}` : ""}`);
  for (const n of r.notes) log(`       ${n}`);
  for (const v of r.violations) log(`       VIOLATION: ${v}`);
}

/** Drills that must fail a run whatever its targets (issue 4: targets are benchmarks; data safety and
 * recovery are what must never regress): acknowledged writes lost beyond the bound, two primaries at
 * once, writes that never came back, or any violation. */
export function unsafeResults(results: readonly DrillResult[]): DrillResult[] {
  return results.filter((r) => r.lostAckedWrites > r.lostAckedWritesBound || r.maxConcurrentPrimaries > 1 || r.rtoSeconds === null || r.violations.length > 0);
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface SummaryRow {
  readonly name: string;
  readonly preset: string;
  readonly runs: number;
  readonly medianRtoSeconds: number | null;
  readonly medianPromotedAfterSeconds: number | null;
  readonly lostAckedWrites: number;
  readonly maxConcurrentPrimaries: number;
  /** Median RTO under the preset divided by the median under Patroni's stock defaults. */
  readonly ratioToStock: number | null;
  readonly passed: boolean;
}

export function summarize(results: readonly DrillResult[]): SummaryRow[] {
  const keys = [...new Set(results.map((r) => `${r.name}\t${r.preset}`))];
  const rows = keys.map((k) => {
    const [name, preset] = k.split("\t");
    const rs = results.filter((r) => r.name === name && r.preset === preset);
    const rtos = rs.map((r) => r.rtoSeconds).filter((x): x is number => x !== null);
    return {
      name, preset, runs: rs.length, medianRtoSeconds: median(rtos),
      medianPromotedAfterSeconds: median(rs.map((r) => r.promotedAfterSeconds).filter((x): x is number => x !== null)),
      lostAckedWrites: rs.reduce((n, r) => n + r.lostAckedWrites, 0), maxConcurrentPrimaries: Math.max(...rs.map((r) => r.maxConcurrentPrimaries)),
      ratioToStock: null as number | null, passed: rs.every((r) => r.passed),
    };
  });
  for (const row of rows) {
    const stock = rows.find((r) => r.name === row.name && r.preset === "stock");
    if (stock && row.preset !== "stock" && row.medianRtoSeconds !== null && stock.medianRtoSeconds) {
      row.ratioToStock = Math.round((row.medianRtoSeconds / stock.medianRtoSeconds) * 100) / 100;
    }
  }
  return rows;
}

export function printSummary(results: readonly DrillResult[], log: (l: string) => void): void {
  log("\ndrill               preset    runs  median rto  median promoted  lost  primaries  vs stock");
  for (const r of summarize(results)) {
    log(`${r.name.padEnd(19)} ${r.preset.padEnd(9)} ${String(r.runs).padStart(4)}  ${fmt(r.medianRtoSeconds).padStart(8)} s  ${fmt(r.medianPromotedAfterSeconds).padStart(13)} s  ${String(r.lostAckedWrites).padStart(4)}  ${String(r.maxConcurrentPrimaries).padStart(9)}  ${r.ratioToStock === null ? "-" : `${r.ratioToStock}×`}  ${r.passed ? "PASS" : "FAIL"}`);
  }
}

/** The JSON report: `topology` is the topology file's path, `backend` what ran the drills. */
export function writeReport(file: string, results: readonly DrillResult[], topologyFile: string, backend: BackendKind): void {
  const machine = { os: `${os.type()} ${os.release()}`, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "", memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version };
  const report = { generatedAt: new Date().toISOString(), topology: topologyFile, backend, machine, drills: results, summary: summarize(results) };
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + "\n");
}
