// The rehearsal's JSON report: each command adds its section, keeping the others.
import * as fs from "fs";

export function mergeReport(file: string, section: Record<string, unknown>): void {
  let report: Record<string, unknown> = {};
  try {
    report = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch { /* a new report */ }
  fs.writeFileSync(`${file}.tmp`, JSON.stringify({ ...report, ...section }, null, 2) + "\n");
  fs.renameSync(`${file}.tmp`, file);
}
