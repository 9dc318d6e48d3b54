// Helpers to walk synthesized Terraform JSON (what `cdk.tf.json` holds) in policy rules.
export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface StackJson {
  readonly name: string;
  readonly json: Json;
}

export interface ResourceRef {
  readonly stack: string;
  readonly type: string;
  readonly id: string;
  readonly config: Json;
}

export function resourcesOf(stack: StackJson, type: string, kind: "resource" | "data" = "resource"): ResourceRef[] {
  return Object.entries((stack.json[kind]?.[type] ?? {}) as Record<string, Json>).map(([id, config]) => ({ stack: stack.name, type, id, config }));
}

export function address(r: ResourceRef): string {
  return `${r.type}.${r.id}`;
}

export const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

export const OPEN_SOURCES = new Set(["0.0.0.0/0", "::/0", "*", "0.0.0.0", "::"]);
