// The review page's diagram through the real Mermaid parser (npm `mermaid`, what GitHub and GitLab
// render with), for the example, the standby-cluster example and a twelve-region topology: a diagram
// Mermaid cannot parse shows as an error box in the pull request instead of the topology.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parseTopology } from "../../lib/model/load";
import { renderMermaid, topologyDiagram } from "../../lib/report/diagram";
import { generatedTopology } from "../../bench/topologies";
import { synthStacks } from "../support/synth";
import { example, standbyExample } from "../playbooks-gen/fixtures";

type Parsed = { ok: true; type: string } | { ok: false; error: string };

/** Runs the parser (an ESM script: Mermaid ships no CommonJS build) on each text. */
function parse(texts: readonly string[]): Parsed[] {
  const out = execFileSync(process.execPath, [path.join(__dirname, "../support/mermaid-parse.mjs")], { input: JSON.stringify(texts), encoding: "utf8", timeout: 60_000 });
  return JSON.parse(out) as Parsed[];
}

describe("the review page's Mermaid diagram", () => {
  it("parses as a flowchart for the example, the standby-cluster example and twelve regions; a broken diagram does not", () => {
    const topologies = { example: example(), standby: standbyExample(), twelve: parseTopology(generatedTopology(12), "twelve-regions.yaml") };
    const texts = Object.entries(topologies).map(([name, t]) => {
      const { stacks, outdir } = synthStacks(t);
      try {
        return [name, renderMermaid(topologyDiagram(t, stacks))] as const;
      } finally {
        fs.rmSync(outdir, { recursive: true, force: true });
      }
    });
    // The control: the example's diagram with one subgraph left open.
    const broken = texts[0][1].replace(/\n  end\n/, "\n");
    const results = parse([...texts.map(([, text]) => text), broken]);
    expect(texts.map(([name], i) => [name, results[i]])).toEqual(texts.map(([name]) => [name, { ok: true, type: "flowchart-v2" }]));
    expect(results[texts.length]).toMatchObject({ ok: false, error: expect.stringMatching(/Parse error|Expecting/) });
  }, 120_000);
});
