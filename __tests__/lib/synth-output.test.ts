// The synthesized tree as users keep it in pull requests: reproducible, self-contained, no nulls.
import * as fs from "fs";
import * as path from "path";
import { synthesize } from "../../lib/synth";
import { example } from "../support/topology";
import { readTree, tempDir } from "../support/synth";
import type { Json } from "../../lib/policy/json";

const outdir = tempDir();
synthesize(example(), outdir);
const tree = readTree(outdir);
const stackFiles = Object.entries(tree).filter(([p]) => p.endsWith("cdk.tf.json"));

function walk(value: unknown, visit: (v: unknown, where: string) => void, where = ""): void {
  visit(value, where);
  if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) walk(v, visit, `${where}.${k}`);
}

/** Everything a stack declares that an expression can name. */
function declared(json: Json): Set<string> {
  const names = new Set<string>();
  for (const [type, byId] of Object.entries((json.resource ?? {}) as Json)) for (const id of Object.keys(byId)) names.add(`${type}.${id}`);
  for (const [type, byId] of Object.entries((json.data ?? {}) as Json)) for (const id of Object.keys(byId)) names.add(`data.${type}.${id}`);
  for (const id of Object.keys(json.variable ?? {})) names.add(`var.${id}`);
  for (const id of Object.keys(json.locals ?? {})) names.add(`local.${id}`);
  return names;
}

describe("synthesized output", () => {
  it("writes a cdk.tf.json per stack", () => {
    expect(stackFiles.map(([p]) => p).sort()).toEqual(["global", "network", "region-ams3", "region-lon1", "region-nyc1"].map((s) => path.join("stacks", s, "cdk.tf.json")));
  });

  it("is byte-identical when synthesized twice", () => {
    const again = tempDir();
    synthesize(example(), again);
    expect(readTree(again)).toEqual(tree);
  });

  it("contains no null value", () => {
    for (const [file, text] of stackFiles) {
      walk(JSON.parse(text), (v, where) => { if (v === null) throw new Error(`${file}: null at ${where}`); });
    }
  });

  it("contains no absolute path of this machine", () => {
    for (const [file, text] of Object.entries(tree)) {
      for (const p of [process.cwd(), outdir, "/root", "/home", "/tmp"]) expect({ file, hit: text.includes(`"${p}`) || text.includes(`${p}/`) }).toEqual({ file, hit: false });
    }
  });

  it("resolves every ${…} reference to something declared in the same stack", () => {
    for (const [file, text] of stackFiles) {
      const json = JSON.parse(text);
      const names = declared(json);
      const missing: string[] = [];
      walk(json, (v) => {
        if (typeof v !== "string") return;
        for (const [, expr] of v.matchAll(/\$\{(.*?)\}(?!")/g)) {
          const chains = expr.replace(/"[^"]*"/g, "").match(/[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)+/g) ?? [];
          for (const chain of chains) {
            const parts = chain.split(".");
            if (parts[0] === "terraform") continue;
            const ref = parts.slice(0, parts[0] === "data" ? 3 : 2).join(".");
            if (!names.has(ref)) missing.push(ref);
          }
        }
      });
      expect({ file, missing }).toEqual({ file, missing: [] });
    }
  });

  it("references other stacks only through terraform_remote_state", () => {
    const global = JSON.parse(tree[path.join("stacks", "global", "cdk.tf.json")]);
    expect(Object.keys(global.data)).toEqual(["terraform_remote_state"]);
    expect(JSON.stringify(global.resource)).not.toMatch(/digitalocean_(vpc|droplet|loadbalancer)\.[\w-]+\.(id|urn|ip)\b/);
  });

  it("leaves no staging directory behind", () => {
    expect(fs.readdirSync(outdir).sort()).toEqual(["manifest.json", "stacks"]);
  });
});
