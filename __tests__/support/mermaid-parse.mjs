// Parses Mermaid diagrams with the real Mermaid library (npm `mermaid`, ESM only), the parser GitHub's
// and GitLab's renderers run. Mermaid's sanitizer needs a DOM, which jsdom provides. Reads a JSON array
// of diagram texts on stdin; prints a JSON array of {ok, type} or {ok: false, error} in the same order.
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const text of JSON.parse(input)) {
  try {
    const parsed = await mermaid.parse(text);
    results.push({ ok: true, type: parsed.diagramType });
  } catch (e) {
    results.push({ ok: false, error: String(e?.message ?? e).split("\n").slice(0, 4).join("\n") });
  }
}
process.stdout.write(JSON.stringify(results));
