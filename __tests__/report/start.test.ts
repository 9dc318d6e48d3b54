// `npm start` writes the review page beside the stacks it synthesized.
import * as fs from "fs";
import * as path from "path";
import { run } from "../../main";
import { tempDir } from "../support/synth";

it("npm start writes cdktf.out/REVIEW.md from the stacks it synthesized", () => {
  const out = path.join(tempDir(), "cdktf.out");
  const lines: string[] = [];
  expect(run(["--out", out], { log: (s) => lines.push(s), error: (s) => lines.push(s) })).toBe(0);
  expect(lines).toContain(`wrote ${path.join(out, "REVIEW.md")}`);
  const md = fs.readFileSync(path.join(out, "REVIEW.md"), "utf8");
  expect(md).toContain("# Review: shop (production): stretched, timing balanced, cross-region promotion automatic");
  expect(md).toContain("| **total** | | | **$700.00** |");
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
});
