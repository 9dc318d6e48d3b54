// `npm run report`: writes cdktf.out/REVIEW.md (or REVIEW.json) for a pull request's reviewer from the
// topology, its synthesized stacks, an optional previous cdktf.out and lab or rehearsal reports.
// Exit codes: 0 written, 1 internal error, 2 bad input, 3 a policy check failed (nothing written) or a
// measured figure exceeds its computed bound (the page is written, and says which).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseArgs } from "node:util";
import { loadTopology, TopologyError, type Topology } from "../model";
import { synthesize } from "../synth";
import { readDrillReports } from "./budget-table";
import { buildReview, renderMarkdown, type Review } from "./review";
import { readStacks, ReportInputError } from "./stacks";

export const REPORT_USAGE = `usage: npm run report -- [--topology FILE] [--out DIR] [--base DIR] [--lab-report FILE]... [--format md|json]

  --topology FILE    topology file (default examples/topology.yaml)
  --out DIR          where REVIEW.md (or REVIEW.json) is written (default cdktf.out)
  --base DIR         a previous cdktf.out to compare the stacks with (added, changed, removed resources)
  --lab-report FILE  a lab or rehearsal report (npm run lab -- drill … --report FILE); repeat for several
  --format md|json   Markdown for GitHub/GitLab (default) or the same content as JSON
  --help             this text

exit codes: 0 written, 1 internal error, 2 bad input, 3 a policy check failed or a measured figure
exceeds its computed bound`;

export interface ReportOptions {
  readonly base?: string;
  readonly labReports?: readonly string[];
  readonly format?: "md" | "json";
}

/** Builds the review from the stacks under `stacksDir` and writes it into `out` (through a temporary
 * file, so a failed run leaves the previous page). Returns the review and the file written. */
export function writeReview(t: Topology, stacksDir: string, out: string, opts: ReportOptions = {}): { review: Review; file: string } {
  const review = buildReview({
    topology: t,
    stacks: readStacks(stacksDir),
    base: opts.base === undefined ? undefined : readStacks(opts.base, "--base"),
    labReports: readDrillReports(opts.labReports ?? []),
  });
  const json = opts.format === "json";
  const file = path.join(out, json ? "REVIEW.json" : "REVIEW.md");
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(`${file}.tmp`, json ? `${JSON.stringify(review, null, 2)}\n` : `${renderMarkdown(review)}\n`);
  fs.renameSync(`${file}.tmp`, file);
  return { review, file };
}

/** Measured figures beyond their bound, as lines for the terminal. */
export function outOfBound(review: Review): string[] {
  return review.budget.flatMap((row) => row.measured.filter((m) => !m.withinBound).map((m) =>
    `${m.drill} (${m.preset}, ${m.backend}) measured ${m.rtoSeconds ?? "no recovery"} s against a bound of ${m.boundSeconds} s for ${row.label} (${m.source})`));
}

export interface Io {
  readonly log: (s: string) => void;
  readonly error: (s: string) => void;
}

export function runReport(argv: readonly string[], io: Io = { log: console.log, error: console.error }): number {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        topology: { type: "string", default: "examples/topology.yaml" },
        out: { type: "string", default: "cdktf.out" },
        base: { type: "string" },
        "lab-report": { type: "string", multiple: true, default: [] },
        format: { type: "string", default: "md" },
        help: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    io.error(`error: ${e instanceof Error ? e.message : String(e)}`);
    io.error(REPORT_USAGE);
    return 2;
  }
  if (values.help) {
    io.log(REPORT_USAGE);
    return 0;
  }
  if (values.format !== "md" && values.format !== "json") {
    io.error(`error: --format must be md or json, got ${JSON.stringify(values.format)}`);
    return 2;
  }
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), "shop-report-"));
  try {
    const t = loadTopology(values.topology!);
    // Synthesized afresh, so the page never describes stale stacks.
    synthesize(t, staging);
    const { review, file } = writeReview(t, staging, values.out!, { base: values.base, labReports: values["lab-report"], format: values.format });
    io.log(`wrote ${file}: ${review.resources.reduce((a, s) => a + s.total, 0)} resources, monthly cost $${review.cost.monthly.toFixed(2)}${review.changes ? `, ${review.changes.length} changes against ${values.base}` : ""}`);
    const beyond = outOfBound(review);
    for (const line of beyond) io.error(`measured beyond the budget: ${line}`);
    return beyond.length ? 3 : 0;
  } catch (e) {
    if (e instanceof TopologyError || e instanceof ReportInputError) {
      io.error(`error: ${e.message}`);
      return 2;
    }
    if (e instanceof Error && /Validation failed/.test(e.message)) {
      io.error(`error: policy check failed, nothing written:\n${e.message}`);
      return 3;
    }
    throw e;
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

if (require.main === module) {
  try {
    process.exitCode = runReport(process.argv.slice(2));
  } catch (e) {
    console.error(`internal error: ${e instanceof Error ? e.stack : String(e)}`);
    process.exitCode = 1;
  }
}
