// A small JSON Schema checker for the subset TOPOLOGY_SCHEMA uses. It reports every problem with its
// field path and fills `default`s, so the published schema and the loader cannot drift apart.
import { closest } from "./catalog";
import type { JsonSchema } from "./schema";

export interface FieldError {
  readonly path: string;
  readonly message: string;
}

export function joinPath(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  return base === "" ? key : `${base}.${key}`;
}

const show = (v: unknown): string => (typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v) ?? String(v));

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function typeMatches(expected: NonNullable<JsonSchema["type"]>, v: unknown): boolean {
  const actual = typeOf(v);
  return actual === expected || (expected === "number" && actual === "integer");
}

/** Checks `value` against `schema`; returns the value with defaults filled and the errors found. */
export function checkSchema(schema: JsonSchema, value: unknown, path = ""): { value: unknown; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const result = walk(schema, value, path, errors);
  return { value: result, errors };
}

function walk(schema: JsonSchema, value: unknown, path: string, errors: FieldError[]): unknown {
  if (schema.oneOf) return walkOneOf(schema.oneOf, value, path, errors);
  const where = path || "the document";
  if (schema.const !== undefined) {
    if (value !== schema.const) errors.push({ path, message: `${where} must be ${show(schema.const)}, got ${show(value)}` });
    return value;
  }
  if (schema.type && !typeMatches(schema.type, value)) {
    errors.push({ path, message: `${where} must be ${article(schema.type)}, got ${typeOf(value)} ${show(value)}` });
    return value;
  }
  if (schema.enum && !schema.enum.includes(value as string | number)) {
    const hint = typeof value === "string" ? closest(value, schema.enum.map(String)) : undefined;
    errors.push({
      path,
      message: `${where} must be one of ${schema.enum.map(show).join(", ")}, got ${show(value)}${hint ? ` (did you mean ${show(hint)}?)` : ""}`,
    });
  }
  if (typeof value === "string") checkString(schema, value, where, path, errors);
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push({ path, message: `${where} must be >= ${schema.minimum}, got ${value}` });
    if (schema.maximum !== undefined && value > schema.maximum) errors.push({ path, message: `${where} must be <= ${schema.maximum}, got ${value}` });
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      errors.push({ path, message: `${where} must have at least ${schema.minItems} item(s), got ${value.length}` });
    }
    return schema.items ? value.map((item, i) => walk(schema.items!, item, joinPath(path, i), errors)) : value;
  }
  if (schema.type === "object" && value && typeof value === "object") return walkObject(schema, value as Record<string, unknown>, path, errors);
  return value;
}

function checkString(schema: JsonSchema, value: string, where: string, path: string, errors: FieldError[]): void {
  if (schema.minLength !== undefined && value.length < schema.minLength) {
    errors.push({ path, message: `${where} must be at least ${schema.minLength} character(s) long, got ${show(value)}` });
  }
  if (schema.pattern && !new RegExp(schema.pattern).test(value)) {
    errors.push({ path, message: `${where} must match ${schema.pattern}${schema.description ? ` (${schema.description})` : ""}, got ${show(value)}` });
  }
}

function walkObject(schema: JsonSchema, obj: Record<string, unknown>, path: string, errors: FieldError[]): Record<string, unknown> {
  const props = schema.properties ?? {};
  const out: Record<string, unknown> = {};
  for (const key of schema.required ?? []) {
    if (obj[key] === undefined || obj[key] === null) {
      errors.push({ path: joinPath(path, key), message: `${joinPath(path, key)} is required${props[key]?.description ? `: ${props[key].description}` : ""}` });
    }
  }
  for (const [key, v] of Object.entries(obj)) {
    const sub = props[key];
    if (!sub) {
      if (schema.additionalProperties === false) {
        const hint = closest(key, Object.keys(props));
        errors.push({
          path: joinPath(path, key),
          message: `${joinPath(path, key)} is not a known field${hint ? ` (did you mean "${hint}"?)` : `; allowed: ${Object.keys(props).join(", ")}`}`,
        });
      }
      continue;
    }
    if (v === undefined || v === null) continue;
    out[key] = walk(sub, v, joinPath(path, key), errors);
  }
  for (const [key, sub] of Object.entries(props)) {
    if (out[key] === undefined && sub.default !== undefined) out[key] = walk(sub, structuredClone(sub.default), joinPath(path, key), errors);
  }
  return out;
}

function walkOneOf(branches: JsonSchema[], value: unknown, path: string, errors: FieldError[]): unknown {
  // Branches are told apart by their `type` discriminator (const).
  const discriminators = branches.map((b) => b.properties?.type?.const).filter((c): c is string => c !== undefined);
  const tag = value && typeof value === "object" ? (value as Record<string, unknown>).type : undefined;
  const branch = branches.find((b) => b.properties?.type?.const === tag);
  if (!branch) {
    errors.push({ path: joinPath(path, "type"), message: `${joinPath(path, "type")} must be one of ${discriminators.map(show).join(", ")}, got ${show(tag)}` });
    return value;
  }
  return walk(branch, value, path, errors);
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}
