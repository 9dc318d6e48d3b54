// Loading a topology file: read, refuse literal secrets, parse YAML, resolve env: references, check
// the schema, fill defaults, run the rule table, freeze. Every problem is reported at once.
import * as fs from "fs";
import * as yaml from "js-yaml";
import { applyDefaults, deepFreeze } from "./defaults";
import { runRules } from "./rules";
import { TOPOLOGY_SCHEMA } from "./schema";
import { checkSchema } from "./schema-check";
import type { Topology } from "./types";

export class TopologyError extends Error {
  constructor(readonly file: string, readonly problems: readonly string[]) {
    super(`${file}: ${problems.length === 1 ? "1 problem" : `${problems.length} problems`}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "TopologyError";
  }
}

const SECRET_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  [/dop_v1_[a-f0-9]{64}/, "a DigitalOcean API token (dop_v1_…)"],
  [/do[or]_v1_[a-f0-9]{64}/, "a DigitalOcean OAuth token"],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, "a private key"],
  [/^\s*-?\s*["']?[A-Za-z_]*(password|passwd|secret|api_?token|access_?key|private_?key)["']?\s*:\s*\S/i, "a literal secret field"],
];

/** Literal secrets in the raw text, with line numbers (checked before parsing, so nothing leaks into errors). */
export function findSecrets(text: string): string[] {
  const found: string[] = [];
  text.split("\n").forEach((line, i) => {
    for (const [pattern, what] of SECRET_PATTERNS) {
      if (pattern.test(line)) {
        found.push(`line ${i + 1} holds ${what}; secrets never go in the topology: use environment variables (DIGITALOCEAN_TOKEN, CLOUDFLARE_API_TOKEN) and Ansible Vault`);
        break;
      }
    }
  });
  return found;
}

/** Replaces `env:NAME` strings by the variable's value; an unset variable is an error naming the field. */
function resolveEnv(value: unknown, path: string, env: NodeJS.ProcessEnv, errors: string[]): unknown {
  if (typeof value === "string" && value.startsWith("env:")) {
    const name = value.slice(4);
    const v = env[name];
    if (v === undefined || v === "") errors.push(`${path} refers to ${value}, but ${name} is not set; export ${name} or write the value`);
    return v ?? value;
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveEnv(v, `${path}[${i}]`, env, errors));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveEnv(v, path ? `${path}.${k}` : k, env, errors)]));
  }
  return value;
}

/** Parses and validates topology text; `file` is used in messages only. */
export function parseTopology(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Topology {
  const secrets = findSecrets(text);
  if (secrets.length) throw new TopologyError(file, secrets);
  let raw: unknown;
  try {
    raw = yaml.load(text, { filename: file, schema: yaml.CORE_SCHEMA });
  } catch (e) {
    if (e instanceof yaml.YAMLException) {
      throw new TopologyError(file, [`line ${e.mark.line + 1}, column ${e.mark.column + 1}: ${e.reason}; fix the YAML syntax there`]);
    }
    throw e;
  }
  const envErrors: string[] = [];
  const resolved = resolveEnv(raw, "", env, envErrors);
  const { value, errors } = checkSchema(TOPOLOGY_SCHEMA, resolved);
  const schemaErrors = [...envErrors, ...errors.map((e) => e.message)];
  if (schemaErrors.length) throw new TopologyError(file, schemaErrors);
  const topology = applyDefaults(value as Record<string, unknown>);
  const ruleErrors = runRules(topology);
  if (ruleErrors.length) throw new TopologyError(file, ruleErrors);
  return deepFreeze(topology);
}

export function loadTopology(file: string, env: NodeJS.ProcessEnv = process.env): Topology {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new TopologyError(file, [code === "ENOENT" ? "file not found; pass an existing file with --topology FILE" : `cannot be read (${code ?? String(e)})`]);
  }
  return parseTopology(text, file, env);
}
