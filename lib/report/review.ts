// The review page of a pull request: one object (the JSON format) and its Markdown rendering
// (cdktf.out/REVIEW.md), which GitHub and GitLab render with the Mermaid diagram.
import type { Topology } from "../model";
import type { StackJson } from "../policy/json";
import { budgetRows, measurementsOf, type BudgetRow, type DrillFigure } from "./budget-table";
import { monthlyCost, type CostReport } from "./cost";
import { renderMermaid, topologyDiagram, type Diagram } from "./diagram";
import { policyResults, type ExceptionUse, type PolicyResult } from "./policy";
import { diffStacks, resourceCounts, type ResourceChange, type StackCounts } from "./stacks";

export interface Review {
  readonly title: string;
  readonly diagram: Diagram;
  readonly mermaid: string;
  readonly resources: readonly StackCounts[];
  /** Null without `--base`. */
  readonly changes: readonly ResourceChange[] | null;
  readonly budget: readonly BudgetRow[];
  readonly labReports: readonly string[];
  readonly cost: CostReport;
  readonly policy: { readonly rules: readonly PolicyResult[]; readonly exceptions: readonly ExceptionUse[] };
}

export interface ReviewInput {
  readonly topology: Topology;
  readonly stacks: readonly StackJson[];
  readonly base?: readonly StackJson[];
  readonly labReports?: ReadonlyArray<{ file: string; drills: readonly DrillFigure[] }>;
}

export function buildReview(input: ReviewInput): Review {
  const t = input.topology;
  const diagram = topologyDiagram(t, input.stacks);
  const reports = input.labReports ?? [];
  return {
    title: `${t.project} (${t.environment}): ${t.database.mode}, timing ${t.timing}, cross-region promotion ${t.database.crossRegionPromotion}`,
    diagram,
    mermaid: renderMermaid(diagram),
    resources: resourceCounts(input.stacks),
    changes: input.base ? diffStacks(input.base, input.stacks) : null,
    budget: budgetRows(t, measurementsOf(t, reports)),
    labReports: reports.map((r) => r.file),
    cost: monthlyCost(t, input.stacks),
    policy: policyResults(t, input.stacks),
  };
}

const usd = (n: number) => `$${n.toFixed(2)}`;
const s = (n: number | null | undefined) => (n === null || n === undefined ? "—" : `${n} s`);
const cell = (text: string) => text.replace(/\|/g, "\\|");

function resourcesSection(r: Review): string[] {
  const out = ["## Resources", "", "| stack | type | count |", "|---|---|---|"];
  for (const st of r.resources) {
    out.push(`| **${st.stack}** | | **${st.total}** |`);
    for (const [type, n] of Object.entries(st.byType)) out.push(`| | ${type} | ${n} |`);
  }
  out.push("");
  if (r.changes === null) return [...out, "No `--base` given: no comparison with a previous `cdktf.out`.", ""];
  const count = (k: string) => r.changes!.filter((c) => c.kind === k).length;
  out.push(`### Changes against the base: ${count("added")} added, ${count("changed")} changed, ${count("removed")} removed`, "");
  const destroying = r.changes.filter((c) => c.destroysData);
  if (destroying.length) {
    out.push(`> [!WARNING]`, `> ${destroying.length} change(s) destroy data:`);
    for (const c of destroying) out.push(`> - \`${c.address}\` (stack ${c.stack}): ${c.destroysData}`);
    out.push("");
  }
  if (r.changes.length) {
    out.push("| change | stack | resource | attributes | destroys data |", "|---|---|---|---|---|");
    for (const c of r.changes) out.push(`| ${c.kind} | ${c.stack} | \`${c.address}\` | ${cell(c.attributes.join(", "))} | ${c.destroysData ? `⚠ ${c.destroysData}` : ""} |`);
    out.push("");
  }
  return out;
}

function budgetSection(r: Review): string[] {
  const out = [
    "## Failover budget against the objectives", "",
    "Worst case per failure class, layer by layer (`lib/model/budget.ts`); objectives from the topology's `objectives` (defaults where it states none).", "",
    "| failure class | layer | seconds | how |", "|---|---|---|---|",
  ];
  for (const row of r.budget) {
    row.terms.forEach((x, i) => out.push(`| ${i === 0 ? `**${row.label}**` : ""} | ${x.layer} | ${x.seconds} | ${cell(x.why)} |`));
  }
  out.push("", "| failure class | budget | RTO objective | meets it | worst-case loss | RPO objective |", "|---|---|---|---|---|---|");
  for (const row of r.budget) {
    const rpo = row.rpoBytes === null ? "unbounded" : `${row.rpoBytes} bytes`;
    out.push(`| ${row.label} | ${row.totalSeconds === null ? "operator decides" : s(row.totalSeconds)} | ${s(row.objective.rtoSeconds)} | ${row.meetsObjective ? "yes" : "**no**"} | ${rpo} (${cell(row.rpoWhy)}) | ${row.objective.rpoBytes === undefined ? "—" : `${row.objective.rpoBytes} bytes`} |`);
  }
  // The partition's loss, once: customers write to the same primary as the database row says.
  const cut = r.budget.find((row) => row.failureClass === "regionLossDatabase" && row.partition);
  if (cut?.partition) {
    const window = cut.partition.ackWindowSeconds === null ? "until an operator fences it" : `+ the writes of ${s(cut.partition.ackWindowSeconds)}`;
    out.push(`| region partition (the primary's region cut off, not lost) | as region loss | — | — | ${cut.rpoBytes === null ? "unbounded" : `${cut.rpoBytes} bytes`} ${window} (${cell(cut.partition.why)}) | — |`);
  }
  out.push("");
  const measured = r.budget.flatMap((row) => row.measured.map((m) => ({ row, m })));
  if (!measured.length) return [...out, "No `--lab-report` given: no measured figures.", ""];
  out.push("### Measured", "", "The bound beside each figure is the budget of the run's preset; on the loopback lab without the alert path (the lab triggers the hook itself).", "",
    "| failure class | drill | backend | preset | measured | bound | within | acked writes lost | report |", "|---|---|---|---|---|---|---|---|---|");
  for (const { row, m } of measured) {
    out.push(`| ${row.label} | ${m.drill} | ${m.backend} | ${m.preset} | ${s(m.rtoSeconds)} | ${m.boundSeconds === null ? "operator" : s(m.boundSeconds)} | ${m.withinBound ? "yes" : "**no**"} | ${m.lostAckedWrites ?? "—"} | ${m.source} |`);
  }
  return [...out, ""];
}

function costSection(c: CostReport): string[] {
  const out = ["## Monthly cost", "", `List prices as of ${c.asOf} (\`lib/report/prices.ts\`), USD per month, before taxes and credits.`, "",
    "| region | item | quantity | monthly |", "|---|---|---|---|"];
  for (const r of c.regions) {
    for (const l of r.lines) out.push(`| ${r.region} | ${cell(l.item)} | ${l.quantity} | ${l.monthly === null ? "no price" : usd(l.monthly)} |`);
    out.push(`| **${r.region}** | | | **${usd(r.monthly)}** |`);
  }
  out.push(`| **total** | | | **${usd(c.monthly)}** |`, "");
  if (c.unpriced.length) out.push(`> [!NOTE]`, `> Not in the total (no price in the table): ${c.unpriced.join(", ")}.`, "");
  out.push("Sources:", ...c.sources.map((x) => `- ${x}`), "");
  return out;
}

function policySection(p: Review["policy"]): string[] {
  const out = ["## Policy checks", "", "| rule | checks | result |", "|---|---|---|"];
  for (const r of p.rules) {
    const result = r.violations.length ? `**${r.violations.length} violation(s)**: ${cell(r.violations.map((v) => `${v.resource}: ${v.message}`).join("; "))}` : "pass";
    out.push(`| ${r.rule} | ${cell(r.title)} | ${result}${r.excepted.length ? ` (${r.excepted.length} excepted)` : ""} |`);
  }
  out.push("");
  if (!p.exceptions.length) return [...out, "Declared exceptions: none.", ""];
  out.push("| declared exception | resource | reason | still needed |", "|---|---|---|---|");
  for (const e of p.exceptions) out.push(`| ${e.rule} | \`${e.resource}\` | ${cell(e.reason)} | ${e.used ? "yes" : "no: nothing matches it, remove it"} |`);
  return [...out, ""];
}

export function renderMarkdown(r: Review): string {
  return [
    "<!-- generated by shop-multiregion — do not edit; regenerate with: npm run report -->",
    `# Review: ${r.title}`, "",
    "## Topology", "", "```mermaid", r.mermaid, "```", "",
    ...resourcesSection(r),
    ...budgetSection(r),
    ...costSection(r.cost),
    ...policySection(r.policy),
  ].join("\n");
}
