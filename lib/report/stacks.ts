// The synthesized stacks as the review page sees them: resource counts per stack and type, and what a
// change adds, changes and removes against a previous cdktf.out, flagging what destroys data.
import * as fs from "fs";
import * as path from "path";
import { resourcesOf, type Json, type StackJson } from "../policy/json";

export class ReportInputError extends Error {}

/** Every `<dir>/stacks/<stack>/cdk.tf.json`, by stack name (sorted). */
export function readStacks(dir: string, what = "--out"): StackJson[] {
  const stacksDir = path.join(dir, "stacks");
  if (!fs.existsSync(stacksDir)) throw new ReportInputError(`${what} ${dir} has no stacks/ folder; pass a cdktf.out written by npm start`);
  return fs.readdirSync(stacksDir).sort().map((name) => {
    const file = path.join(stacksDir, name, "cdk.tf.json");
    try {
      return { name, json: JSON.parse(fs.readFileSync(file, "utf8")) as Json };
    } catch (e) {
      throw new ReportInputError(`${file} cannot be read as JSON (${e instanceof Error ? e.message : String(e)}); synthesize it again with npm start`);
    }
  });
}

export interface StackCounts {
  readonly stack: string;
  readonly total: number;
  readonly byType: Readonly<Record<string, number>>;
}

export function resourceCounts(stacks: readonly StackJson[]): StackCounts[] {
  return stacks.map((s) => {
    const byType: Record<string, number> = {};
    for (const [type, byId] of Object.entries((s.json.resource ?? {}) as Record<string, Json>)) byType[type] = Object.keys(byId).length;
    const sorted = Object.fromEntries(Object.entries(byType).sort(([a], [b]) => a.localeCompare(b)));
    return { stack: s.name, total: Object.values(byType).reduce((a, b) => a + b, 0), byType: sorted };
  });
}

export type ChangeKind = "added" | "changed" | "removed";

export interface ResourceChange {
  readonly stack: string;
  readonly address: string;
  readonly kind: ChangeKind;
  /** Top-level attributes that differ (changed only). */
  readonly attributes: readonly string[];
  /** Why applying it destroys data, when it does. */
  readonly destroysData: string | null;
}

/** Attributes whose change makes the DigitalOcean provider replace the resource (destroy, create). */
const REPLACED_ON: Readonly<Record<string, readonly string[]>> = {
  digitalocean_droplet: ["image", "region", "user_data", "vpc_uuid", "ssh_keys"],
  digitalocean_volume: ["region", "initial_filesystem_type", "initial_filesystem_label", "snapshot_id", "name"],
};

const holdsData = (type: string, id: string, body: Json) =>
  type === "digitalocean_volume" || (type === "digitalocean_droplet" && (String(body.name ?? id).startsWith("pg-") || body.lifecycle?.prevent_destroy === true));

function destroysData(type: string, id: string, body: Json, kind: ChangeKind, attributes: readonly string[]): string | null {
  if (!holdsData(type, id, body)) return null;
  const what = type === "digitalocean_volume" ? "a PostgreSQL data volume" : "a database droplet";
  if (kind === "removed") return `destroys ${what}`;
  // Attributes the resource's lifecycle ignores change nothing on apply (droplets ignore ssh_keys and user_data).
  const ignored: unknown[] = Array.isArray(body.lifecycle?.ignore_changes) ? body.lifecycle.ignore_changes : [];
  const replaced = attributes.filter((a) => (REPLACED_ON[type] ?? []).includes(a) && !ignored.includes(a));
  return kind === "changed" && replaced.length ? `replaces ${what} (${replaced.join(", ")} changed)` : null;
}

const strip = (body: Json): Json => Object.fromEntries(Object.entries(body).filter(([k]) => k !== "//"));

/** Resources added, changed and removed from `base` to `current`, by stack and address. */
export function diffStacks(base: readonly StackJson[], current: readonly StackJson[]): ResourceChange[] {
  const index = (stacks: readonly StackJson[]) => {
    const m = new Map<string, { stack: string; type: string; id: string; body: Json }>();
    for (const s of stacks) {
      for (const type of Object.keys(s.json.resource ?? {}).sort()) {
        for (const r of resourcesOf(s, type)) m.set(`${s.name}\t${type}.${r.id}`, { stack: s.name, type, id: r.id, body: strip(r.config) });
      }
    }
    return m;
  };
  const before = index(base);
  const after = index(current);
  const changes: ResourceChange[] = [];
  for (const key of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const b = before.get(key);
    const a = after.get(key);
    const r = (a ?? b)!;
    const address = `${r.type}.${r.id}`;
    if (!b || !a) {
      const kind: ChangeKind = b ? "removed" : "added";
      changes.push({ stack: r.stack, address, kind, attributes: [], destroysData: destroysData(r.type, r.id, r.body, kind, []) });
      continue;
    }
    const attributes = [...new Set([...Object.keys(a.body), ...Object.keys(b.body)])].sort()
      .filter((k) => JSON.stringify(a.body[k]) !== JSON.stringify(b.body[k]));
    if (attributes.length) changes.push({ stack: r.stack, address, kind: "changed", attributes, destroysData: destroysData(r.type, r.id, b.body, "changed", attributes) });
  }
  return changes;
}
