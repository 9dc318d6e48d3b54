// The generated tree checked by the real tools from Debian, as CI runs them.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { writeTree } from "../../playbooks-gen/engine/tree";
import { generateTree } from "../../playbooks-gen/generate";
import { requireDebianPackages } from "../support/debian";
import { example, EXAMPLE_OUTPUTS, exampleOutputs, standbyExample } from "./fixtures";

/** Runs a checker with a time bound; returns its combined output, failing the test on a non-zero exit. */
function check(command: string, args: readonly string[], cwd: string, timeoutMs = 60_000): string {
  const r = spawnSync(command, args, { cwd, encoding: "utf8", timeout: timeoutMs, env: { ...process.env, ANSIBLE_NOCOLOR: "1", NO_COLOR: "1" } });
  const output = `${r.stdout}${r.stderr}`;
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} exited ${r.status ?? r.signal}:\n${output}`);
  return output;
}

const NO_LEADER_TEST = `rule_files:
  - files/prometheus/shop.rules.yml
evaluation_interval: 5s
tests:
  - interval: 5s
    input_series:
      - series: 'patroni_cluster_unlocked{scope="shop-production", instance="pg-nyc1-1:8008"}'
        values: '0 0 0 1x20'
      - series: 'patroni_primary{scope="shop-production", instance="pg-nyc1-1:8008"}'
        values: '1 1 1 0x20'
    alert_rule_test:
      - eval_time: 20s
        alertname: PatroniNoLeader
        exp_alerts: []
      - eval_time: 60s
        alertname: PatroniNoLeader
        exp_alerts:
          - exp_labels: {severity: critical, component: database, scope: shop-production}
            exp_annotations: {summary: "Patroni cluster shop-production has no leader"}
`;

describe("the generated tree passes the real tools", () => {
  let dir: string;
  let standbyDir: string;

  beforeAll(() => {
    requireDebianPackages(["ansible", "ansible-lint", "yamllint", "haproxy", "prometheus", "prometheus-alertmanager", "pgbackrest"]);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "ansible-tree-"));
    dir = path.join(root, "stretched");
    standbyDir = path.join(root, "standby");
    writeTree(dir, generateTree(example(), exampleOutputs(), EXAMPLE_OUTPUTS));
    writeTree(standbyDir, generateTree(standbyExample(), exampleOutputs(), EXAMPLE_OUTPUTS));
  });

  afterAll(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));

  const playbooks = (root: string) => ["site.yml", ...fs.readdirSync(path.join(root, "playbooks")).filter((p) => p.endsWith(".yml")).map((p) => `playbooks/${p}`)];

  it("ansible-playbook --syntax-check accepts site.yml and every playbook, in both database modes", () => {
    for (const root of [dir, standbyDir]) {
      for (const playbook of playbooks(root)) check("ansible-playbook", ["--syntax-check", "-i", "inventory/hosts.yml", playbook], root);
    }
    expect(playbooks(standbyDir)).toContain("playbooks/promote-region.yml");
  });

  it("runs from another working directory, as the README's command does", () => {
    check("ansible-playbook", ["--syntax-check", "-i", path.join(dir, "inventory/hosts.yml"), path.join(dir, "site.yml")], os.tmpdir());
  });

  it("ansible-lint --offline --profile production finds nothing (and in promote-region.yml of standby-cluster mode)", () => {
    const passed = /Passed with production profile: 0 failure\(s\), 0 warning\(s\)/;
    expect(check("ansible-lint", ["--offline", "--profile", "production", "--nocolor"], dir, 300_000)).toMatch(passed);
    expect(check("ansible-lint", ["--offline", "--profile", "production", "--nocolor", "playbooks/promote-region.yml"], standbyDir, 300_000)).toMatch(passed);
  }, 620_000);

  it("ansible reads pipelining from the tree's ansible.cfg, and Debian's collections satisfy requirements.yml", () => {
    // pipelining is an option of the ssh connection plugin: it shows among the plugins' settings.
    expect(check("ansible-config", ["dump", "--only-changed", "-t", "connection"], dir)).toMatch(/^ssh:\n_+\n(.*\n)*pipelining\(.*ansible\.cfg\) = True$/m);
    const installed = new Map<string, string>();
    for (const paths of Object.values(JSON.parse(check("ansible-galaxy", ["collection", "list", "--format", "json"], dir)) as Record<string, Record<string, { version: string }>>)) {
      for (const [name, { version }] of Object.entries(paths)) if (!installed.has(name)) installed.set(name, version);
    }
    const requirements = yaml.load(fs.readFileSync(path.join(dir, "requirements.yml"), "utf8")) as { collections: Array<{ name: string; version: string }> };
    for (const c of requirements.collections) expect([c.name, `>=${installed.get(c.name)},`]).toEqual([c.name, expect.stringContaining(c.version.split("<")[0])]);
  });

  it("yamllint accepts every YAML file with the tree's config", () => {
    check("yamllint", ["--strict", "-c", ".yamllint", "."], dir);
  });

  it("haproxy -c accepts every host's haproxy.cfg", () => {
    const configs = fs.readdirSync(path.join(dir, "files")).map((h) => path.join(dir, "files", h, "haproxy.cfg")).filter((f) => fs.existsSync(f));
    expect(configs.length).toBe(6);
    for (const config of configs) check("haproxy", ["-c", "-f", config], dir);
  });

  it("promtool accepts the Prometheus config and the alert rules", () => {
    check("promtool", ["check", "config", "files/prometheus/prometheus.yml"], dir);
    expect(check("promtool", ["check", "rules", "files/prometheus/shop.rules.yml"], dir)).toContain("SUCCESS");
  });

  it("fires PatroniNoLeader once the cluster stays unlocked past twice the TTL, not before (promtool test rules)", () => {
    fs.writeFileSync(path.join(dir, "no-leader.test.yml"), NO_LEADER_TEST);
    check("promtool", ["test", "rules", "no-leader.test.yml"], dir);
  });

  it("pgbackrest reads pgbackrest.conf without an invalid option and targets the encrypted Spaces bucket", () => {
    // The keys live in the Vault-fed include directory on the hosts; stand-ins here. No network in
    // tests, so `info` ends at the bucket's address: that is the point it must reach.
    const include = path.join(dir, "pgbackrest-include");
    fs.mkdirSync(include);
    fs.writeFileSync(path.join(include, "repository.conf"), "[global]\nrepo1-s3-key=stand-in\nrepo1-s3-key-secret=stand-in\nrepo1-cipher-pass=stand-in\n");
    const r = spawnSync("pgbackrest", [`--config=${path.join(dir, "files/pg-nyc1-1/pgbackrest.conf")}`, `--config-include-path=${include}`,
      `--log-path=${include}`, "--stanza=shop-production", "--io-timeout=1", "info"], { encoding: "utf8", timeout: 30_000 });
    const output = `${r.stdout}${r.stderr}`;
    expect(output).not.toMatch(/invalid option/);
    expect(output).toContain("shop-production-pgbackrest.ams3.digitaloceanspaces.com");
    expect(output).toContain("cipher: aes-256-cbc");
  });

  it("amtool accepts the Alertmanager config", () => {
    check("amtool", ["check-config", "files/alertmanager/alertmanager.yml"], dir);
  });
});
