// Alertmanager's API behind HTTPS and basic auth, for real: the alertmanager role's web config tasks run
// by ansible-playbook (connection local, paths moved into a temporary directory) write the web config
// with the password's bcrypt hash; Debian's prometheus-alertmanager serves it on 127.0.61.1; the
// rehearsal's refusal commands run against it; Debian's Prometheus, with the generated alerting
// section, delivers an alert to it, and answers its own API only with the password (its web config,
// written by the prometheus role's tasks); promtool accepts the generated prometheus.yml.
// Addresses 127.0.61.0/24 are this test's alone (no lab binds them), so it needs no lab lock.
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { generateTree } from "../../playbooks-gen/generate";
import { PRODUCTION_TLS } from "../../playbooks-gen/render-env";
import { ALERTMANAGER_HOOK_TOKEN_FILE } from "../../playbooks-gen/views/failover";
import {
  ALERTMANAGER_PASSWORD_FILE, ALERTMANAGER_USER, ALERTMANAGER_WEB_CONFIG, PROMETHEUS_RULES_DIR, PROMETHEUS_WEB_CONFIG,
} from "../../playbooks-gen/views/monitoring";
import { alertmanagerRequest, REFUSAL_ALERT, refusalSilence } from "../../lab/backends/rehearsal/refusals";
import { killAll, procsOfChildren } from "../../lab/proc";
import { requireDebianPackages } from "../support/debian";
import { example, EXAMPLE_OUTPUTS, exampleOutputs } from "./fixtures";

const AM = "127.0.61.1:9093";
const PROMETHEUS = "127.0.61.2:9090";
const tree = generateTree(example(), exampleOutputs(), EXAMPLE_OUTPUTS);

type Task = Record<string, unknown>;

describe("Alertmanager's API with the generated web config (HTTPS, basic auth)", () => {
  let root: string;
  const at = (f: string) => path.join(root, f);
  const children: ChildProcess[] = [];
  const PASSWORD = "first pass\"word\\1";
  const ROTATED = "second-password-2";

  /** The roles' web config tasks, from "Look for …" to "Write …" (Alertmanager's, then Prometheus's),
   * with the host paths moved. */
  function webConfigPlay(): string {
    const slice = (role: string, service: string) => {
      const tasks = yaml.load(tree[`playbooks/roles/${role}/tasks/configure.yml`]) as Task[];
      const first = tasks.findIndex((x) => x.name === `Look for ${service}'s web config`);
      const last = tasks.findIndex((x) => String(x.name).startsWith(`Write ${service}'s web config`));
      expect([role, first >= 0, last > first]).toEqual([role, true, true]);
      return tasks.slice(first, last + 1);
    };
    const moved = [[ALERTMANAGER_WEB_CONFIG, at("web.yml")], [PROMETHEUS_WEB_CONFIG, at("prometheus-web.yml")], [PRODUCTION_TLS.certFile, at("host.crt")], [PRODUCTION_TLS.keyFile, at("host.key")]]
      .reduce((s, [from, to]) => s.split(from).join(to), JSON.stringify([...slice("alertmanager", "Alertmanager"), ...slice("prometheus", "Prometheus")]));
    return JSON.stringify([{ hosts: "all", gather_facts: false, tasks: JSON.parse(moved) }]);
  }

  function ansible(password: string, env: Record<string, string> = {}) {
    return spawnSync("ansible-playbook", ["-i", "testhost,", "-c", "local", "play.yml", "-e", JSON.stringify({ vault_alertmanager_password: password })], {
      cwd: root, encoding: "utf8", timeout: 120_000, env: { ...process.env, ANSIBLE_NOCOLOR: "1", ANSIBLE_PYTHON_INTERPRETER: "/usr/bin/python3", ...env },
    });
  }
  function converge(password: string): { changed: number; out: string } {
    const r = ansible(password);
    const out = `${r.stdout}${r.stderr}`;
    if (r.status !== 0) throw new Error(`ansible-playbook exited ${r.status}:\n${out}`);
    return { changed: Number(/testhost\s+:.*changed=(\d+)/.exec(out)?.[1]), out };
  }
  const storedHash = (file = "web.yml") => (yaml.load(fs.readFileSync(at(file), "utf8")) as { basic_auth_users: Record<string, string> }).basic_auth_users[ALERTMANAGER_USER];

  /** The rehearsal's command, run here: the HTTP status. */
  function request(url: string, o: Omit<Parameters<typeof alertmanagerRequest>[1], "caFile"> = {}): string {
    const r = alertmanagerRequest(url, { caFile: at("ca.crt"), ...o });
    return execFileSync("/bin/sh", ["-c", r.script], { input: r.input, encoding: "utf8" }).trim();
  }
  const api = (p: string) => `https://${AM}${p}`;

  async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (ok()) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  function start(argv: string[], log: string): void {
    const out = fs.openSync(at(log), "a");
    children.push(spawn(argv[0], argv.slice(1), { stdio: ["ignore", out, out] }));
  }

  beforeAll(() => {
    requireDebianPackages(["prometheus", "prometheus-alertmanager", "ansible"]);
    root = fs.mkdtempSync(path.join(os.tmpdir(), "am-auth-"));
    // A CA and Alertmanager's certificate (the pki role's key type and names, the test's address).
    const ssl = (...a: string[]) => execFileSync("openssl", a, { cwd: root, stdio: "pipe" });
    ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=test CA");
    ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "host.key", "-out", "host.csr", "-subj", "/CN=mon-test");
    fs.writeFileSync(at("san.cnf"), `subjectAltName=DNS:mon-test,IP:${AM.split(":")[0]},DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n`);
    ssl("x509", "-req", "-in", "host.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "host.crt", "-days", "2", "-extfile", "san.cnf");
    fs.writeFileSync(at("play.yml"), webConfigPlay());
    fs.writeFileSync(at("hook-token"), "token\n");
    // The hook's token and the CA its webhook verifies against (Alertmanager reads it at start), as on a converged host.
    fs.writeFileSync(at("alertmanager.yml"), tree["files/alertmanager/alertmanager.yml"].split(ALERTMANAGER_HOOK_TOKEN_FILE).join(at("hook-token"))
      .split(PRODUCTION_TLS.caFile).join(at("ca.crt")));
  }, 60_000);

  afterAll(async () => {
    // Alertmanager writes its storage on SIGTERM: its directory goes only after it has exited.
    const running = procsOfChildren(children);
    await killAll(running, "SIGTERM").catch(() => killAll(running));
    if (root) fs.rmSync(root, { recursive: true, force: true });
  }, 30_000);

  it("stops with a clear message, writing nothing, when the controller's Ansible cannot make a bcrypt hash (no passlib)", () => {
    // Ansible falls back to crypt() without passlib, which gives "*0" for bcrypt.
    fs.mkdirSync(at("no-passlib/passlib"), { recursive: true });
    fs.writeFileSync(at("no-passlib/passlib/__init__.py"), "raise ImportError('hidden by the test')\n");
    const r = ansible(PASSWORD, { PYTHONPATH: at("no-passlib") });
    expect([r.status, `${r.stdout}${r.stderr}`]).toEqual([2, expect.stringContaining("install python3-passlib")]);
    expect(fs.existsSync(at("web.yml"))).toBe(false);
  }, 120_000);

  it("writes the web configs with a bcrypt hash, and a second run changes nothing (the salted hash is kept)", () => {
    expect(converge(PASSWORD).changed).toBe(2);
    const hash = storedHash();
    expect(hash).toMatch(/^\$2[aby]\$12\$[./A-Za-z0-9]{53}$/);
    expect(fs.statSync(at("web.yml")).mode & 0o777).toBe(0o640);
    expect(fs.readFileSync(at("web.yml"), "utf8")).not.toContain(PASSWORD);
    const check = spawnSync("promtool", ["check", "web-config", at("web.yml"), at("prometheus-web.yml")], { encoding: "utf8" });
    expect([check.status, `${check.stdout}${check.stderr}`]).toEqual([0, expect.stringContaining("SUCCESS")]);
    const promHash = storedHash("prometheus-web.yml");
    expect(promHash).toMatch(/^\$2[aby]\$12\$[./A-Za-z0-9]{53}$/);
    expect(converge(PASSWORD).changed).toBe(0);
    expect([storedHash(), storedHash("prometheus-web.yml")]).toEqual([hash, promHash]);
  }, 200_000);

  it("serves HTTPS only: 401 without credentials or with a wrong password, 200 with the right one (the rehearsal's commands)", async () => {
    start(["/usr/bin/prometheus-alertmanager", `--config.file=${at("alertmanager.yml")}`, `--storage.path=${at("am-data")}`, `--web.listen-address=${AM}`,
      `--web.config.file=${at("web.yml")}`, "--cluster.listen-address="], "alertmanager.log");
    await until("Alertmanager", () => request(api("/api/v2/status")) === "401");
    expect(request(api("/api/v2/alerts"), { method: "POST", body: REFUSAL_ALERT })).toBe("401");
    expect(request(api("/api/v2/silences"), { method: "POST", body: refusalSilence() })).toBe("401");
    expect(request(api("/api/v2/silences"), { method: "POST", body: refusalSilence(), user: ALERTMANAGER_USER, password: `${PASSWORD}-wrong` })).toBe("401");
    expect(request(api("/api/v2/status"), { user: "admin", password: PASSWORD })).toBe("401");
    expect(request(api("/api/v2/status"), { user: ALERTMANAGER_USER, password: PASSWORD })).toBe("200");
    // The refused bodies were valid: the same silence with the password is taken.
    expect(request(api("/api/v2/silences"), { method: "POST", body: refusalSilence(), user: ALERTMANAGER_USER, password: PASSWORD })).toBe("200");
    expect(request(`http://${AM}/api/v2/status`)).toBe("400");
  }, 60_000);

  it("takes Prometheus's alerts with the generated alerting section (basic auth from the password file, CA-verified HTTPS)", async () => {
    fs.writeFileSync(at("alertmanager-password"), `${PASSWORD}\n`);
    const generated = yaml.load(tree["files/prometheus/prometheus.yml"]) as { alerting: { alertmanagers: Array<Record<string, unknown>> } };
    const alerting = JSON.parse(JSON.stringify(generated.alerting).split(ALERTMANAGER_PASSWORD_FILE).join(at("alertmanager-password"))
      .split(PRODUCTION_TLS.caFile).join(at("ca.crt")));
    expect(alerting.alertmanagers[0]).toMatchObject({ scheme: "https", basic_auth: { username: ALERTMANAGER_USER } });
    alerting.alertmanagers[0].static_configs = [{ targets: [AM] }];
    fs.writeFileSync(at("always.yml"), yaml.dump({ groups: [{ name: "test", rules: [{ alert: "ShopAuthTest", expr: "vector(1)" }] }] }));
    fs.writeFileSync(at("prometheus.yml"), yaml.dump({ global: { evaluation_interval: "1s" }, alerting, rule_files: [at("always.yml")] }));
    start(["/usr/bin/prometheus", `--config.file=${at("prometheus.yml")}`, `--storage.tsdb.path=${at("prom-data")}`, `--web.listen-address=${PROMETHEUS}`, `--web.config.file=${at("prometheus-web.yml")}`,
      // Sent again every second: an alert sent before the notifier knew its Alertmanagers is not lost for a minute.
      "--rules.alert.resend-delay=1s"], "prometheus.log");
    const firing = () => {
      const r = alertmanagerRequest(api("/api/v2/alerts?filter=alertname%3D%22ShopAuthTest%22"), { caFile: at("ca.crt"), user: ALERTMANAGER_USER, password: PASSWORD });
      const body = r.script.replace("-s -o /dev/null -w '%{http_code}'", "-s");
      return execFileSync("/bin/sh", ["-c", body], { input: r.input, encoding: "utf8" }).includes("ShopAuthTest");
    };
    // Prometheus's own API takes the same password, and nothing without it.
    const prom = (o: { user?: string; password?: string }) => {
      const r = alertmanagerRequest(`http://${PROMETHEUS}/api/v1/alerts`, { caFile: at("ca.crt"), ...o });
      return execFileSync("/bin/sh", ["-c", r.script], { input: r.input, encoding: "utf8" }).trim();
    };
    await until("Prometheus", () => prom({}) === "401");
    expect(prom({ user: ALERTMANAGER_USER, password: `${PASSWORD}-wrong` })).toBe("401");
    expect(prom({ user: ALERTMANAGER_USER, password: PASSWORD })).toBe("200");
    await until("Prometheus's alert in Alertmanager", firing, 60_000).catch((e) => {
      const r = alertmanagerRequest(api("/api/v2/alerts"), { caFile: at("ca.crt"), user: ALERTMANAGER_USER, password: PASSWORD });
      const alerts = execFileSync("/bin/sh", ["-c", r.script.replace("-s -o /dev/null -w '%{http_code}'", "-s")], { input: r.input, encoding: "utf8" });
      throw new Error(`${e.message}; Alertmanager has ${alerts}; Prometheus said:\n${fs.readFileSync(at("prometheus.log"), "utf8").split("\n").filter((l) => !/level=info/.test(l)).join("\n").slice(-3000)}`);
    });
  }, 90_000);

  it("takes a rotated password at the next run, and Alertmanager the new one without a restart", async () => {
    const before = storedHash();
    expect(converge(ROTATED).changed).toBe(2);
    expect(storedHash()).not.toBe(before);
    expect(request(api("/api/v2/status"), { user: ALERTMANAGER_USER, password: ROTATED })).toBe("200");
    expect(request(api("/api/v2/status"), { user: ALERTMANAGER_USER, password: PASSWORD })).toBe("401");
    expect(converge(ROTATED).changed).toBe(0);
  }, 200_000);
});

describe("the generated prometheus.yml with Alertmanager's credentials", () => {
  it("passes promtool check config (with the password and CA files in place, as on a converged host)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "prom-auth-"));
    try {
      const moved = () => {
        fs.writeFileSync(path.join(dir, "alertmanager-password"), "x\n");
        // The CA and the host's certificate and key (the etcd job presents them) exist on a converged host.
        for (const f of [PRODUCTION_TLS.caFile, PRODUCTION_TLS.certFile, PRODUCTION_TLS.keyFile]) fs.writeFileSync(path.join(dir, path.basename(f)), "");
        fs.mkdirSync(path.join(dir, "rules"), { recursive: true });
        fs.writeFileSync(path.join(dir, "prometheus.yml"), tree["files/prometheus/prometheus.yml"].split(ALERTMANAGER_PASSWORD_FILE).join(path.join(dir, "alertmanager-password"))
          .split(PRODUCTION_TLS.caFile).join(path.join(dir, path.basename(PRODUCTION_TLS.caFile))).split(PRODUCTION_TLS.certFile).join(path.join(dir, path.basename(PRODUCTION_TLS.certFile)))
          .split(PRODUCTION_TLS.keyFile).join(path.join(dir, path.basename(PRODUCTION_TLS.keyFile))).split(PROMETHEUS_RULES_DIR).join(path.join(dir, "rules")));
        return spawnSync("promtool", ["check", "config", path.join(dir, "prometheus.yml")], { encoding: "utf8" });
      };
      const ok = moved();
      expect([ok.status, `${ok.stdout}${ok.stderr}`]).toEqual([0, expect.stringContaining("SUCCESS")]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
