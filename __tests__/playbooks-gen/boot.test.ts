// The rendered configs work for real: three etcd members boot from their files and form a cluster with
// the v3 JSON gateway Patroni talks to; `patroni --validate-config` accepts every node's patroni.yml
// against it; Redis and Sentinel start from theirs. Addresses 127.0.77.x keep clear of the lab's.
import { spawn, spawnSync, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { hostsOf, hostsRunning, type Host } from "../../lib/model/hosts";
import { renderEtcdConfig } from "../../playbooks-gen/render/etcd";
import { renderPatroniConfig } from "../../playbooks-gen/render/patroni";
import { REDIS_AUTH_FILE, renderRedisConfig, renderSentinelConfig, SENTINEL_AUTH_FILE } from "../../playbooks-gen/render/redis";
import { aclFileLines, aclPasswordHash, REDIS_ACL_FILE, redisAuthLines, SENTINEL_ACL_FILE, sentinelAuthLines } from "../../playbooks-gen/views/redis-acl";
import type { RenderEnv } from "../../playbooks-gen/render-env";
import * as yaml from "js-yaml";
import { generateTree } from "../../playbooks-gen/generate";
import { requireDebianPackages } from "../support/debian";
import { LabPki } from "../../lab/backends/loopback/pki";
import { httpsRequest, tlsClient } from "../../lab/clients/https";
import { patroniEtcdEnvironment } from "../../playbooks-gen/views/etcd-auth";
import { ansibleConditions } from "./ansible-eval";
import { example, EXAMPLE_OUTPUTS, exampleOutputs } from "./fixtures";

const t = example();
const hosts = hostsOf(t);
const tree = generateTree(t, exampleOutputs(), EXAMPLE_OUTPUTS);
const address = (name: string) => `127.0.77.${2 + hosts.findIndex((h) => h.name === name)}`;

function testEnv(root: string): RenderEnv {
  const dir = (h: Host) => path.join(root, h.name);
  return {
    addressOf: address,
    listenAddress: (h) => address(h.name),
    localAddress: (h) => address(h.name),
    paths: (h) => ({
      configDir: dir(h), pgDataDir: path.join(dir(h), "data"), pgSocketDir: dir(h), etcdDataDir: path.join(dir(h), "etcd"),
      redisDataDir: dir(h), logDir: dir(h), runDir: dir(h),
    }),
    postgresBinDir: "/usr/lib/postgresql/15/bin",
    clientNetworks: ["127.0.0.0/8"],
    superuserNetworks: [],
    tls: (h) => ({ caFile: path.join(root, "pki", "ca.crt"), certFile: path.join(dir(h), "tls", "host.crt"), keyFile: path.join(dir(h), "tls", "host.key") }),
    archiveCommand: "/bin/true",
  };
}

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("rendered etcd and Patroni configs boot", () => {
  let root: string;
  let env: RenderEnv;
  const members: ChildProcess[] = [];

  function start(command: string, args: readonly string[], logName: string): ChildProcess {
    const log = fs.openSync(path.join(root, logName), "w");
    const child = spawn(command, args, { stdio: ["ignore", log, log] });
    members.push(child);
    return child;
  }

  beforeAll(async () => {
    requireDebianPackages(["etcd-server", "etcd-client", "patroni", "postgresql-15", "redis-server", "redis-sentinel"]);
    root = fs.mkdtempSync(path.join(os.tmpdir(), "boot-"));
    env = testEnv(root);
    // The deployment's CA and every host's certificate, as the pki role (production) or the lab makes them.
    const pki = new LabPki(path.join(root, "pki"));
    for (const h of hosts) pki.issue(path.dirname(env.tls(h).certFile), h.name, [address(h.name)]);
    for (const host of hostsRunning(t, "etcd")) {
      const config = path.join(root, host.name, "etcd.yml");
      fs.mkdirSync(path.dirname(config), { recursive: true });
      fs.writeFileSync(config, renderEtcdConfig(t, host, env));
      start("etcd", ["--config-file", config], `${host.name}-etcd.log`);
    }
    const endpoints = hostsRunning(t, "etcd").map((h) => `https://${address(h.name)}:2379`).join(",");
    await until("a healthy etcd cluster", () =>
      spawnSync("etcdctl", ["--endpoints", endpoints, ...etcdTlsFlags(), "endpoint", "health"], { timeout: 5000, env: { ...process.env, ETCDCTL_API: "3" } }).status === 0, 30_000);
  }, 60_000);

  afterAll(async () => {
    for (const m of members) m.kill("SIGKILL");
    await until("etcd members to exit", () => members.every((m) => m.exitCode !== null || m.signalCode !== null), 10_000);
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** etcd takes TLS with a client certificate from the deployment CA only: the first database host's. */
  function etcdTlsFlags(): string[] {
    const tls = env.tls(hostsRunning(t, "patroni")[0]);
    return [`--cacert=${tls.caFile}`, `--cert=${tls.certFile}`, `--key=${tls.keyFile}`];
  }

  it("serves the v3 JSON gateway Patroni's etcd3 client uses, with all three members, over TLS with a client certificate", async () => {
    const etcd = hostsRunning(t, "etcd")[0];
    const response = await httpsRequest(`https://${address(etcd.name)}:2379/v3/cluster/member/list`, tlsClient(env.tls(hostsRunning(t, "patroni")[0])), { method: "POST", body: "{}" });
    expect(response.status).toBe(200);
    const body = JSON.parse(response.body) as { members: Array<{ name: string }> };
    expect(body.members.map((m) => m.name).sort()).toEqual(hostsRunning(t, "etcd").map((h) => h.name).sort());
  });

  it("satisfies the etcd role's wait for the topology's members, which a one-member default etcd does not", () => {
    // The condition the role's start waits on, evaluated by Ansible on this cluster's etcdctl output.
    const wait = (yaml.load(tree["playbooks/roles/etcd/tasks/service.yml"]) as Array<Record<string, unknown>>)
      .find((task) => String(task.name).startsWith("Wait until every member"))!;
    const vars = yaml.load(tree["inventory/host_vars/etcd-ams3-1.yml"]) as { etcd_cluster_members: string[] };
    const etcd = hostsRunning(t, "etcd")[0];
    const list = spawnSync("etcdctl", [`--endpoints=https://${address(etcd.name)}:2379`, ...etcdTlsFlags(), "member", "list", "--write-out=json"], { encoding: "utf8", timeout: 10_000 });
    expect(list.status).toBe(0);
    // What Debian's package starts on install: one member named after the host, on localhost.
    const defaults = { ...JSON.parse(list.stdout), members: [{ ID: 1, name: etcd.name, peerURLs: ["http://localhost:2380"], clientURLs: ["http://localhost:2379"] }] };
    expect(ansibleConditions([list.stdout, JSON.stringify(defaults)].map((stdout) => ({ condition: String(wait.until), vars: { ...vars, etcd_member_list: { rc: 0, stdout } } }))
      .concat([{ condition: String(wait.until), vars: { ...vars, etcd_member_list: { rc: 1, stdout: "" } } }]))).toEqual([true, false, false]);
  }, 120_000);

  it("patroni --validate-config accepts every node's patroni.yml", () => {
    for (const host of hostsRunning(t, "patroni")) {
      const config = path.join(root, host.name, "patroni.yml");
      fs.mkdirSync(path.dirname(config), { recursive: true });
      fs.writeFileSync(config, renderPatroniConfig(t, host, env));
      // Passwords come from the environment, as on the hosts.
      const r = spawnSync("/usr/bin/python3", ["/usr/bin/patroni", "--validate-config", config], {
        encoding: "utf8", timeout: 30_000,
        env: { ...process.env, PATRONI_SUPERUSER_PASSWORD: "x", PATRONI_REPLICATION_PASSWORD: "x", PATRONI_REWIND_PASSWORD: "x", ...patroniEtcdEnvironment("x") },
      });
      expect([host.name, r.status, `${r.stdout}${r.stderr}`.trim()]).toEqual([host.name, 0, ""]);
    }
  });

  it("starts Redis and Sentinel from their rendered files, with the users and passwords from the ACL and include files", async () => {
    const redis = hostsRunning(t, "redis")[0];
    const sentinel = hostsRunning(t, "sentinel").find((h) => h.tier === "witness")!;
    const passwordOf = (u: { name: string }) => `stand-in-${u.name}`;
    const hashOf = (u: { name: string }) => aclPasswordHash(passwordOf(u));
    const lines = (l: string[]) => `${l.join("\n")}\n`;
    for (const [host, file, files] of [
      [redis, "redis.conf", { [REDIS_ACL_FILE]: lines(aclFileLines("redis", hashOf)), [REDIS_AUTH_FILE]: lines(redisAuthLines(passwordOf)) }],
      [sentinel, "sentinel.conf", { [SENTINEL_ACL_FILE]: lines(aclFileLines("sentinel", hashOf)), [SENTINEL_AUTH_FILE]: lines(sentinelAuthLines("shop-production", passwordOf)) }],
    ] as const) {
      fs.mkdirSync(env.paths(host).configDir, { recursive: true });
      for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(env.paths(host).configDir, name), text);
      const render = file === "redis.conf" ? renderRedisConfig : renderSentinelConfig;
      fs.writeFileSync(path.join(root, host.name, file), render(t, host, env));
    }
    const app = ["--no-auth-warning", "--user", "app", "--pass", passwordOf({ name: "app" })];
    start("redis-server", [path.join(root, redis.name, "redis.conf")], "redis.log");
    start("redis-sentinel", [path.join(root, sentinel.name, "sentinel.conf")], "sentinel.log");
    // Both speak TLS only: redis-cli verifies their certificates against the deployment CA.
    const tls = ["--tls", "--cacert", env.tls(redis).caFile];
    const cli = (host: Host, port: number, args: string[]) => spawnSync("redis-cli", ["-h", address(host.name), "-p", String(port), ...args], { encoding: "utf8", timeout: 5000 });
    const ping = (host: Host, port: number, auth: string[]) => cli(host, port, [...tls, ...auth, "ping"]).stdout.trim();
    await until("Redis to answer the app's user", () => ping(redis, 6379, app) === "PONG", 15_000);
    expect(ping(redis, 6379, [])).toMatch(/NOAUTH/);
    await until("Sentinel to answer the app's user", () => ping(sentinel, 26379, app) === "PONG", 15_000);
    expect(ping(sentinel, 26379, [])).toMatch(/NOAUTH/);
    for (const [host, port] of [[redis, 6379], [sentinel, 26379]] as const) {
      const plain = cli(host, port, [...app, "ping"]);
      // (redis-cli's AUTH gets "I/O error", then its PING the reset.)
      expect([host.name, plain.stdout + plain.stderr]).toEqual([host.name, expect.stringMatching(/^Error: (Connection reset by peer|Server closed the connection)/m)]);
      expect(plain.stdout).not.toMatch(/PONG/);
    }
    const master = cli(sentinel, 26379, [...tls, ...app, "sentinel", "get-master-addr-by-name", "shop-production"]);
    expect(master.stdout.split("\n")[0]).toBe(address(redis.name));
  });
});
