// `npm run schema`: publishes the topology file's JSON Schema (the same object the loader checks
// against) as topology.schema.json, for editors' completion and validation.
import * as fs from "fs";
import { TOPOLOGY_SCHEMA } from "./model";

export const SCHEMA_FILE = "topology.schema.json";

export function schemaDocument(): string {
  const doc = { $schema: "http://json-schema.org/draft-07/schema#", $id: "https://shop-multiregion.dev/topology.schema.json", title: "shop-multiregion topology", ...TOPOLOGY_SCHEMA };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

if (require.main === module) {
  fs.writeFileSync(SCHEMA_FILE, schemaDocument());
  console.log(`wrote ${SCHEMA_FILE}`);
}
