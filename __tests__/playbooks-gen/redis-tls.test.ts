// Redis and Sentinel over TLS, against real redis-server and redis-sentinel (Debian's 7.0) started from
// the generated templates (templates/redis/*.hbs with the generated TLS settings and ACL users) on
// 127.0.81.x, with a CA made like the lab's: replication and Sentinel's own connections over TLS, a
// failover decided by three Sentinels talking TLS to each other, the ACL users still enforced, and the
// rehearsal's refusal commands (plain text, a certificate from another CA, no user) run as they are.
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PORTS } from "../../lib/model";
import { renderTemplate } from "../../playbooks-gen/engine/templates";
import { pkiRole } from "../../playbooks-gen/roles/pki";
import { redisRole } from "../../playbooks-gen/roles/redis";
import { PRODUCTION_TLS, type TlsFiles } from "../../playbooks-gen/render-env";
import {
  aclFileLines, aclPasswordHash, REDIS_TLS_AUTH_CLIENTS, redisAuthLines, redisTlsLines, redisUser, sentinelAuthLines, type RedisRole,
} from "../../playbooks-gen/views/redis-acl";
import { LabPki } from "../../lab/backends/loopback/pki";
import { redisRefusalCommands, redisRefused, rogueCertScript } from "../../lab/backends/rehearsal/redis-refusals";
import { Redis, redisOnce, type RedisAuth, type RedisTls } from "../../lab/clients/resp";
import { killAll, signal, start, waitFor, type Proc } from "../../lab/proc";
import { redisPassword } from "../examples/shop-stack";
import { requireDebianPackages } from "../support/debian";

const NET = "127.0.81";
const PRIMARY = `${NET}.2`;
const REPLICA = `${NET}.3`;
const SENTINELS = [`${NET}.4`, `${NET}.5`, `${NET}.6`];
const MASTER = "tls";

/** Runs a shell command; resolves to stdout and stderr together. */
const shell = (script: string, env: Record<string, string> = {}) => new Promise<string>((resolve) => {
  execFile("/bin/sh", ["-c", script], { env: { ...process.env, ...env }, timeout: 20_000 }, (_e, stdout, stderr) => resolve(stdout + stderr));
});
const refusal = (p: Promise<unknown>) => p.then(() => "", (e: Error) => e.message);

describe("Redis and Sentinel over TLS (real redis-server and redis-sentinel 7.0, generated templates)", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "redis-tls-"));
  const pki = new LabPki(path.join(root, "ca"), "redis-tls test CA");
  const rogue = new LabPki(path.join(root, "rogue-ca"), "another CA");
  const tlsOf = (addr: string): TlsFiles => pki.issue(path.join(root, "tls", addr), `host-${addr}`, [addr]);
  const clientTls: RedisTls = { caFile: pki.caFile };
  const as = (role: RedisRole): RedisAuth => ({ user: redisUser(role).name, password: redisPassword(redisUser(role)), tls: clientTls });
  const onRedis = (who: RedisAuth | null, args: (string | number)[], host = PRIMARY) => redisOnce(host, PORTS.redis, who, args, clientTls);
  const onSentinel = (host: string, who: RedisAuth | null, args: (string | number)[]) => redisOnce(host, PORTS.sentinel, who, args, clientTls);
  const procs = new Map<string, Proc>();
  const files = new Map<string, TlsFiles>();

  /** Writes one host's config from the generated template, its ACL and auth files, and starts it. */
  function launch(addr: string, sentinel: boolean): void {
    const dir = path.join(root, addr);
    fs.mkdirSync(dir, { recursive: true });
    const tls = files.get(addr) ?? tlsOf(addr);
    files.set(addr, tls);
    const port = sentinel ? PORTS.sentinel : PORTS.redis;
    const common = {
      bind: addr, tls_lines: redisTlsLines(port, tls), config_dir: dir, run_dir: dir, log_dir: dir, data_dir: dir, announce_ip: addr,
      acl_file: "users.acl", auth_file: "auth.conf",
    };
    const conf = path.join(dir, sentinel ? "sentinel.conf" : "redis.conf");
    if (!fs.existsSync(conf)) {
      fs.writeFileSync(path.join(dir, "users.acl"), `${aclFileLines(sentinel ? "sentinel" : "redis", (u) => aclPasswordHash(redisPassword(u))).join("\n")}\n`);
      fs.writeFileSync(path.join(dir, "auth.conf"), `${(sentinel ? sentinelAuthLines(MASTER, redisPassword) : redisAuthLines(redisPassword)).join("\n")}\n`);
      fs.writeFileSync(conf, sentinel
        ? renderTemplate("redis/sentinel.conf.hbs", {
          ...common, port, announce_hostnames: false, master_name: MASTER, master_address: PRIMARY, redis_port: PORTS.redis, quorum: 2,
          down_after_ms: 1000, failover_timeout_ms: 10_000, sentinel_count: SENTINELS.length,
        })
        : renderTemplate("redis/redis.conf.hbs", { ...common, replicaof: addr === PRIMARY ? null : `${PRIMARY} ${PORTS.redis}`, min_replicas_to_write: 0, min_replicas_max_lag: 10 }));
    }
    procs.set(addr, start({ cmd: sentinel ? "/usr/bin/redis-sentinel" : "/usr/bin/redis-server", args: [conf], logFile: path.join(dir, "stdout.log") }));
  }

  const ready = (addr: string, port: number) => waitFor(`${addr}:${port} to answer over TLS`, 15_000,
    () => redisOnce(addr, port, as("admin"), ["PING"], clientTls).then((r) => r === "PONG", () => false));

  beforeAll(async () => {
    requireDebianPackages(["redis-server", "redis-sentinel", "redis-tools", "prometheus-redis-exporter"]);
    for (const a of [PRIMARY, REPLICA]) launch(a, false);
    for (const a of SENTINELS) launch(a, true);
    for (const a of [PRIMARY, REPLICA]) await ready(a, PORTS.redis);
    for (const a of SENTINELS) await ready(a, PORTS.sentinel);
  }, 60_000);

  afterAll(async () => {
    await killAll([...procs.values()]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("renders TLS only, on the service port: no plain-text listener, TLS 1.2+, replication over TLS", () => {
    const conf = fs.readFileSync(path.join(root, PRIMARY, "redis.conf"), "utf8");
    expect(conf).toMatch(/^port 0$/m);
    expect(conf).toMatch(new RegExp(`^tls-port ${PORTS.redis}$`, "m"));
    expect(conf).not.toMatch(new RegExp(`^port ${PORTS.redis}$`, "m"));
    expect(conf).toMatch(/^tls-replication yes$/m);
    expect(conf).toMatch(/^tls-protocols "TLSv1.2 TLSv1.3"$/m);
    expect(fs.readFileSync(path.join(root, SENTINELS[0], "sentinel.conf"), "utf8")).toMatch(new RegExp(`^port 0\\ntls-port ${PORTS.sentinel}$`, "m"));
    expect(REDIS_TLS_AUTH_CLIENTS).toBe("optional");
  });

  it("replicates over TLS with the replication user", async () => {
    await waitFor("the replica to be in sync", 15_000, async () => /master_link_status:up/.test(String(await onRedis(as("admin"), ["INFO", "replication"], REPLICA))));
    await onRedis(as("app"), ["SET", "shop:tls", "replicated"]);
    await waitFor("the write to reach the replica", 5_000, async () => (await onRedis(as("app"), ["GET", "shop:tls"], REPLICA)) === "replicated");
  });

  it("gives a plain-text client no service, on Redis and on Sentinel", async () => {
    for (const [host, port] of [[PRIMARY, PORTS.redis], [SENTINELS[0], PORTS.sentinel]] as const) {
      // Our client, in plain text: the server resets the connection, no reply ever comes.
      expect(await refusal(redisOnce(host, port, null, ["PING"], undefined))).toMatch(/ECONNRESET|connection closed|timed out/);
      // The rehearsal's command (redis-cli without --tls).
      const out = await shell(redisRefusalCommands(host, port, files.get(host)!).plainText);
      expect([host, redisRefused.noService(out)]).toEqual([host, true]);
    }
  });

  it("refuses a client certificate from another CA, takes one from the deployment CA, and refuses a server from another CA", async () => {
    const rogueDir = path.join(root, "rogue");
    await shell(rogueCertScript(rogueDir));
    for (const [host, port] of [[PRIMARY, PORTS.redis], [SENTINELS[1], PORTS.sentinel]] as const) {
      const c = redisRefusalCommands(host, port, files.get(host)!, rogueDir);
      const foreign = await shell(c.foreignCert);
      expect([host, foreign, redisRefused.noService(foreign)]).toEqual([host, foreign, true]);
      // The control: the same command with a certificate from the deployment CA gets through TLS.
      const own = await shell(c.ownCert);
      expect([host, own, redisRefused.reply(own, "NOAUTH")]).toEqual([host, own, true]);
      // Our client too, with a certificate from another CA (made with openssl like the lab's CA).
      const other = rogue.issue(path.join(root, "rogue-client"), "rogue", ["127.0.0.1"]);
      expect(await refusal(redisOnce(host, port, as("admin"), ["PING"], { caFile: pki.caFile, certFile: other.certFile, keyFile: other.keyFile }))).toMatch(/ECONNRESET|connection closed|alert|unknown ca/i);
      // A client trusting another CA does not accept the server.
      expect(await refusal(Redis.connect(host, port, 2000, { caFile: rogue.caFile }))).toMatch(/self.signed|unable to verify|certificate/i);
    }
  });

  it("refuses TLS 1.1 and takes TLS 1.2", async () => {
    const hello = (version: string) => shell(`echo | openssl s_client -connect ${PRIMARY}:${PORTS.redis} -CAfile ${pki.caFile} -${version} 2>&1`);
    // The server answers the TLS 1.1 hello with a protocol_version alert: no cipher agreed.
    const old = await hello("tls1_1");
    expect(old).toMatch(/alert protocol version/);
    expect(old).toMatch(/Cipher is \(NONE\)/);
    const ok = await hello("tls1_2");
    expect(ok).toMatch(/Protocol\s*: TLSv1\.2/);
    expect(ok).not.toMatch(/Cipher is \(NONE\)/);
  });

  it("still enforces the ACL users over TLS: no user, no command; the app may not reconfigure Sentinel", async () => {
    expect(await refusal(onRedis(null, ["GET", "k"]))).toMatch(/^NOAUTH/);
    expect(await refusal(onSentinel(SENTINELS[0], null, ["SENTINEL", "get-master-addr-by-name", MASTER]))).toMatch(/^NOAUTH/);
    expect(await refusal(onRedis(as("app"), ["CONFIG", "SET", "appendonly", "no"]))).toMatch(/^NOPERM/);
    // The rehearsal's commands, as they run there.
    const r = redisRefusalCommands(PRIMARY, PORTS.redis, files.get(PRIMARY)!);
    expect(redisRefused.reply(await shell(r.noUser("set refusal-check 1")), "NOAUTH")).toBe(true);
    const s = redisRefusalCommands(SENTINELS[2], PORTS.sentinel, files.get(SENTINELS[2])!);
    expect(redisRefused.reply(await shell(s.noUser(`sentinel get-master-addr-by-name ${MASTER}`)), "NOAUTH")).toBe(true);
    const app = as("app");
    for (const cmd of [`sentinel set ${MASTER} quorum 1`, `sentinel failover ${MASTER}`]) {
      const out = await shell(s.asUser(app.user, app.password, cmd));
      expect([cmd, out, redisRefused.reply(out, "NOPERM")]).toEqual([cmd, out, true]);
    }
    // And the app's user, over TLS, does reach the Sentinels' answer.
    expect((await shell(s.asUser(app.user, app.password, `sentinel get-master-addr-by-name ${MASTER}`))).split("\n")[0]).toMatch(/^127\.0\.81\.[23]$/);
  });

  it("re-reads a renewed certificate on the pki role's CONFIG SET, without a restart", async () => {
    const serial = () => shell(`echo | openssl s_client -connect ${PRIMARY}:${PORTS.redis} -CAfile ${pki.caFile} 2>/dev/null | openssl x509 -noout -serial`);
    const before = await serial();
    expect(before).toMatch(/^serial=/);
    tlsOf(PRIMARY); // re-issues host.crt and host.key in place, as the pki role does
    expect(await serial()).toBe(before);
    // The pki role's handler, with this test's files and address in place of production's.
    const handler = pkiRole.handlers.find((h) => h.name === "Make Redis re-read its TLS files") as { "ansible.builtin.command": { argv: string[] }; environment: Record<string, string> };
    const t = files.get(PRIMARY)!;
    const swap: Record<string, string> = { [PRODUCTION_TLS.caFile]: t.caFile, [PRODUCTION_TLS.certFile]: t.certFile, [PRODUCTION_TLS.keyFile]: t.keyFile, "127.0.0.1": PRIMARY };
    const argv = handler["ansible.builtin.command"].argv.map((a) => swap[a] ?? a);
    expect(Object.keys(handler.environment)).toEqual(["REDISCLI_AUTH"]);
    const out = await new Promise<string>((resolve) => execFile(argv[0], argv.slice(1), { env: { ...process.env, REDISCLI_AUTH: as("admin").password } }, (_e, o, e) => resolve(o + e)));
    expect(out.trim()).toBe("OK");
    const after = await serial();
    expect(after).toMatch(/^serial=/);
    expect(after).not.toBe(before);
  });

  it("lets Debian's exporter scrape Redis over TLS with the generated environment", async () => {
    const task = redisRole.configure.find((x) => x.name === "Give the exporter its Redis user") as { "ansible.builtin.copy": { content: string } };
    // The generated /etc/default file as systemd's EnvironmentFile reads it, with this test's CA,
    // address (the certificate names it) and password in place of production's.
    const generated = Object.fromEntries(task["ansible.builtin.copy"].content.trim().split("\n").map((l) => {
      const [k, ...v] = l.split("=");
      return [k, v.join("=").replace(/^"(.*)"$/, "$1")];
    }));
    expect(generated.REDIS_ADDR).toBe(`rediss://localhost:${PORTS.redis}`);
    expect(generated.REDIS_EXPORTER_TLS_CA_CERT_FILE).toBe(PRODUCTION_TLS.caFile);
    const env = {
      ...generated, REDIS_ADDR: generated.REDIS_ADDR.replace("localhost", REPLICA), REDIS_EXPORTER_TLS_CA_CERT_FILE: pki.caFile,
      REDIS_PASSWORD: redisPassword(redisUser("exporter")),
    };
    const listen = `${NET}.7:${PORTS.redisExporter}`;
    const scrape = () => shell(`curl -s --max-time 5 http://${listen}/metrics`);
    const exporter = start({ cmd: "/usr/bin/prometheus-redis-exporter", args: [`--web.listen-address=${listen}`], env, logFile: path.join(root, "exporter.log") });
    try {
      const metrics = await waitFor("the exporter to answer", 15_000, async () => { const m = await scrape(); return /^redis_up /m.test(m) ? m : undefined; });
      expect(metrics).toMatch(/^redis_up 1$/m);
      expect(metrics).toMatch(/^redis_connected_clients \d+$/m);
      // The control: the same exporter trusting another CA gets nothing.
      await killAll([exporter]);
      const untrusting = start({ cmd: "/usr/bin/prometheus-redis-exporter", args: [`--web.listen-address=${listen}`], env: { ...env, REDIS_EXPORTER_TLS_CA_CERT_FILE: rogue.caFile }, logFile: path.join(root, "exporter-rogue.log") });
      try {
        const refused = await waitFor("the exporter to answer", 15_000, async () => { const m = await scrape(); return /^redis_up /m.test(m) ? m : undefined; });
        expect(refused).toMatch(/^redis_up 0$/m);
      } finally {
        await killAll([untrusting]);
      }
    } finally {
      await killAll([exporter]);
    }
  }, 40_000);

  it("connects the example app's ioredis through the Sentinels to the primary over TLS (REDIS_TLS_CA_FILE), and names a bad CA file", async () => {
    const app = path.resolve(__dirname, "../../examples/shop-app/lib");
    const { loadConfig } = require(path.join(app, "config.js"));
    const { closeRedis, createRedis, describePrimary } = require(path.join(app, "redis.js"));
    const password = redisPassword(redisUser("app"));
    const env = {
      DATABASE_URL: "postgresql://shop@127.0.0.1/shop", REDIS_SENTINELS: SENTINELS.map((s) => `${s}:${PORTS.sentinel}`).join(","), REDIS_SENTINEL_MASTER: MASTER,
      REDIS_USERNAME: "app", REDIS_PASSWORD: password, REDIS_SENTINEL_USERNAME: "app", REDIS_SENTINEL_PASSWORD: password, REDIS_TLS_CA_FILE: pki.caFile,
    };
    const client = createRedis(loadConfig(env).redis, "tls-test");
    try {
      await waitFor("ioredis to be ready", 10_000, () => client.status === "ready");
      expect(await client.set("shop:ioredis", "over tls")).toBe("OK");
      expect(describePrimary(client)).toBe(`${PRIMARY}:${PORTS.redis}`);
      expect(client.stream.encrypted).toBe(true);
    } finally {
      closeRedis(client);
    }
    expect(() => loadConfig({ ...env, REDIS_TLS_CA_FILE: path.join(root, "missing.crt") })).toThrow(/REDIS_TLS_CA_FILE must name a readable PEM CA certificate, got ".*missing\.crt" \(ENOENT\)/);
  });

  it("fails over when the primary dies: three Sentinels agree and vote over TLS, the replica is promoted", async () => {
    await waitFor("every Sentinel to know the other two", 20_000, async () => {
      const n = await Promise.all(SENTINELS.map((s) => onSentinel(s, as("admin"), ["SENTINEL", "sentinels", MASTER]).then((r) => (r as unknown[]).length, () => 0)));
      return n.every((k) => k === SENTINELS.length - 1);
    }, 200);
    signal(procs.get(PRIMARY)!, "SIGKILL");
    await waitFor("every Sentinel to name the replica", 30_000, async () => {
      const named = await Promise.all(SENTINELS.map((s) => onSentinel(s, as("app"), ["SENTINEL", "get-master-addr-by-name", MASTER]).catch(() => null)));
      return named.every((a) => Array.isArray(a) && a[0] === REPLICA);
    }, 200);
    expect(String(await onRedis(as("admin"), ["INFO", "replication"], REPLICA))).toMatch(/role:master/);
    expect(await onRedis(as("app"), ["GET", "shop:tls"], REPLICA)).toBe("replicated");
    // The old primary comes back as a replica of the new one, over TLS (Sentinel reconfigures it).
    // Sentinel takes its time here by design: it sends INFO to a replica every 10 s, notes a reply that
    // says "master", and sends REPLICAOF only from a later reply, once the instance has held that role
    // and been up for 8 s (4 x its 2 s publish period); then a full sync over TLS. That measured 11.0 s
    // three times on an idle machine, 13 s with six CPU burners. Each check that falls short adds 10 s,
    // and a Sentinel whose timer runs over 2 s late (a slow fsync of its config on a busy disk, a
    // starved process) enters TILT and acts on nothing for 30 s: one CI run took over 30 s, another
    // over 60 s. What this spec proves is that the old primary rejoins over TLS, not how fast (the
    // drills measure that), so the wait allows 150 s and a failure prints what the Sentinels did.
    launch(PRIMARY, false);
    try {
      await waitFor("the old primary to replicate from the new one", 150_000, async () =>
        /role:slave[\s\S]*master_link_status:up/.test(String(await onRedis(as("admin"), ["INFO", "replication"], PRIMARY).catch(() => ""))), 250);
    } catch (e) {
      // What each Sentinel did about the old primary (and whether it was in TILT), and the old
      // primary's own log, so a failure says why.
      const events = /[+-](tilt|sdown|odown|reboot|role-change|convert-to-slave|slave|switch-master)\b|REPLICAOF|SLAVEOF/;
      const lines = (file: string, keep: (l: string) => boolean) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(keep).slice(-25) : ["(no log)"]);
      const logs = [
        ...SENTINELS.map((a) => `Sentinel ${a}:\n${lines(path.join(root, a, "redis-sentinel.log"), (l) => events.test(l)).join("\n")}`),
        `old primary ${PRIMARY}:\n${lines(path.join(root, PRIMARY, "redis-server.log"), (l) => l.trim() !== "").join("\n")}`,
      ];
      throw new Error(`${(e as Error).message}\n${logs.join("\n")}`);
    }
  }, 240_000);
});
