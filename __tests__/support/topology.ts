// Test helpers: the bundled example topology, and variants of it built by editing the parsed document.
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { parseTopology, type Topology } from "../../lib/model";

export const EXAMPLE_FILE = path.join(__dirname, "../../examples/topology.yaml");
export const exampleText = (): string => fs.readFileSync(EXAMPLE_FILE, "utf8");

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function exampleDoc(): Doc {
  return yaml.load(exampleText()) as Doc;
}

/** The example with `edit` applied to its parsed document, as YAML text. */
export function variantText(edit: (doc: Doc) => void): string {
  const doc = exampleDoc();
  edit(doc);
  return yaml.dump(doc);
}

export function variant(edit: (doc: Doc) => void, env: NodeJS.ProcessEnv = {}): Topology {
  return parseTopology(variantText(edit), "variant.yaml", env);
}

export function example(): Topology {
  return parseTopology(exampleText(), "examples/topology.yaml", {});
}

/** The problems a variant is rejected with (fails the test when it is accepted). */
export function problemsOf(edit: (doc: Doc) => void, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    variant(edit, env);
  } catch (e) {
    if (e && typeof e === "object" && "problems" in e) return [...(e as { problems: string[] }).problems];
    throw e;
  }
  throw new Error("expected the topology to be rejected, but it was accepted");
}

/** A standby-cluster topology: two regions, each with its own three-member etcd; ams3's three Redis hosts (one
 * Sentinel each) outvote nyc1's two, so Sentinels can elect when nyc1 is lost. */
export function standbyClusterEdit(doc: Doc): void {
  doc.database.mode = "standby-cluster";
  doc.regions = doc.regions.filter((r: Doc) => r.role !== "witness");
  doc.regions[1].tiers.redis.count = 3;
  // Each region's own etcd: three members, so losing one droplet leaves a majority (rule etcd-layout).
  for (const r of doc.regions) r.tiers.etcd.count = 3;
}
