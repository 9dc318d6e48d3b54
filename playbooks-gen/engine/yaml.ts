// YAML data files (inventory, vars, playbooks, role tasks): built as objects, dumped by js-yaml with a
// stable key order, so the same model always gives the same bytes.
import * as yaml from "js-yaml";
import { withMarker } from "./marker";

/** Ansible's conventions (and ansible-lint's key-order rule): `name` first, blocks last, the rest sorted. */
const FIRST = ["name", "hosts"];
const LAST = ["block", "rescue", "always"];
function rank(key: string): number {
  if (FIRST.includes(key)) return FIRST.indexOf(key) - FIRST.length;
  return LAST.includes(key) ? 1 + LAST.indexOf(key) : 0;
}
export function compareKeys(a: string, b: string): number {
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** YAML text of `data` without marker or document start (for embedding). */
export function yamlText(data: unknown): string {
  return yaml.dump(data, { sortKeys: compareKeys, noRefs: true, lineWidth: -1 });
}

/** A complete YAML file: marker, document start, data. */
export function dumpYaml(data: unknown): string {
  return withMarker(`---\n${yamlText(data)}`);
}

export interface DocumentedValue {
  readonly name: string;
  readonly description: string;
  readonly value: unknown;
}

/** A YAML mapping with a comment above each key (defaults/main.yml, vault.example.yml). */
export function dumpDocumented(title: string, entries: readonly DocumentedValue[]): string {
  const body = entries.map((e) => `${comment(e.description)}${yamlText({ [e.name]: e.value })}`).join("\n");
  return withMarker(`${comment(title)}---\n${body}`);
}

function comment(text: string): string {
  return text.split("\n").map((line) => `# ${line}`.trimEnd()).join("\n") + "\n";
}
