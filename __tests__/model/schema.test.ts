import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { SCHEMA_FILE, schemaDocument } from "../../lib/schema-file";
import { TOPOLOGY_SCHEMA } from "../../lib/model";
import { checkSchema } from "../../lib/model/schema-check";
import { EXAMPLE_FILE } from "../support/topology";

describe("topology JSON Schema", () => {
  it("is published up to date (run `npm run schema` after changing lib/model/schema.ts)", () => {
    expect(fs.readFileSync(path.join(__dirname, "../..", SCHEMA_FILE), "utf8")).toBe(schemaDocument());
  });

  it("is what the example file points editors at", () => {
    expect(fs.readFileSync(EXAMPLE_FILE, "utf8").split("\n")[0]).toBe("# yaml-language-server: $schema=../topology.schema.json");
  });

  it("accepts the example as written", () => {
    expect(checkSchema(TOPOLOGY_SCHEMA, yaml.load(fs.readFileSync(EXAMPLE_FILE, "utf8"))).errors).toEqual([]);
  });

  it("describes every field, so editors can explain it", () => {
    const undocumented: string[] = [];
    const visit = (s: typeof TOPOLOGY_SCHEMA, where: string) => {
      for (const [k, sub] of Object.entries(s.properties ?? {})) {
        if (!sub.description && !sub.properties && !sub.oneOf && !sub.const && !(sub.items && sub.items.properties)) undocumented.push(`${where}${k}`);
        visit(sub, `${where}${k}.`);
        if (sub.items) visit(sub.items, `${where}${k}[].`);
        for (const b of sub.oneOf ?? []) visit(b, `${where}${k}.`);
      }
    };
    visit(TOPOLOGY_SCHEMA, "");
    expect(undocumented.filter((f) => !f.startsWith("policyExceptions[]."))).toEqual([]);
  });
});
