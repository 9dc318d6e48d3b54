// The generated tree checked by the real tools from Debian, as CI runs them.
import { LabPki } from "../../lab/backends/loopback/pki";
import { PRODUCTION_TLS } from "../../playbooks-gen/render-env";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { writeTree } from "../../playbooks-gen/engine/tree";
import { generateTree } from "../../playbooks-gen/generate";
import { requireDebianPackages } from "../support/debian";
import { example, EXAMPLE_OUTPUTS, exampleOutputs, standbyExample, standbyOutputs } from "./fixtures";

/** Runs a checker with a time bound; returns its combined output, failing the test on a non-zero exit. */
function check(command: string, args: readonly string[], cwd: string, timeoutMs = 60_000): string {
  const r = spawnSync(command, args, { cwd, encoding: "utf8", timeout: timeoutMs, env: { ...process.env, ANSIBLE_NOCOLOR: "1", NO_COLOR: "1" } });
  const output = `${r.stdout}${r.stderr}`;
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} exited ${r.status ?? r.signal}:\n${output}`);
  return output;
}

/** promtool rule tests: the database alerts on blackbox probes of Patroni's REST API (a replica-only
 * region is alive), and the Sentinel failover alert on a fresh deploy and after a real promotion. */
const RULES_TEST = `rule_files:
  - files/prometheus/shop.rules.yml
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'probe_success{job="patroni_liveness", region="nyc1", scope="shop-production", instance="http://pg-nyc1-1:8008/liveness"}'
        values: '1x40'
      - series: 'probe_success{job="patroni_liveness", region="ams3", scope="shop-production", instance="http://pg-ams3-1:8008/liveness"}'
        values: '1x20 0x20'
      - series: 'probe_success{job="patroni_leader", region="nyc1", scope="shop-production", instance="http://pg-nyc1-1:8008/leader"}'
        values: '1x20 0x20'
      - series: 'probe_success{job="patroni_leader", region="ams3", scope="shop-production", instance="http://pg-ams3-1:8008/leader"}'
        values: '0x40'
    alert_rule_test:
      # ams3 holds only a replica: alive, and the cluster has its leader in nyc1.
      - eval_time: 4m
        alertname: DatabaseRegionDown
        exp_alerts: []
      - eval_time: 4m
        alertname: PatroniNoLeader
        exp_alerts: []
      # From 5m15s ams3's node stops answering and nyc1's node no longer leads.
      - eval_time: 7m
        alertname: DatabaseRegionDown
        exp_alerts:
          - exp_labels: {severity: critical, component: database, region: ams3}
            exp_annotations: {summary: "No Patroni node in ams3 answers"}
      - eval_time: 5m30s
        alertname: PatroniNoLeader
        exp_alerts: []
      - eval_time: 6m
        alertname: PatroniNoLeader
        exp_alerts:
          - exp_labels: {severity: critical, component: database, scope: shop-production}
            exp_annotations: {summary: "Patroni cluster shop-production has no leader"}
  - interval: 1m
    input_series:
      # nyc1's Redis is primary from the first scrape (a fresh deploy); at 31m Sentinel promotes ams3's.
      - series: 'redis_instance_info{job="redis", instance="redis-nyc1-1:9121", role="master"}'
        values: '1x30'
      - series: 'redis_instance_info{job="redis", instance="redis-ams3-1:9121", role="slave"}'
        values: '1x30'
      - series: 'redis_instance_info{job="redis", instance="redis-ams3-1:9121", role="master"}'
        values: '_x30 1x30'
    alert_rule_test:
      - eval_time: 1m
        alertname: RedisSentinelFailover
        exp_alerts: []
      - eval_time: 9m
        alertname: RedisSentinelFailover
        exp_alerts: []
      - eval_time: 33m
        alertname: RedisSentinelFailover
        exp_alerts:
          - exp_labels: {severity: warning, component: redis}
            exp_annotations: {summary: "Sentinel promoted a new Redis primary"}
      - eval_time: 50m
        alertname: RedisSentinelFailover
        exp_alerts: []
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
    writeTree(standbyDir, generateTree(standbyExample(), standbyOutputs(), EXAMPLE_OUTPUTS));
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
    // The deployment CA the checks verify Patroni against must exist (on the hosts, the pki role puts it there first).
    const ca = new LabPki(path.join(dir, "pki")).caFile;
    for (const config of configs) {
      fs.writeFileSync(`${config}.checked`, fs.readFileSync(config, "utf8").split(PRODUCTION_TLS.caFile).join(ca));
      check("haproxy", ["-c", "-f", `${config}.checked`], dir);
    }
  });

  it("promtool accepts the Prometheus config and the alert rules", () => {
    // promtool checks that the TLS files of the etcd scrape exist (on the hosts, the pki role puts them there first).
    const pki = new LabPki(path.join(dir, "pki"));
    const tls = pki.issue(path.join(dir, "pki", "prometheus"), "prometheus", ["127.0.0.1"]);
    const config = Object.entries({ [PRODUCTION_TLS.caFile]: tls.caFile, [PRODUCTION_TLS.certFile]: tls.certFile, [PRODUCTION_TLS.keyFile]: tls.keyFile })
      .reduce((text, [from, to]) => text.split(from).join(to), fs.readFileSync(path.join(dir, "files/prometheus/prometheus.yml"), "utf8"));
    fs.writeFileSync(path.join(dir, "files/prometheus/prometheus.yml.checked"), config);
    check("promtool", ["check", "config", "files/prometheus/prometheus.yml.checked"], dir);
    expect(check("promtool", ["check", "rules", "files/prometheus/shop.rules.yml"], dir)).toContain("SUCCESS");
  });

  it("keeps a replica-only region out of DatabaseRegionDown, and fires RedisSentinelFailover after a promotion but not on a fresh deploy (promtool test rules)", () => {
    fs.writeFileSync(path.join(dir, "rules.test.yml"), RULES_TEST);
    check("promtool", ["test", "rules", "rules.test.yml"], dir);
  });

  it("scrapes no Patroni /metrics: Prometheus rejects Patroni 3.0.2's replica output, so the alerts probe its REST API", () => {
    // Patroni's own handler prints `None` for the timeline of a replica that cannot read it.
    const metrics = spawnSync("/usr/bin/python3", [path.join(__dirname, "patroni-metrics.py")], { encoding: "utf8", timeout: 30_000 });
    expect(metrics.stdout).toMatch(/^patroni_postgres_timeline\{scope="shop-production"\} None$/m);
    const lint = spawnSync("promtool", ["check", "metrics"], { input: metrics.stdout, encoding: "utf8", timeout: 30_000 });
    expect(lint.status).not.toBe(0);
    expect(lint.stderr).toMatch(/expected float as value, got "None"/);
    const config = yaml.load(fs.readFileSync(path.join(dir, "files/prometheus/prometheus.yml"), "utf8")) as {
      scrape_configs: Array<{ job_name: string; metrics_path?: string; static_configs: Array<{ targets: string[] }> }>;
    };
    const scraped = config.scrape_configs.filter((j) => j.metrics_path !== "/probe").flatMap((j) => j.static_configs.flatMap((c) => c.targets));
    expect(scraped.filter((target) => target.endsWith(":8008"))).toEqual([]);
    const rules = yaml.load(fs.readFileSync(path.join(dir, "files/prometheus/shop.rules.yml"), "utf8")) as { groups: Array<{ rules: Array<{ expr: string }> }> };
    const metricsUsed = rules.groups.flatMap((g) => g.rules.map((r) => r.expr.replace(/job="[^"]*"/g, "")));
    expect(metricsUsed.filter((expr) => /\bpatroni_[a-z_]+/.test(expr))).toEqual([]);
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
