// Policy over the generated tree for Redis, Sentinel, the failover hook and Alertmanager (issue 11): no
// server without users, one Vault variable per user, no password outside Vault, no task that handles a
// secret without no_log, a hook that authenticates its caller and runs unprivileged, and no
// Alertmanager client without HTTPS and the password.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { renderFailoverHookUnit } from "../../playbooks-gen/render/failover";
import { ALERTMANAGER_HOOK_TOKEN_FILE, FAILOVER_HOOK_AUTH_FILE, FAILOVER_HOOK_USER } from "../../playbooks-gen/views/failover";
import {
  ALERTMANAGER_HASH_FACT, ALERTMANAGER_PASSWORD_FILE, ALERTMANAGER_PASSWORD_VAULT, ALERTMANAGER_USER, ALERTMANAGER_WEB_CONFIG, PROMETHEUS_HASH_FACT,
  PROMETHEUS_WEB_CONFIG,
} from "../../playbooks-gen/views/monitoring";
import { PRODUCTION_TLS } from "../../playbooks-gen/render-env";
import { generateTree } from "../../playbooks-gen/generate";
import { VAULT_VARIABLES } from "../../playbooks-gen/roles/vault";
import { aclPasswordHash, REDIS_USERS, usersOn } from "../../playbooks-gen/views/redis-acl";
import { ansibleConditions } from "./ansible-eval";
import { PORTS } from "../../lib/model/ports";
import { synthStacks } from "../support/synth";
import { example, EXAMPLE_OUTPUTS, exampleOutputs, standbyExample, outputsFor } from "./fixtures";

type Task = Record<string, unknown>;

/** Every task of every task list in the tree (role tasks and handlers, playbooks' tasks), blocks opened. */
function tasksOf(tree: Record<string, string>): Array<[file: string, task: Task]> {
  const out: Array<[string, Task]> = [];
  const walk = (file: string, list: unknown) => {
    if (!Array.isArray(list)) return;
    for (const t of list as Task[]) {
      if (!t || typeof t !== "object") continue;
      if ("hosts" in t) { for (const k of ["pre_tasks", "tasks", "post_tasks", "handlers"]) walk(file, t[k]); continue; }
      const { block, rescue, always, ...own } = t;
      out.push([file, own]);
      for (const l of [block, rescue, always]) walk(file, l);
    }
  };
  for (const [file, text] of Object.entries(tree)) {
    if (!/^(site\.yml|playbooks\/.*\.yml)$/.test(file) || /\/(defaults|meta|vars)\//.test(file)) continue;
    walk(file, yaml.load(text));
  }
  return out;
}

/** Secrets as they would look written out in clear in a Redis or Sentinel file. */
const REDIS_SECRET = [
  /^\s*(requirepass|masterauth|sentinel (auth-pass \S+|sentinel-pass))\s+"?(?!\{\{)[^\s"]+"?\s*$/m,
  /^\s*user \S+ .*\s>\S/m,
  /^\s*user \S+ .*\s#[0-9a-f]{64}\b/m,
];
const redisSecrets = (text: string) => REDIS_SECRET.filter((p) => p.test(text)).length;

describe.each([["stretched", example()], ["standby-cluster", standbyExample()]])("security policy over the generated tree (%s example)", (_, t) => {
  const tree = generateTree(t, outputsFor(t), EXAMPLE_OUTPUTS);
  const tasks = tasksOf(tree);
  const copyContent = (role: string, dest: string) => {
    const task = tasks.find(([f, x]) => f === `playbooks/roles/${role}/tasks/configure.yml` && String((x["ansible.builtin.copy"] as Task | undefined)?.dest ?? "").endsWith(dest));
    if (!task) throw new Error(`no task of ${role} writes ${dest}`);
    return task[1];
  };

  it("sets no_log on every task that handles a Vault value", () => {
    const secretTasks = tasks.filter(([, x]) => JSON.stringify(x).includes("vault_"));
    expect(secretTasks.length).toBeGreaterThan(5);
    for (const [file, x] of secretTasks) expect([file, x.name, x.no_log]).toEqual([file, x.name, true]);
  });

  it("writes no Redis or Sentinel password, nor an ACL password or hash, in clear anywhere in the tree", () => {
    for (const [file, text] of Object.entries(tree)) expect([file, redisSecrets(text)]).toEqual([file, 0]);
  });

  it("has a Redis secret scan that catches planted passwords", () => {
    for (const line of ["requirepass hunter2", "masterauth \"hunter2\"", "sentinel auth-pass shop hunter2", "sentinel sentinel-pass hunter2",
      "user app on >hunter2 ~* +@all", `user app on #${"ab".repeat(32)} ~* +@all`]) {
      expect([line, redisSecrets(line)]).toEqual([line, 1]);
    }
  });

  it("runs every Redis and Sentinel with an ACL file, protected mode and no requirepass", () => {
    const redis = Object.entries(tree).filter(([f]) => /^files\/[^/]+\/(redis|sentinel)\.conf$/.test(f));
    expect(redis.length).toBeGreaterThanOrEqual(5);
    for (const [file, text] of redis) {
      expect([file, /^aclfile "\/etc\/redis\/(redis|sentinel)-users\.acl"$/m.test(text), /^protected-mode yes$/m.test(text), /^requirepass/m.test(text)]).toEqual([file, true, true, false]);
    }
  });

  it("adds the aclfile line to a Redis or Sentinel config written before the ACL users (else it would run without a password)", () => {
    for (const [role, file, acl] of [["redis", "{{ redis_config_file }}", "redis-users.acl"], ["redis_sentinel", "{{ redis_sentinel_config_file }}", "sentinel-users.acl"]] as const) {
      const list = tasks.filter(([f]) => f === `playbooks/roles/${role}/tasks/configure.yml`).map(([, x]) => x);
      const install = list.findIndex((x) => (x["ansible.builtin.copy"] as Task | undefined)?.dest === file);
      const line = list.findIndex((x) => (x["ansible.builtin.lineinfile"] as Task | undefined)?.path === file);
      expect([role, install >= 0 && line > install]).toEqual([role, true]);
      expect(list[line]["ansible.builtin.lineinfile"]).toEqual({ path: file, regexp: "^aclfile ", line: `aclfile "{{ redis_config_dir }}/${acl}"` });
    }
  });

  it("turns the default user off and gives each user its own Vault password, on Redis and on Sentinel", () => {
    for (const [role, dest, service] of [["redis", "redis-users.acl", "redis"], ["redis_sentinel", "sentinel-users.acl", "sentinel"]] as const) {
      const task = copyContent(role, dest);
      const lines = String((task["ansible.builtin.copy"] as Task).content).trim().split("\n");
      expect(lines[0]).toBe("user default off resetpass resetkeys resetchannels -@all");
      expect(lines.slice(1)).toEqual(usersOn(service).map((u) => expect.stringMatching(new RegExp(`^user ${u.name} on #\\{\\{ ${u.vault} \\| hash\\('sha256'\\) \\}\\} \\{\\{ \\S+_acl_${u.role}_rules \\}\\}$`))));
      expect(task.no_log).toBe(true);
    }
    for (const u of REDIS_USERS) expect(VAULT_VARIABLES.map(([n]) => n)).toContain(u.vault);
    expect(VAULT_VARIABLES.map(([n]) => n)).not.toContain("vault_redis_password");
  });

  it("authenticates replicas, Sentinel (to Redis and to the other Sentinels) and the app each as its own user", () => {
    expect(String((copyContent("redis", "redis-auth.conf")["ansible.builtin.copy"] as Task).content)).toBe("masteruser replica\nmasterauth \"{{ vault_redis_replication_password }}\"\n");
    const sentinel = String((copyContent("redis_sentinel", "sentinel-auth.conf")["ansible.builtin.copy"] as Task).content);
    expect(sentinel).toMatch(/^sentinel auth-user .+ sentinel$/m);
    expect(sentinel).toMatch(/^sentinel sentinel-user sentinel$/m);
    expect(sentinel).toMatch(/^sentinel sentinel-pass "\{\{ vault_redis_sentinel_password \}\}"$/m);
    const env = String((copyContent("app", "app_env_file }}")["ansible.builtin.copy"] as Task).content);
    expect(env).toMatch(/^REDIS_USERNAME=app$/m);
    expect(env).toMatch(/^REDIS_SENTINEL_USERNAME=app$/m);
    expect(env).toMatch(/^REDIS_SENTINEL_PASSWORD=\{\{ vault_redis_app_password \}\}$/m);
  });
});

describe("the failover hook (stretched example with synchronous_mode)", () => {
  const tree = generateTree(example(), exampleOutputs(), EXAMPLE_OUTPUTS);
  const tasks = tasksOf(tree);
  const task = (role: string, dest: string) => tasks.find(([f, x]) => f.startsWith(`playbooks/roles/${role}/`) && JSON.stringify(x).includes(`"dest":"${dest}"`))?.[1];

  it("is authenticated by Alertmanager with a bearer token from Vault, which the hook and Alertmanager alone can read", () => {
    const am = yaml.load(tree["files/alertmanager/alertmanager.yml"]) as { receivers: Array<{ name: string; webhook_configs?: Array<Record<string, unknown>> }> };
    const hook = am.receivers.find((r) => r.name === "database-failover")!.webhook_configs![0];
    // Every Alertmanager posts to the hook's one host by name, over HTTPS verified against the deployment CA.
    expect(hook.url).toBe(`https://mon-ams3-1:${PORTS.failoverHook}/failover`);
    expect(hook.http_config).toEqual({ authorization: { type: "Bearer", credentials_file: ALERTMANAGER_HOOK_TOKEN_FILE }, tls_config: { ca_file: PRODUCTION_TLS.caFile } });
    expect(tree["files/failover-hook/failover-hook.ini"]).toContain(`\ncert_file = ${PRODUCTION_TLS.certFile}\nkey_file = ${PRODUCTION_TLS.keyFile}\n`);
    expect(task("alertmanager", ALERTMANAGER_HOOK_TOKEN_FILE)).toMatchObject({
      "ansible.builtin.copy": { content: "{{ vault_failover_hook_token }}\n", owner: "root", group: "prometheus", mode: "0640" }, no_log: true,
    });
    expect(task("failover_hook", FAILOVER_HOOK_AUTH_FILE)).toMatchObject({
      "ansible.builtin.copy": { content: "{{ vault_failover_hook_token }}\n", owner: "root", group: FAILOVER_HOOK_USER, mode: "0640" }, no_log: true,
    });
    expect(tree["files/failover-hook/failover-hook.ini"]).toContain(`auth_token_file = ${FAILOVER_HOOK_AUTH_FILE}\n`);
  });

  it("keeps its settings root's, readable by its own group only", () => {
    for (const dest of ["/etc/shop-failover-hook/failover-hook.ini", "/etc/shop-failover-hook/patronictl.yml", "/etc/shop-failover-hook/digitalocean-token"]) {
      expect([dest, task("failover_hook", dest)?.["ansible.builtin.copy"]]).toEqual([dest, expect.objectContaining({ owner: "root", group: FAILOVER_HOOK_USER, mode: "0640" })]);
    }
  });

  it("runs as its own system user under a unit systemd-analyze accepts, with a low exposure score", () => {
    const unit = renderFailoverHookUnit();
    expect(unit).toMatch(new RegExp(`^User=${FAILOVER_HOOK_USER}$`, "m"));
    for (const line of ["NoNewPrivileges=true", "ProtectSystem=strict", "PrivateTmp=true", "CapabilityBoundingSet=", "ProtectHome=true"]) expect(unit.split("\n")).toContain(line);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hook-unit-"));
    try {
      const file = path.join(dir, "shop-failover-hook.service");
      fs.writeFileSync(file, unit);
      const verify = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
      expect([verify.status, `${verify.stdout}${verify.stderr}`.trim()]).toEqual([0, ""]);
      const security = spawnSync("systemd-analyze", ["security", "--offline=true", file], { encoding: "utf8" });
      const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(security.stdout)?.[1] ?? NaN);
      // Root with ProtectSystem=full (before) scored 9.3.
      expect(score).toBeLessThanOrEqual(2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each([["stretched", example()], ["standby-cluster", standbyExample()]])("Alertmanager's clients (%s example)", (_, t) => {
  const tree = generateTree(t, outputsFor(t), EXAMPLE_OUTPUTS);
  const tasks = tasksOf(tree);

  it("every Alertmanager client in the tree uses HTTPS verified with the CA and carries the credentials", () => {
    // Prometheus: every alertmanagers entry, whatever its targets.
    const prom = yaml.load(tree["files/prometheus/prometheus.yml"]) as { alerting: { alertmanagers: Array<Record<string, unknown>> } };
    expect(prom.alerting.alertmanagers.length).toBeGreaterThan(0);
    for (const am of prom.alerting.alertmanagers) {
      expect(am).toMatchObject({
        scheme: "https", basic_auth: { username: ALERTMANAGER_USER, password_file: ALERTMANAGER_PASSWORD_FILE }, tls_config: { ca_file: PRODUCTION_TLS.caFile },
      });
      expect(Object.keys(am.basic_auth as object)).not.toContain("password");
    }
    // Every task that calls Alertmanager's port (health checks): HTTPS, the CA, the Vault password, no_log.
    const callers = tasks.filter(([, x]) => JSON.stringify(x).includes(`:${PORTS.alertmanager}`));
    expect(callers.length).toBeGreaterThan(0);
    for (const [file, x] of callers) {
      expect([file, x.name, x["ansible.builtin.uri"]]).toEqual([file, x.name, expect.objectContaining({
        url: expect.stringMatching(/^https:\/\//), ca_path: PRODUCTION_TLS.caFile, url_username: ALERTMANAGER_USER,
        url_password: `{{ ${ALERTMANAGER_PASSWORD_VAULT} }}`, force_basic_auth: true,
      })]);
      expect([file, x.name, x.no_log]).toEqual([file, x.name, true]);
    }
    // No plain-HTTP URL of Alertmanager anywhere else (Grafana, scripts, configs).
    for (const [file, text] of Object.entries(tree)) expect([file, new RegExp(`http://[^\\s"']*:${PORTS.alertmanager}\\b`).test(text)]).toEqual([file, false]);
  });

  it("serves the API only with the web config (TLS with the host's certificate, one user with a bcrypt hash from Vault)", () => {
    for (const [file, text] of Object.entries(tree).filter(([f]) => f.endsWith("/alertmanager.default"))) {
      expect([file, text]).toEqual([file, expect.stringContaining(`--web.config.file=${ALERTMANAGER_WEB_CONFIG} `)]);
    }
    const web = tasks.find(([, x]) => (x["ansible.builtin.copy"] as Task | undefined)?.dest === ALERTMANAGER_WEB_CONFIG)?.[1];
    expect(web).toMatchObject({ "ansible.builtin.copy": { owner: "root", group: "prometheus", mode: "0640" }, no_log: true });
    const config = yaml.load(String((web!["ansible.builtin.copy"] as Task).content)) as Record<string, Record<string, string>>;
    expect(config).toEqual({
      tls_server_config: { cert_file: PRODUCTION_TLS.certFile, key_file: PRODUCTION_TLS.keyFile, min_version: "TLS12" },
      basic_auth_users: { [ALERTMANAGER_USER]: `{{ ${ALERTMANAGER_HASH_FACT} }}` },
    });
    const hash = tasks.find(([, x]) => JSON.stringify(x["ansible.builtin.set_fact"] ?? {}).includes(ALERTMANAGER_HASH_FACT))?.[1];
    expect(hash).toMatchObject({ no_log: true });
    expect(JSON.stringify(hash)).toContain(`${ALERTMANAGER_PASSWORD_VAULT} | password_hash('bcrypt'`);
    const file = tasks.find(([, x]) => (x["ansible.builtin.copy"] as Task | undefined)?.dest === ALERTMANAGER_PASSWORD_FILE)?.[1];
    expect(file).toMatchObject({ "ansible.builtin.copy": { content: `{{ ${ALERTMANAGER_PASSWORD_VAULT} }}\n`, owner: "root", group: "prometheus", mode: "0640" }, no_log: true });
    expect(VAULT_VARIABLES.map(([n]) => n)).toContain(ALERTMANAGER_PASSWORD_VAULT);
    // Prometheus's loopback API: the same user, basic auth only.
    const prom = tasks.find(([, x]) => (x["ansible.builtin.copy"] as Task | undefined)?.dest === PROMETHEUS_WEB_CONFIG)?.[1];
    expect(prom).toMatchObject({ "ansible.builtin.copy": { owner: "root", group: "prometheus", mode: "0640" }, no_log: true });
    expect(yaml.load(String((prom!["ansible.builtin.copy"] as Task).content))).toEqual({ basic_auth_users: { [ALERTMANAGER_USER]: `{{ ${PROMETHEUS_HASH_FACT} }}` } });
  });
});

describe("Prometheus", () => {
  it("listens on loopback only, behind its web config, and no firewall opens its port", () => {
    const t = example();
    const tree = generateTree(t, outputsFor(t), EXAMPLE_OUTPUTS);
    expect(tree["files/prometheus/prometheus.default"]).toMatch(new RegExp(`^ARGS="--web.config.file=${PROMETHEUS_WEB_CONFIG} --web.listen-address=127\\.0\\.0\\.1:${PORTS.prometheus}"$`, "m"));
    const { stacks } = synthStacks(t);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const firewalls = stacks.flatMap((s) => Object.values(((s.json as any).resource?.digitalocean_firewall ?? {}) as Record<string, any>));
    expect(firewalls.length).toBeGreaterThan(0);
    const open = firewalls.flatMap((f) => (f.inbound_rule ?? []) as Array<{ port_range?: string }>).filter((r) => r.port_range === String(PORTS.prometheus));
    expect(open).toEqual([]);
  });
});

describe("the ACL file's password hash", () => {
  it("is what Redis stores: Ansible's hash('sha256') of the Vault value equals the lab's (#<sha256 hex>)", () => {
    const password = "pa ss\"wörd'1";
    const [same] = ansibleConditions([{ condition: `'#' ~ (vault_redis_app_password | hash('sha256')) == '${aclPasswordHash(password)}'`, vars: { vault_redis_app_password: password } }]);
    expect(same).toBe(true);
  }, 120_000);
});

/** A plain-HTTP URL to etcd: by port (2379, 2380), or any http:// in an etcd config. */
const plainEtcdUrls = (file: string, text: string): string[] => [
  ...text.matchAll(new RegExp(`http://[^\\s"',/]+:(${PORTS.etcdClient}|${PORTS.etcdPeer})\\b`, "g")),
  ...(file.endsWith("etcd.yml") ? text.matchAll(/http:\/\/\S+/g) : []),
].map((m) => `${file}: ${m[0]}`);

describe.each([["stretched", example()], ["standby-cluster", standbyExample()]])("etcd's clients and peers (%s example)", (_, t) => {
  const tree = generateTree(t, outputsFor(t), EXAMPLE_OUTPUTS);

  it("has no http:// etcd URL anywhere in the generated tree", () => {
    expect(Object.entries(tree).flatMap(([file, text]) => plainEtcdUrls(file, text))).toEqual([]);
  });

  it("has a scan that catches a planted plain-HTTP etcd URL", () => {
    expect(plainEtcdUrls("x.yml", "hosts: [\"http://etcd-nyc1-1:2379\"]")).toHaveLength(1);
    expect(plainEtcdUrls("files/e/etcd.yml", "listen-metrics-urls: http://127.0.0.1:2381")).toHaveLength(1);
  });

  it("every etcd member takes TLS with client certificates for clients and peers alike", () => {
    const configs = Object.entries(tree).filter(([f]) => f.startsWith("files/") && f.endsWith("/etcd.yml"));
    expect(configs.length).toBeGreaterThan(0);
    for (const [file, text] of configs) {
      const c = yaml.load(text) as Record<string, unknown>;
      for (const section of ["client-transport-security", "peer-transport-security"]) {
        expect([file, c[section]]).toEqual([file, { "cert-file": PRODUCTION_TLS.certFile, "key-file": PRODUCTION_TLS.keyFile, "trusted-ca-file": PRODUCTION_TLS.caFile, "client-cert-auth": true }]);
      }
    }
  });

  it("every etcdctl and etcd3 client in the tree presents the CA, a certificate and key; Patroni's and the hook's log in as their cluster's user", () => {
    const etcdctl = tasksOf(tree).flatMap(([file, task]) => JSON.stringify(task).match(/"etcdctl"[^\]]*/g)?.map((m) => [file, m] as const) ?? []);
    expect(etcdctl.length).toBeGreaterThan(0);
    for (const [file, argv] of etcdctl) {
      for (const flag of ["--endpoints=https://", `--cacert=${PRODUCTION_TLS.caFile}`, `--cert=${PRODUCTION_TLS.certFile}`, `--key=${PRODUCTION_TLS.keyFile}`]) expect([file, argv]).toEqual([file, expect.stringContaining(flag)]);
    }
    const etcd3 = Object.entries(tree).filter(([f]) => f.endsWith("patroni.yml") || f.endsWith("patronictl.yml"));
    expect(etcd3.length).toBeGreaterThan(0);
    for (const [file, text] of etcd3) {
      const section = (yaml.load(text) as { etcd3: Record<string, unknown> }).etcd3;
      expect([file, section]).toEqual([file, expect.objectContaining({
        protocol: "https", cacert: PRODUCTION_TLS.caFile, cert: PRODUCTION_TLS.certFile, key: PRODUCTION_TLS.keyFile, username: expect.stringMatching(/^patroni-/),
      })]);
      expect(section.password).toBeUndefined();
    }
  });
});
