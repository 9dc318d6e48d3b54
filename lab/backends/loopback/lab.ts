// The loopback backend: the topology's hosts on loopback addresses, their rendered configs under the
// working directory, and the processes the lab started (recorded by PID in state.json so `down` kills
// only those). Implements DrillBackend; what only it can do (watchdog stand-in, WAN partitions, the
// DigitalOcean API stand-in's address) it offers as capabilities.
import { execFileSync, spawn, spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { loadTopology, PORTS, type Host, type Service, type TimingPresetName, type Topology } from "../../../lib/model";
import { initialRedisPrimary, sentinelMasterName } from "../../../playbooks-gen/views/clusters";
import { ORDERS_DDL, postgresBinDir, readOrders, sql, startWriter } from "../../clients/pg";
import { WanNetwork } from "../../net/wan";
import { childrenOf, isAlive, killAll, procOf, signal, start, waitFor, type Proc, type SpawnSpec } from "../../proc";
import type { Capabilities, DrillBackend, ExecResult, FailoverHookControl, Member, OrderWriter, PgTarget, RedisIdentity, RedisReplication, RedisTarget, StoredOrder, WatchdogStatus } from "../types";
import { LAB_SERVICES, LabEnv, labHookHost, labHosts } from "./env";
import { DatabaseHostSupervision } from "./db-hosts";
import { FailoverHook } from "./failover-hook";
import * as probe from "./probes";
import { agreedRedisPrimary, waitRedisHealthy } from "../redis-health";
import { LabPki } from "./pki";
import { tlsClient, type TlsClient } from "../../clients/https";
import type { RedisAuth } from "../../clients/resp";
import { CONFIG_FILES, enableEtcdAuth, newSecrets, patroniEnvironment, redisAuth, renderHost, type Secrets } from "./render";

export interface LabOptions {
  readonly topologyFile: string;
  readonly preset: TimingPresetName;
  readonly root: string;
  /** First three octets of the lab's loopback addresses. */
  readonly net: string;
  /** Round trip between regions (ms) through the lab WAN (network namespaces + a delaying forwarder);
   * 0 or absent: every host on the root namespace's loopback, no delay. */
  readonly wanRttMs?: number;
  /** Keep each lab's logs and configs under this directory when it goes down (`--keep-logs DIR`). */
  readonly keepLogs?: string;
}

interface LabState extends LabOptions {
  readonly secrets: Secrets;
  /** `host/service` → the process the lab started. */
  procs: Record<string, Proc>;
}

const RUN_AS: Partial<Record<Service, string>> = { patroni: "postgres" };

export class Lab implements DrillBackend {
  readonly kind = "loopback" as const;
  readonly t: Topology;
  readonly env: LabEnv;
  /** The WAN between regions, when the lab has one (it lives as long as the process that made it). */
  private wan: WanNetwork | null = null;
  /** The region the WAN has cut off, if any. */
  private cutOff: string | null = null;
  /** What freeze() stopped, per host, for thaw(). */
  private frozen = new Map<string, Proc[]>();
  /** Watchdogs, boots after a reset, Patroni restarts. */
  private readonly dbHosts: DatabaseHostSupervision;

  private constructor(private readonly state: LabState, readonly log: (line: string) => void) {
    this.t = { ...loadTopology(state.topologyFile), timing: state.preset };
    const hosts = labHosts(this.t);
    this.env = new LabEnv(state.root, hosts, state.net, postgresBinDir(this.t.database.postgresVersion), labHookHost(this.t, hosts));
    this.dbHosts = new DatabaseHostSupervision({
      env: this.env,
      stateFile: path.join(state.root, "state.json"),
      hostsRunning: (s) => this.hostsRunning(s),
      host: (n) => this.host(n),
      proc: (h, s) => this.proc(h, s),
      recorded: (key) => (this.state.procs[key] && isAlive(this.state.procs[key]) ? this.state.procs[key] : undefined),
      record: (key, proc) => this.adopt(key, proc),
      postgresRunning: (h) => this.postgresProcs(h).length > 0,
      startPatroni: (h) => this.spawnService(h, "patroni"),
    });
  }

  get preset(): TimingPresetName { return this.state.preset; }
  /** The topology file this lab was booted from. */
  get topologyFile(): string { return this.state.topologyFile; }
  get secrets(): Secrets { return this.state.secrets; }
  get wanRttMs(): number { return this.state.wanRttMs ?? 0; }

  // ---- capabilities -------------------------------------------------------------------------------
  /** Every database host has the lab's softdog stand-in behind Patroni's `testing` watchdog driver. */
  readonly watchdog: Capabilities["watchdog"] = {
    status: (host) => this.dbHosts.status(host),
    pauseService: (host, service) => { for (const p of this.serviceProcs(host, service, false)) signal(p, "SIGSTOP"); },
    resumeService: (host, service) => { for (const p of this.serviceProcs(host, service, false)) signal(p, "SIGCONT"); },
  };

  /** Partitions need the lab WAN (`--wan-rtt`): without it every host shares the root namespace. */
  get partitions(): Capabilities["partitions"] | undefined {
    const wan = this.wan;
    if (!wan) return undefined;
    return {
      // The lab's own clients still reach the region.
      isolateRegion: async (region) => { await wan.isolate(region, { client: false }); this.cutOff = region; },
      heal: async () => { await wan.heal(); this.cutOff = null; },
    };
  }

  /** The failover hook fences through the DigitalOcean API at this address (lab/stand-ins/). */
  get fenceApi(): Capabilities["fenceApi"] | undefined {
    return this.env.failoverHook ? { url: this.env.failoverHook.apiUrl } : undefined;
  }

  static exists(root: string): boolean {
    return fs.existsSync(path.join(root, "state.json"));
  }

  /** Opens a lab `up` left running. A lab with a WAN cannot be reopened: the WAN ends with its process. */
  static open(root: string, log: (line: string) => void = () => {}): Lab {
    const lab = new Lab(JSON.parse(fs.readFileSync(path.join(root, "state.json"), "utf8")) as LabState, log);
    if (lab.state.wanRttMs) log(`warning: the lab in ${root} had a WAN, which ended with the process that booted it`);
    return lab;
  }

  /** WAN id: short, from the lab directory (namespaces are named shoplab-<id>-<region>). */
  private wanId(): string {
    return createHash("sha256").update(this.state.root).digest("hex").slice(0, 7);
  }

  static async up(opts: LabOptions, log: (line: string) => void): Promise<Lab> {
    if (Lab.exists(opts.root)) throw new Error(`a lab is already up in ${opts.root}; run \`npm run lab -- down\` first`);
    fs.mkdirSync(opts.root, { recursive: true, mode: 0o755 });
    fs.chmodSync(opts.root, 0o755); // PostgreSQL runs as postgres and must reach its host directory
    if (process.getuid?.() === 0 && spawnSync("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", "/usr/bin/test", "-x", opts.root]).status !== 0) {
      throw new Error(`the postgres user cannot reach ${opts.root}: every parent directory needs o+x`);
    }
    const lab = new Lab({ ...opts, root: path.resolve(opts.root), secrets: newSecrets(), procs: {} }, log);
    lab.save();
    try {
      if (opts.wanRttMs) {
        const regions: Record<string, string[]> = {};
        for (const h of lab.env.hosts) (regions[h.region] ??= []).push(lab.env.addressOf(h.name));
        await WanNetwork.cleanup(lab.wanId());
        // One namespace per host: a host's connections leave with its own address, as on a droplet. etcd
        // checks a peer's certificate against the address it connects from: with a namespace per
        // region, every connection left with the region's first address and etcd refused its peers.
        lab.wan = await WanNetwork.create({ id: lab.wanId(), regions, clientAddress: lab.env.clientAddress, oneWayDelayMs: opts.wanRttMs / 2, logDir: lab.env.root, layout: "host" });
        log(`WAN: every host of ${Object.keys(regions).join(", ")} in its own network namespace, ${opts.wanRttMs} ms round trip between regions, none inside one (lab clients on ${lab.env.clientAddress}, no delay)`);
      }
      await lab.boot();
    } catch (e) {
      await killAll(lab.liveProcs().map((x) => x.proc));
      await lab.wan?.destroy();
      log(`boot failed: ${(e as Error).message}; everything stopped, logs kept under ${path.join(lab.env.root, "hosts")} (\`down\` removes them)`);
      throw e;
    }
    return lab;
  }

  /** Written whole or not at all: each host's watchdog stand-in reads it to find what a reset kills. */
  private save(): void {
    const file = path.join(this.state.root, "state.json");
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(this.state, null, 1), { mode: 0o600 });
    fs.renameSync(`${file}.tmp`, file);
  }

  // ---- hosts --------------------------------------------------------------------------------------
  hosts(): readonly Host[] {
    return this.env.hosts;
  }

  hostsRunning(service: Service): readonly Host[] {
    return this.env.hosts.filter((h) => h.services.includes(service));
  }

  host(name: string): Host {
    const h = this.env.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no lab host ${name}`);
    return h;
  }

  /** The lab host's name at a loopback address (what servers report), or the address itself. */
  private nameAt(addr: string): string {
    return this.env.hostAt(addr)?.name ?? addr;
  }

  private async boot(): Promise<void> {
    const t0 = Date.now();
    const step = (msg: string) => this.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${msg}`);
    step(`rendering ${this.env.hosts.length} hosts (preset ${this.preset}) into ${this.env.root}`);
    const pki = new LabPki(this.env.pkiDir);
    pki.issue(path.dirname(this.env.clientTls.certFile), "lab-client", [this.env.clientAddress]);
    for (const h of this.env.hosts) {
      pki.issue(path.dirname(this.env.tls(h).certFile), h.name, [this.env.addressOf(h.name)]);
      renderHost(this.t, h, this.env, this.state.secrets);
      step(`  ${h.name.padEnd(16)} ${this.env.addressOf(h.name).padEnd(12)} ${h.services.filter((s) => LAB_SERVICES.includes(s)).join(", ")}`);
      if (h.services.includes("patroni") && process.getuid?.() === 0) execFileSync("chown", ["-R", "postgres:postgres", this.env.hostDir(h.name)]);
    }
    for (const h of this.hostsRunning("etcd")) this.spawnService(h, "etcd");
    await waitFor("etcd members healthy, each connected to every peer", 30_000, () => this.etcdMeshed());
    step(`etcd cluster healthy; authentication on (${enableEtcdAuth(this.t, this.env, this.state.secrets).length} changes)`);
    // The first node of the primary region bootstraps, so the cluster starts where the topology wants it.
    const [first, ...others] = [...this.hostsRunning("patroni")].sort((a, b) => Number(b.regionRole === "primary") - Number(a.regionRole === "primary"));
    this.spawnService(first, "patroni");
    await waitFor(`${first.name} to bootstrap and lead`, 90_000, async () => (await this.leader()) === first.name);
    step(`${first.name} bootstrapped and leads`);
    await sql(this.pgTarget(first.name), ORDERS_DDL);
    for (const h of others) this.spawnService(h, "patroni");
    for (const h of this.hostsRunning("haproxy")) this.spawnService(h, "haproxy");
    const redisPrimary = initialRedisPrimary(this.t);
    this.spawnService(redisPrimary, "redis");
    for (const h of this.hostsRunning("redis")) if (h.name !== redisPrimary.name) this.spawnService(h, "redis");
    for (const h of this.hostsRunning("sentinel")) this.spawnService(h, "sentinel");
    step("replicas, HAProxy, Redis and Sentinels starting");
    await this.waitHealthy(180_000, step);
    step(`lab is ready: writes go to HAProxy ${this.hostsRunning("haproxy").map((h) => `${this.env.addressOf(h.name)}:${PORTS.haproxyPrimary} (${h.name})`).join(", ")}`);
  }


  /** Starts one of the lab's services on a host, supervised by PID (Patroni: its watchdog first). */
  private spawnService(host: Host, service: Service): void {
    const p = this.env.paths(host);
    const conf = (f: string) => path.join(p.configDir, f);
    const specs: Partial<Record<Service, [string, string[], NodeJS.ProcessEnv?]>> = {
      etcd: ["/usr/bin/etcd", ["--config-file", conf(CONFIG_FILES.etcd)]],
      patroni: ["/usr/bin/patroni", [conf(CONFIG_FILES.patroni)], { ...process.env, HOME: p.runDir, ...patroniEnvironment(this.state.secrets) }],
      // -db: foreground, the lab supervises it (the rendered file has no `daemon`).
      haproxy: ["/usr/sbin/haproxy", ["-db", "-f", conf(CONFIG_FILES.haproxy)]],
      redis: ["/usr/bin/redis-server", [conf(CONFIG_FILES.redis)]],
      sentinel: ["/usr/bin/redis-sentinel", [conf(CONFIG_FILES.sentinel)]],
    };
    const spec = specs[service];
    if (!spec) throw new Error(`the lab does not run ${service}`);
    const [cmd, args, env] = spec;
    if (service === "patroni") this.dbHosts.startWatchdog(host);
    this.state.procs[`${host.name}/${service}`] = this.startOn(host.name, { cmd, args, env, user: RUN_AS[service], cwd: p.runDir, logFile: path.join(p.logDir, `${service}.out`) });
    this.save();
  }

  /** The host's watchdog stand-in's status, or null when it is not running (no power). */
  watchdogStatus(host: string): WatchdogStatus | null {
    return this.dbHosts.status(host);
  }

  recoverDatabaseHosts(since: number): Promise<string[]> {
    return this.dbHosts.recover(since);
  }

  endDrill(): string[] {
    return this.dbHosts.stopRestarting();
  }

  /** Starts a program on a lab host: in the host's network namespace when the lab has a WAN. */
  startOn(host: string, spec: SpawnSpec): Proc {
    return start({ ...spec, prefix: this.wan?.execPrefix(this.env.addressOf(host)) ?? [] });
  }

  /** Records a process the lab started outside the host services, so `down` stops it too. */
  adopt(key: string, proc: Proc): void {
    this.state.procs[key] = proc;
    this.save();
  }

  proc(host: string, service: Service): Proc | undefined {
    const p = this.state.procs[`${host}/${service}`];
    return p && isAlive(p) ? p : undefined;
  }

  /** The running postmaster of a node, from its pid file, if it is the one of this lab's data dir. */
  private postmaster(host: string): Proc | null {
    const dataDir = this.env.paths(this.host(host)).pgDataDir;
    let pid: number;
    try {
      pid = Number(fs.readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    } catch {
      return null;
    }
    const p = procOf(pid);
    if (!p) return null;
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return cmdline.includes(dataDir) || cmdline.includes(`--pgdata=${dataDir}`) ? p : null;
  }

  /** A node's PostgreSQL: the postmaster and its children, collected before anything is killed. */
  private postgresProcs(host: string): Proc[] {
    const pm = this.postmaster(host);
    return pm ? [pm, ...childrenOf(pm)] : [];
  }

  /** Live processes of one service of a host: `postgresql` is the postmaster and its children, and
   * `patroni` includes them unless `withPostgres` is false. */
  private serviceProcs(host: string, service: Service, withPostgres = true): Proc[] {
    const pg = service === "postgresql" || (service === "patroni" && withPostgres) ? this.postgresProcs(host) : [];
    const p = this.proc(host, service);
    return p ? [...pg, p] : pg;
  }

  /** Every live process of a host: each of its services and its watchdog stand-in. */
  private hostProcs(host: string): Proc[] {
    const procs = this.host(host).services.flatMap((s) => this.serviceProcs(host, s));
    const wd = this.state.procs[`${host}/watchdog`];
    return wd && isAlive(wd) ? [...procs, wd] : procs;
  }

  // ---- faults -------------------------------------------------------------------------------------
  async powerOff(host: string): Promise<void> {
    await killAll(this.hostProcs(host));
  }

  /** Starts the host's lab services in systemd's order (etcd first, Patroni after its watchdog). */
  async powerOn(host: string): Promise<void> {
    const h = this.host(host);
    for (const s of LAB_SERVICES) if (h.services.includes(s) && !this.proc(host, s)) this.spawnService(h, s);
  }

  /** SIGSTOPs every process of a host: it keeps its sockets but answers nothing, as a host cut off by
   * a network partition looks from outside. Its watchdog is paused with it (time stopped does not
   * count), so the freeze does not look like a stalled Patroni. */
  async freeze(host: string): Promise<void> {
    const procs = this.hostProcs(host);
    for (const p of procs) signal(p, "SIGSTOP");
    this.frozen.set(host, [...(this.frozen.get(host) ?? []), ...procs]);
  }

  async thaw(host: string): Promise<void> {
    for (const p of this.frozen.get(host) ?? []) signal(p, "SIGCONT");
    this.frozen.delete(host);
  }

  async killService(host: string, service: Service): Promise<void> {
    await killAll(this.serviceProcs(host, service));
  }

  async startService(host: string, service: Service): Promise<void> {
    this.spawnService(this.host(host), service);
  }

  reachable(fromRegion: string, host: string): boolean {
    if (this.cutOff === null) return true;
    return (this.host(host).region === this.cutOff) === (fromRegion === this.cutOff);
  }

  // ---- commands on a host -------------------------------------------------------------------------
  exec(host: string, argv: readonly string[], opts: { readonly timeoutMs?: number; readonly input?: string } = {}): Promise<ExecResult> {
    const full = [...(this.wan?.execPrefix(this.env.addressOf(host)) ?? []), ...argv];
    return new Promise((resolve, reject) => {
      const child = spawn(full[0], full.slice(1), { stdio: ["pipe", "pipe", "pipe"], timeout: opts.timeoutMs ?? 60_000 });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => { stdout += d.toString(); });
      child.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
      child.on("error", reject);
      child.on("close", (code, sig) => resolve({ code: code ?? (sig ? 128 : 1), stdout, stderr }));
      child.stdin.end(opts.input ?? "");
    });
  }

  /** patronictl with the node's own config file and Patroni's environment (run from the root namespace). */
  async patronictl(host: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
    const config = path.join(this.env.paths(this.host(host)).configDir, CONFIG_FILES.patroni);
    return new Promise((resolve, reject) => {
      const child = spawn("/usr/bin/patronictl", ["-c", config, ...args], { env: { ...process.env, ...patroniEnvironment(this.state.secrets) }, timeout: timeoutMs });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => { stdout += d.toString(); });
      child.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
      child.on("error", reject);
      child.on("close", (code) => (code === 0 ? resolve(stdout) : reject(new Error(`patronictl ${args.join(" ")}: ${stderr.trim() || stdout.trim() || `exit ${code}`}`))));
    });
  }

  // ---- targets and data ---------------------------------------------------------------------------
  pgTarget(host: string): PgTarget {
    return { host: this.env.addressOf(host), port: PORTS.postgres, user: "postgres", password: this.state.secrets.superuser, sslRootCert: this.env.clientTls.caFile };
  }

  /** HAProxy's read-write port on an app host (the writer's way in). */
  haproxyTarget(appHost: string): PgTarget {
    return { host: this.env.addressOf(appHost), port: PORTS.haproxyPrimary, user: "postgres", password: this.state.secrets.superuser, sslRootCert: this.env.clientTls.caFile };
  }

  redisTarget(host: string, as: RedisIdentity = "app"): RedisTarget {
    return { host: this.env.addressOf(host), port: PORTS.redis, ...this.redisLogin(as) };
  }

  sentinelTarget(host: string, as: RedisIdentity = "app"): RedisTarget {
    return { host: this.env.addressOf(host), port: PORTS.sentinel, ...this.redisLogin(as) };
  }

  /** A generated Redis user, over TLS verified against the lab's CA (Redis and Sentinel speak nothing else). */
  private redisLogin(as: RedisIdentity | "exporter"): RedisAuth {
    return { ...redisAuth(this.state.secrets, as), tls: { caFile: this.env.clientTls.caFile } };
  }

  /** SQL inserts into lab_orders through the app host's HAProxy (clients/pghelper.py). */
  orderWriter(appHost: string, firstId: number): OrderWriter {
    const records: OrderWriter["records"][number][] = [];
    const helper = startWriter(this.haproxyTarget(appHost), firstId, {}, (op) => records.push(op.node ? { ...op, node: this.nameAt(op.node) } : op));
    return { records, via: `HAProxy on ${appHost}`, stop: async () => { await helper.stop(); } };
  }

  async nextOrderId(node: string): Promise<number> {
    return Number((await sql(this.pgTarget(node), "SELECT coalesce(max(id), 0) + 1 FROM lab_orders"))[0]);
  }

  async readOrders(node: string): Promise<Map<number, StoredOrder>> {
    const rows = await readOrders(this.pgTarget(node));
    return new Map([...rows].map(([id, o]) => [id, { node: this.nameAt(o.node), at: o.at }]));
  }

  async failoverHook(opts: { readonly apiToken?: string } = {}): Promise<FailoverHookControl | null> {
    return FailoverHook.start(this, opts.apiToken);
  }

  // ---- probes -------------------------------------------------------------------------------------
  private clientTls?: TlsClient;
  /** The lab clients' CA and certificate (made at boot, read once). */
  private get tls(): TlsClient {
    return (this.clientTls ??= tlsClient(this.env.clientTls));
  }

  async etcdHealthy(): Promise<boolean> {
    return (await Promise.all(this.hostsRunning("etcd").map((h) => probe.etcdMemberHealthy(this.env.addressOf(h.name), this.tls)))).every(Boolean);
  }

  /**
   * Every etcd member healthy and connected to every other member of its cluster. A member can answer
   * healthy while a peer refuses its connections (it hears the leader through the other peers): throws
   * naming the first member short of peers, which waitFor reports if it lasts.
   */
  private async etcdMeshed(): Promise<boolean> {
    if (!(await this.etcdHealthy())) return false;
    for (const h of this.hostsRunning("etcd")) {
      const { active, peers } = await probe.etcdPeerLinks(this.env.addressOf(h.name), this.tls);
      if (active < peers) throw new Error(`etcd on ${h.name} is connected to ${active} of its ${peers} peers (see ${path.join(this.env.paths(h).logDir, "etcd.out")})`);
    }
    return true;
  }

  async etcdLeader(): Promise<string | null> {
    return probe.etcdLeaderName(new Map(this.hostsRunning("etcd").map((h) => [h.name, this.env.addressOf(h.name)])), this.tls);
  }

  /** Patroni clusters: one in stretched mode, one per region in standby-cluster mode. */
  private clusters(): Array<{ readonly region: string; readonly nodes: readonly Host[] }> {
    const regions = [...new Set(this.hostsRunning("patroni").map((h) => h.region))];
    return this.t.database.mode === "stretched"
      ? [{ region: regions[0], nodes: this.hostsRunning("patroni") }]
      : regions.map((region) => ({ region, nodes: this.hostsRunning("patroni").filter((h) => h.region === region) }));
  }

  async members(askNodes?: readonly string[]): Promise<Member[]> {
    const ask = (nodes: readonly string[]) => probe.patroniMembers(nodes.map((n) => this.env.addressOf(n)), this.tls);
    if (askNodes) return ask(askNodes);
    return (await Promise.all(this.clusters().map((c) => ask(c.nodes.map((h) => h.name))))).flat();
  }

  async leader(): Promise<string | null> {
    return (await this.members()).find((m) => m.role === "leader" && m.state === "running")?.name ?? null;
  }

  streamingFrom(node: string): Promise<Set<string>> {
    return probe.patroniStreaming(this.env.addressOf(node), this.tls);
  }

  patroniAnswers(node: string): Promise<boolean> {
    return probe.patroniAnswers(this.env.addressOf(node), this.tls);
  }

  redisPrimary(): Promise<string | null> {
    return agreedRedisPrimary(this);
  }

  async sentinelMaster(sentinelHost: string): Promise<string | null> {
    const addr = await probe.sentinelMasterAddr(this.env.addressOf(sentinelHost), sentinelMasterName(this.t), this.redisLogin("app"));
    return addr === null ? null : this.nameAt(addr);
  }

  async redisReplication(host: string): Promise<RedisReplication | null> {
    // INFO as the exporter's user, as monitoring reads it.
    const r = await probe.redisReplicationAt(this.env.addressOf(host), this.redisLogin("exporter"));
    return r && { role: r.role, connectedReplicas: r.connected, onlineReplicas: r.online.map((a) => this.nameAt(a)) };
  }

  /** Patroni logs `pg_rewind exit code=0` (its default format: local time, `YYYY-MM-DD HH:MM:SS,mmm`). */
  async rewoundSince(node: string, since: number): Promise<boolean> {
    const log = path.join(this.env.paths(this.host(node)).logDir, "patroni.log");
    const text = fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "";
    return [...text.matchAll(/^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3}) INFO: pg_rewind exit code=0$/gm)]
      .some((m) => new Date(`${m[1]}T${m[2]}.${m[3]}`).getTime() / 1000 >= since);
  }

  /** Every lab service up and in its place: etcd healthy; per Patroni cluster one leader (or standby
   * leader, itself streaming from the primary) with every replica streaming, and a synchronous standby
   * when configured; HAProxy routing to the primary; Sentinels agreeing. */
  async waitHealthy(timeoutMs: number, step: (msg: string) => void = () => {}): Promise<void> {
    await waitFor("etcd members healthy, each connected to every peer", timeoutMs, () => this.etcdMeshed());
    const clusters = this.clusters();
    for (const { region, nodes } of clusters) {
      const lead = await waitFor(`every Patroni replica streaming${clusters.length > 1 ? ` in ${region}` : ""}`, timeoutMs, async () => {
        const ms = await this.members(nodes.map((n) => n.name));
        const l = ms.find((m) => (m.role === "leader" || m.role === "standby_leader") && m.state === "running");
        if (!l || ms.length !== nodes.length || ms.some((m) => m.state !== "running")) return undefined;
        const primary = l.role === "leader";
        // This cluster's own replicas. A standby leader may stream from the primary or cascade from one
        // of its replicas (libpq takes the first of the primary cluster's hosts that answers): it is
        // checked on its own side, through its WAL receiver.
        const own = new Set(nodes.map((n) => n.name));
        const streaming = [...await this.streamingFrom(l.name)].filter((n) => own.has(n)).length;
        const syncOk = !primary || !this.t.database.synchronousMode || ms.some((m) => m.role === "sync_standby");
        const upstreamOk = primary || (await sql(this.pgTarget(l.name), "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'", 3000))[0] === "1";
        return streaming === nodes.length - 1 && syncOk && upstreamOk ? l : undefined;
      }, 250);
      step(`Patroni${clusters.length > 1 ? ` (${region})` : ""}: ${lead.name} ${lead.role === "leader" ? "leads" : "is the standby leader, streaming from the primary region"}, ${nodes.length - 1} replicas streaming`);
    }
    for (const h of this.hostsRunning("haproxy")) {
      await waitFor(`HAProxy on ${h.name} routing to the primary`, timeoutMs, async () =>
        (await sql(this.haproxyTarget(h.name), "SELECT NOT pg_is_in_recovery()", 3000))[0] === "t", 250);
    }
    step(`HAProxy routes :${PORTS.haproxyPrimary} to the primary`);
    await waitRedisHealthy(this, timeoutMs);
    step("Redis: Sentinels agree on the primary, replicas connected");
  }

  /** Every process the lab started (and the PostgreSQL servers Patroni started), alive now. */
  liveProcs(): Array<{ what: string; proc: Proc }> {
    const out = Object.entries(this.state.procs).filter(([, p]) => isAlive(p)).map(([what, proc]) => ({ what, proc }));
    for (const h of this.hostsRunning("patroni")) for (const proc of this.postgresProcs(h.name)) out.push({ what: `${h.name}/postgres`, proc });
    return out;
  }

  /** Kills everything the lab started, by PID, and removes its working directory; with `keepTo`, the
   * per-host logs and rendered configs are moved there first (for a post-mortem). Returns how many
   * processes it stopped. */
  async teardown(keepTo?: string): Promise<number> {
    this.endDrill();
    const procs = this.liveProcs().map((x) => x.proc);
    await killAll(procs);
    await this.wan?.destroy();
    if (keepTo) {
      fs.rmSync(keepTo, { recursive: true, force: true });
      fs.mkdirSync(path.dirname(keepTo), { recursive: true });
      for (const h of this.env.hosts) {
        const p = this.env.paths(h);
        for (const dir of [p.logDir, p.configDir]) {
          if (fs.existsSync(dir)) fs.cpSync(dir, path.join(keepTo, h.name, path.basename(dir)), { recursive: true });
        }
      }
      if (this.env.failoverHook && fs.existsSync(this.env.failoverHook.dir)) fs.cpSync(this.env.failoverHook.dir, path.join(keepTo, "failover-hook"), { recursive: true });
    }
    fs.rmSync(this.state.root, { recursive: true, force: true });
    return procs.length;
  }

  /** `keepAs` is a directory name under --keep-logs (the runner's `<preset>-after-<n>-drills`). */
  async down(keepAs?: string): Promise<string> {
    const n = await this.teardown(keepAs && this.state.keepLogs ? path.join(this.state.keepLogs, keepAs) : undefined);
    return `lab (${this.preset}) down: stopped ${n} processes`;
  }
}
