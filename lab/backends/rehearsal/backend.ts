// The rehearsal as a DrillBackend: the hosts are the containers Ansible converged; faults are what a
// cloud does to a droplet (power cut, power on, freeze); probes speak each server's own protocol to
// its private address from the operator's namespace (the drill process runs there, as on a bastion);
// customer orders go through the reference app's HTTP API; the failover hook is the one Ansible
// installed, triggered by the real alert path (Prometheus rule → Alertmanager → webhook).
import { execFileSync } from "child_process";
import { Client } from "pg";
import { failoverHookHostOf, hostsOf, PORTS, type Host, type Service, type TimingPresetName, type Topology } from "../../../lib/model";
import { postgresClusterOf, sentinelMasterName } from "../../../playbooks-gen/views/clusters";
import { failoverHookNeeded, survivingRegion } from "../../../playbooks-gen/views/failover";
import { PATRONI_CONFIG_FILE, PATRONI_ENV_FILE } from "../../../playbooks-gen/roles/patroni";
import * as probe from "../loopback/probes";
import { agreedRedisPrimary, waitRedisHealthy } from "../redis-health";
import type { BackendProvider, DrillBackend, ExecResult, FailoverHookControl, Member, OrderWriter, PgTarget, RedisIdentity, RedisReplication, RedisTarget, StoredOrder, WriteOp } from "../types";
import { boot, execOn, freeze, hostDirs, initPid, powerCut, thaw } from "./hosts";
import { EDGE_ADDRESS, EDGE_PORT, planOf, type HostPlan, type Plan, type RehearsalPaths } from "./plan";
import { readState, wanCutFile, writeState } from "./rehearsal";
import * as fs from "fs";
import { poll, sleep } from "./sys";
import { readVault, redisAuthFromVault } from "./vault";
import { RehearsalError } from "./errors";
import * as path from "path";
import { tlsClient, type TlsClient } from "../../clients/https";

import type { RedisAuth } from "../../clients/resp";
/** Orders the drills write carry this idempotency-key prefix; the number after it is the drill's id. */
export const DRILL_KEY_PREFIX = "drill-";
/** Orders of the customers that go through the edge stand-ins. */
export const CUSTOMER_KEY_PREFIX = "edge-";
const WRITE_INTERVAL_MS = 20;
const WRITE_TIMEOUT_MS = 2000;

/** Which systemd unit runs a service on a converged host. */
const UNITS: Partial<Record<Service, string>> = {
  etcd: "etcd", patroni: "patroni", haproxy: "haproxy", redis: "redis-server", sentinel: "redis-sentinel",
  app: "shop-app", worker: "shop-worker", prometheus: "prometheus", alertmanager: "prometheus-alertmanager",
};

export class RehearsalBackend implements DrillBackend {
  readonly kind = "rehearsal" as const;
  readonly preset: TimingPresetName;
  private readonly plan: Plan;
  private readonly byName: ReadonlyMap<string, HostPlan>;
  private readonly byAddress: ReadonlyMap<string, string>;
  private readonly vault: Record<string, string>;

  constructor(readonly t: Topology, private readonly p: RehearsalPaths, readonly log: (line: string) => void) {
    this.preset = t.timing;
    this.plan = planOf(t);
    this.byName = new Map(this.plan.hosts.map((h) => [h.host.name, h]));
    this.byAddress = new Map(this.plan.hosts.flatMap((h) => [[h.privateIpv4, h.host.name], [h.publicIpv4, h.host.name]]));
    this.vault = readVault(p);
  }

  private hp(name: string): HostPlan {
    const h = this.byName.get(name);
    if (!h) throw new Error(`no rehearsal host named ${name}`);
    return h;
  }

  private addr(name: string): string {
    return this.hp(name).privateIpv4;
  }

  /** A host name from what a server reports (an address or, with announce-hostnames, a name). */
  private nameAt(addrOrName: string): string {
    return this.byName.has(addrOrName) ? addrOrName : this.byAddress.get(addrOrName) ?? addrOrName;
  }

  hosts(): readonly Host[] {
    return hostsOf(this.t);
  }

  host(name: string): Host {
    return this.hp(name).host;
  }

  hostsRunning(service: Service): readonly Host[] {
    return this.hosts().filter((h) => h.services.includes(service));
  }

  async powerOff(host: string): Promise<void> {
    powerCut(this.hp(host).machine);
  }

  async powerOn(host: string): Promise<void> {
    const h = this.hp(host);
    if (initPid(h.machine) !== null) return;
    const state = readState(this.p);
    if (!state?.baseDir) throw new RehearsalError("the rehearsal state has no image layer: run down and up again");
    state.hosts[h.machine].nspawnPid = boot(h, hostDirs(this.p.hosts, h.machine), state.hosts[h.machine].loopDevice ?? null);
    writeState(this.p, state);
    await poll(`${host} to boot`, 120_000, () => initPid(h.machine) !== null, 200);
    await execOn(h.machine, ["systemctl", "is-system-running", "--wait"], { timeoutMs: 180_000 });
  }

  async freeze(host: string): Promise<void> {
    freeze(this.hp(host).machine);
  }

  async thaw(host: string): Promise<void> {
    thaw(this.hp(host).machine);
  }

  async killService(host: string, service: Service): Promise<void> {
    const unit = UNITS[service === "postgresql" ? "patroni" : service];
    if (!unit) throw new Error(`the rehearsal does not know the unit of ${service}`);
    // PostgreSQL alone: its postmaster, whose PID is the first line of postmaster.pid; Patroni runs on.
    const cmd = service === "postgresql"
      ? `kill -KILL "$(head -1 "$(runuser -u postgres -- psql -XAtc 'show data_directory')/postmaster.pid")"`
      : `systemctl kill --signal=KILL ${unit}`;
    await this.mustExec(host, ["/bin/sh", "-c", cmd]);
  }

  async startService(host: string, service: Service): Promise<void> {
    const unit = UNITS[service === "postgresql" ? "patroni" : service];
    if (!unit) throw new Error(`the rehearsal does not know the unit of ${service}`);
    await this.mustExec(host, ["systemctl", "start", unit]);
  }

  /** systemd on each host restarts what died (Restart=, the Patroni drop-in): nothing to do here. */
  async recoverDatabaseHosts(): Promise<string[]> {
    return [];
  }

  endDrill(): string[] {
    return [];
  }

  /** Cuts between regions, carried out by the fabric's WAN forwarder (the drill process, on the
   * operator's bastion legs, keeps reaching every host). */
  readonly partitions = {
    isolateRegion: async (region: string): Promise<void> => {
      const others = this.t.regions.map((r) => r.slug).filter((r) => r !== region);
      this.cut = new Set([...this.cut, ...others.map((o) => [region, o].sort().join(" "))]);
      fs.writeFileSync(wanCutFile(this.p), [...this.cut].join("\n") + "\n");
    },
    heal: async (): Promise<void> => {
      this.cut = new Set();
      fs.writeFileSync(wanCutFile(this.p), "");
    },
  };

  private cut = new Set<string>();

  /** The drill's clients sit with an app host of `fromRegion`: a cut between the regions hides `host`. */
  reachable(fromRegion: string, host: string): boolean {
    return !this.cut.has([fromRegion, this.hp(host).host.region].sort().join(" "));
  }

  exec(host: string, argv: readonly string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
    return execOn(this.hp(host).machine, argv, opts);
  }

  private async mustExec(host: string, argv: readonly string[], timeoutMs = 60_000): Promise<string> {
    const r = await this.exec(host, argv, { timeoutMs });
    if (r.code !== 0) throw new Error(`${host}: ${argv.join(" ")} exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  }

  /** patronictl as an operator runs it on a database host: the host's config and its Vault-fed environment. */
  patronictl(host: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
    const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
    return this.mustExec(host, ["/bin/sh", "-c", `set -a; . ${PATRONI_ENV_FILE}; exec patronictl -c ${PATRONI_CONFIG_FILE} ${quoted}`], timeoutMs);
  }

  private clusters(): Array<readonly Host[]> {
    return this.t.database.mode === "standby-cluster" ? this.t.regions.map((r) => postgresClusterOf(this.t, r.slug)).filter((c) => c.length) : [this.hostsRunning("patroni")];
  }

  async members(askNodes?: readonly string[]): Promise<Member[]> {
    const ask = (nodes: readonly string[]) => probe.patroniMembers(nodes.map((n) => this.addr(n)), this.tls);
    if (askNodes) return ask(askNodes);
    return (await Promise.all(this.clusters().map((c) => ask(c.map((h) => h.name))))).flat();
  }

  async leader(): Promise<string | null> {
    return (await this.members()).find((m) => m.role === "leader" && m.state === "running")?.name ?? null;
  }

  async streamingFrom(node: string): Promise<Set<string>> {
    return probe.patroniStreaming(this.addr(node), this.tls);
  }

  patroniAnswers(node: string): Promise<boolean> {
    return probe.patroniAnswers(this.addr(node), this.tls);
  }

  async etcdHealthy(): Promise<boolean> {
    return (await Promise.all(this.hostsRunning("etcd").map((h) => probe.etcdMemberHealthy(this.addr(h.name), this.etcdTls)))).every(Boolean);
  }

  etcdLeader(): Promise<string | null> {
    return probe.etcdLeaderName(new Map(this.hostsRunning("etcd").map((h) => [h.name, this.addr(h.name)])), this.etcdTls);
  }

  redisPrimary(): Promise<string | null> {
    return agreedRedisPrimary(this);
  }

  async sentinelMaster(sentinelHost: string): Promise<string | null> {
    const a = await probe.sentinelMasterAddr(this.addr(sentinelHost), sentinelMasterName(this.t), this.redisLogin("app"));
    return a === null ? null : this.nameAt(a);
  }

  async redisReplication(host: string): Promise<RedisReplication | null> {
    const r = await probe.redisReplicationAt(this.addr(host), this.redisLogin("exporter"));
    return r && { role: r.role, connectedReplicas: r.connected, onlineReplicas: r.online.map((a) => this.nameAt(a)) };
  }

  async waitHealthy(timeoutMs: number, step: (msg: string) => void = () => {}): Promise<void> {
    await poll("etcd members healthy", timeoutMs, () => this.etcdHealthy(), 250);
    for (const nodes of this.clusters()) {
      const names = nodes.map((n) => n.name);
      const lead = await poll("every Patroni replica streaming", timeoutMs, async () => {
        const ms = await this.members(names);
        const l = ms.find((m) => (m.role === "leader" || m.role === "standby_leader") && m.state === "running");
        if (!l || ms.length !== nodes.length || ms.some((m) => m.state !== "running" && m.state !== "streaming")) return undefined;
        const streaming = [...await this.streamingFrom(l.name)].filter((n) => names.includes(n)).length;
        const syncOk = l.role !== "leader" || !this.t.database.synchronousMode || ms.some((m) => m.role === "sync_standby");
        return streaming === nodes.length - 1 && syncOk ? l : undefined;
      }, 250);
      step(`Patroni: ${lead.name} leads, ${nodes.length - 1} replicas streaming`);
    }
    const leader = await this.leader();
    for (const h of this.hostsRunning("app")) {
      await poll(`the app on ${h.name} healthy, writing to ${leader}`, timeoutMs, async () => {
        const res = await fetch(`http://${this.hp(h.name).publicIpv4}:${this.t.app.port}${this.t.app.healthPath}`, { signal: AbortSignal.timeout(3000) });
        return res.status === 200;
      }, 500);
    }
    step(`every app host answers ${this.t.app.healthPath} with 200`);
    await waitRedisHealthy(this, timeoutMs);
    step("Redis: Sentinels agree on the primary, replicas connected");
  }

  /** The app's database user over TLS: the superuser logs in through the host's socket only. */
  pgTarget(node: string): PgTarget {
    return { host: this.addr(node), port: PORTS.postgres, user: "shop", password: this.vault.vault_app_database_password, database: "postgres", sslRootCert: this.caFile };
  }

  /** The deployment CA the playbooks made on the controller (pki_ca_dir). */
  private get caFile(): string {
    return path.join(this.p.pki, "ca.crt");
  }

  private clientTls?: TlsClient;
  private get tls(): TlsClient {
    return (this.clientTls ??= tlsClient({ caFile: this.caFile }));
  }

  /** etcd admits only clients with a certificate from the deployment CA (its reads here need no etcd
   * user): the operator's, made once on the controller with the CA's key, as the pki role signs the
   * hosts', and without a CommonName (etcd's JSON gateway refuses one). */
  private etcdClient?: TlsClient;
  private get etcdTls(): TlsClient {
    if (this.etcdClient) return this.etcdClient;
    const dir = path.join(this.p.pki, "operator");
    const files = { caFile: this.caFile, certFile: path.join(dir, "operator.crt"), keyFile: path.join(dir, "operator.key") };
    if (!fs.existsSync(files.certFile)) {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const csr = path.join(dir, "operator.csr");
      const ext = path.join(dir, "operator.ext");
      fs.writeFileSync(ext, "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=critical,DNS:operator\n");
      const openssl = (args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, SHOP_CA_PASS: this.vault.vault_ca_key_passphrase } });
      openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", files.keyFile, "-out", csr, "-subj", "/"]);
      openssl(["x509", "-req", "-in", csr, "-CA", this.caFile, "-CAkey", path.join(this.p.pki, "ca.key"), "-passin", "env:SHOP_CA_PASS",
        "-CAcreateserial", "-days", "30", "-extfile", ext, "-out", files.certFile]);
      fs.rmSync(csr);
      fs.rmSync(ext);
    }
    return (this.etcdClient = tlsClient(files));
  }

  private shopDb(node: string): PgTarget {
    return { ...this.pgTarget(node), database: "shop" };
  }

  redisTarget(host: string, as: RedisIdentity = "app"): RedisTarget {
    return { host: this.addr(host), port: PORTS.redis, ...this.redisLogin(as) };
  }

  sentinelTarget(host: string, as: RedisIdentity = "app"): RedisTarget {
    return { host: this.addr(host), port: PORTS.sentinel, ...this.redisLogin(as) };
  }

  /** A generated Redis user over TLS, verified against the deployment CA (Redis and Sentinel speak
   * nothing else); no client certificate: tls-auth-clients is optional, the ACL password authenticates. */
  private redisLogin(as: RedisIdentity | "exporter"): RedisAuth {
    return { ...redisAuthFromVault(this.vault, as), tls: { caFile: this.caFile } };
  }

  /** A customer: POST /orders to the app on `appHost`'s public address, one at a time, every 20 ms. */
  orderWriter(appHost: string, firstId: number): OrderWriter {
    return this.httpWriter(`http://${this.hp(appHost).publicIpv4}:${this.t.app.port}/orders`, {}, DRILL_KEY_PREFIX, firstId, `POST /orders on ${appHost}`);
  }

  /** Customers through the edge stand-ins: Cloudflare's load balancer, then a region's load balancer. */
  readonly customers = {
    writer: (firstId: number): OrderWriter =>
      this.httpWriter(`http://${EDGE_ADDRESS}:${EDGE_PORT}/orders`, { host: this.t.domain.hostname }, CUSTOMER_KEY_PREFIX, firstId, `POST /orders to ${this.t.domain.hostname} through the edge stand-ins`),
    nextOrderId: (node: string) => this.nextId(node, CUSTOMER_KEY_PREFIX),
    readOrders: (node: string) => this.ordersWith(node, CUSTOMER_KEY_PREFIX),
  };

  /** Orders posted one at a time, every 20 ms, each with its own idempotency key `prefix<id>`. */
  private httpWriter(url: string, headers: Record<string, string>, prefix: string, firstId: number, via: string): OrderWriter {
    const records: WriteOp[] = [];
    let running = true;
    const loop = (async () => {
      for (let id = firstId; running; id++) {
        const t0 = Date.now() / 1000;
        let op: WriteOp;
        try {
          const res = await fetch(url, {
            method: "POST", headers: { ...headers, "content-type": "application/json", "idempotency-key": `${prefix}${id}` },
            body: JSON.stringify({ item: "drill", quantity: 1 }), signal: AbortSignal.timeout(WRITE_TIMEOUT_MS),
          });
          const body = await res.json().catch(() => ({})) as { db_node?: string; error?: string };
          const t1 = Date.now() / 1000;
          // 2xx: committed. Anything else may or may not have committed (the app reports the database's
          // error after the fact; a load balancer's 503 did not reach the app): unknown, never counted
          // as a loss.
          op = res.ok ? { id, t0, t1, r: "ok", node: this.nameAt(String(body.db_node)) } : { id, t0, t1, r: "info", err: `HTTP ${res.status} ${body.error ?? ""}`.trim() };
        } catch (e) {
          const err = (e as Error & { cause?: { code?: string } });
          // Refused before sending: certainly not written. A timeout or a cut connection: unknown.
          op = { id, t0, t1: Date.now() / 1000, r: err.cause?.code === "ECONNREFUSED" ? "fail" : "info", err: err.cause?.code ?? err.message };
        }
        records.push(op);
        await sleep(Math.max(0, WRITE_INTERVAL_MS - (Date.now() - t0 * 1000)));
      }
    })();
    return { records, via, stop: async () => { running = false; await loop; } };
  }

  private async query<T>(target: PgTarget, text: string): Promise<T[]> {
    const c = new Client({
      host: target.host, port: target.port, user: target.user, password: target.password, database: target.database, connectionTimeoutMillis: 3000, statement_timeout: 60_000,
      ssl: target.sslRootCert ? { ca: fs.readFileSync(target.sslRootCert) } : undefined,
    });
    await c.connect();
    try {
      return (await c.query(text)).rows as T[];
    } finally {
      await c.end();
    }
  }

  nextOrderId(node: string): Promise<number> {
    return this.nextId(node, DRILL_KEY_PREFIX);
  }

  readOrders(node: string): Promise<Map<number, StoredOrder>> {
    return this.ordersWith(node, DRILL_KEY_PREFIX);
  }

  private async nextId(node: string, prefix: string): Promise<number> {
    const rows = await this.query<{ next: string }>(this.shopDb(node), `SELECT coalesce(max(substr(idempotency_key, ${prefix.length + 1})::bigint), 0) + 1 AS next FROM orders WHERE idempotency_key LIKE '${prefix}%'`);
    return Number(rows[0].next);
  }

  private async ordersWith(node: string, prefix: string): Promise<Map<number, StoredOrder>> {
    const rows = await this.query<{ key: string; node: string; at: number }>(this.shopDb(node),
      `SELECT idempotency_key AS key, host(db_node::inet) AS node, extract(epoch FROM created_at)::float8 AS at FROM orders WHERE idempotency_key LIKE '${prefix}%'`);
    return new Map(rows.map((r) => [Number(r.key.slice(prefix.length)), { node: this.nameAt(r.node), at: Number(r.at) }]));
  }

  /** The hook Ansible installed (a unit on the surviving region's monitoring host), restarted so that it
   * acts once in this drill. Alertmanager triggers it; `trigger` only records that the drill would have. */
  async failoverHook(): Promise<FailoverHookControl | null> {
    if (!failoverHookNeeded(this.t)) return null;
    const host = failoverHookHostOf(this.t);
    if (!host) throw new Error(`no monitoring host in ${survivingRegion(this.t)} runs the failover hook`);
    await this.mustExec(host.name, ["systemctl", "restart", "shop-failover-hook"]);
    const since = Math.floor(Date.now() / 1000);
    const log = async () => (await this.exec(host.name, ["journalctl", "-u", "shop-failover-hook", "--since", `@${since}`, "-o", "cat", "--no-pager"])).stdout;
    return {
      trigger: async () => { this.log(`    the failover hook on ${host.name} waits for Alertmanager (the alert path decides when it acts)`); },
      outcome: async () => (await log()).split("\n").find((l) => /^(applied |failover stopped|not confirmed)/.test(l)) ?? null,
      // "<epoch seconds> <host> python3[pid]: triggered by PatroniNoLeader (Alertmanager at 10.x.y.z): …"
      triggered: async () => {
        const out = (await this.exec(host.name, ["journalctl", "-u", "shop-failover-hook", "--since", `@${since}`, "-o", "short-unix", "--no-pager"])).stdout;
        const line = out.split("\n").find((l) => l.includes(": triggered by "));
        const at = Number(line?.split(" ")[0]);
        if (!line || !Number.isFinite(at)) return null;
        const from = /\(Alertmanager at ([^)]+)\)/.exec(line)?.[1];
        // A loopback source is the hook's own host (its Alertmanager posts to its own name).
        return { atMs: at * 1000, by: !from ? "an unnamed Alertmanager" : from.startsWith("127.") ? host.name : this.nameAt(from) };
      },
      stop: async () => {},
    };
  }

  async down(): Promise<string> {
    return "the rehearsal stays up (npm run rehearse -- down removes it)";
  }
}

/** The rehearsal lends its one converged shop to the drill runner: never torn down or rebuilt by it. */
export function rehearsalProvider(t: Topology, p: RehearsalPaths): BackendProvider {
  return {
    kind: "rehearsal",
    capabilities: new Set(["partitions", "customers"]),
    async acquire(preset, log) {
      if (preset !== t.timing) throw new RehearsalError(`the rehearsal runs the preset it was converged with (${t.timing}), not ${preset}`);
      return { backend: new RehearsalBackend(t, p, log), owned: false };
    },
  };
}

