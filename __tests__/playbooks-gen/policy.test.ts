// Security policy over the whole generated tree, both database modes (issue 11, item 9): pg_hba has no
// weak method and no plain-text TCP rule, no Patroni REST URL is plain HTTP, and secrets reach the tree
// only as references to Vault variables. (no_log on secret-bearing tasks: security-policy.test.ts.)
import * as yaml from "js-yaml";
import { generateTree } from "../../playbooks-gen/generate";
import { VAULT_VARIABLES } from "../../playbooks-gen/roles/vault";
import { example, EXAMPLE_OUTPUTS, standbyExample, outputsFor } from "./fixtures";

type Mapping = Record<string, unknown>;

/** Every mapping anywhere inside a parsed YAML document. */
function mappings(node: unknown): Mapping[] {
  if (Array.isArray(node)) return node.flatMap(mappings);
  if (node && typeof node === "object") return [node as Mapping, ...Object.values(node).flatMap(mappings)];
  return [];
}

describe.each([["stretched", example], ["standby-cluster", standbyExample]])("security policy of the generated tree (%s)", (_mode, topology) => {
  const tree = generateTree(topology(), outputsFor(topology()), EXAMPLE_OUTPUTS);
  const yamlFiles = Object.keys(tree).filter((f) => f.endsWith(".yml"));
  const patroniFiles = Object.keys(tree).filter((f) => /^files\/[^/]+\/patroni\.yml$/.test(f));

  it("has a patroni.yml per database node to hold to the policy", () => {
    expect(patroniFiles.length).toBeGreaterThanOrEqual(3);
  });

  it("uses no trust, password or md5 in any pg_hba, and only hostssl (or reject) for TCP", () => {
    for (const f of patroniFiles) {
      const config = yaml.load(tree[f]) as { bootstrap: { pg_hba: string[] }; postgresql: { pg_hba: string[] } };
      for (const rule of [...config.bootstrap.pg_hba, ...config.postgresql.pg_hba]) {
        const [type, , , ...rest] = rule.split(/\s+/);
        const method = rest[rest.length - 1];
        expect([f, rule, ["scram-sha-256", "peer", "reject"].includes(method)]).toEqual([f, rule, true]);
        expect([f, rule, type === "local" || type === "hostssl" || method === "reject"]).toEqual([f, rule, true]);
      }
    }
  });

  it("names no plain-HTTP Patroni REST API anywhere", () => {
    for (const [f, text] of Object.entries(tree)) expect([f, text.match(/http:\/\/[^\s"']*:8008/g)]).toEqual([f, null]);
  });

  it("holds secrets only as references to Vault variables: every password, passphrase, secret or token field is one", () => {
    const vault = new Set(VAULT_VARIABLES.map(([name]) => name));
    const literal: string[] = [];
    for (const f of yamlFiles) {
      for (const m of mappings(yaml.load(tree[f]))) {
        for (const [key, value] of Object.entries(m)) {
          // etcd's initial-cluster-token names the cluster; it is no credential.
          if (!/(password|passphrase|secret|token)$/i.test(key) || key === "initial-cluster-token" || f === "vault.example.yml") continue;
          const refs = typeof value === "string" ? [...value.matchAll(/\{\{\s*(\w+)/g)].map((x) => x[1]) : [];
          if (refs.length === 0 || !refs.every((r) => vault.has(r))) literal.push(`${f}: ${key}=${JSON.stringify(value)}`);
        }
      }
    }
    expect(literal).toEqual([]);
    // vault.example.yml lists the names with empty values.
    expect(Object.values(yaml.load(tree["vault.example.yml"]) as Mapping).every((v) => v === null || v === "")).toBe(true);
  });
});
