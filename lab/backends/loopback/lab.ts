// One lab: the topology's hosts on loopback addresses, their rendered configs under the working
// directory, and the processes the lab started (recorded by PID in state.json so `down` kills only those).
import { execFileSync, spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { loadTopology, PATRONI_RESTART_SECONDS, type Host, type Service, type TimingPresetName, type Topology } from "../../../lib/model";
import { initialRedisPrimary, sentinelMasterName } from "../../../playbooks-gen/views/clusters";
import { LAB_SERVICES, LabEnv, labHookHost, labHosts } from "./env";
import { ORDERS_DDL, sql, type PgTarget } from "../../clients/pg";
import { childrenOf, isAlive, killAll, labScript, procOf, signal, start, waitFor, type Proc, type SpawnSpec } from "../../proc";
import { WanNetwork } from "../../net/wan";
import { CONFIG_FILES, newSecrets, patroniEnvironment, renderHost, type Secrets } from "./render";
import { redisOnce } from "../../clients/resp";

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

export interface Member { readonly name: string; readonly role: string; readonly state: string; readonly lag?: number | string }

/** What a host's watchdog stand-in reports (lab/stand-ins/watchdog-stand-in.py). */
export interface WatchdogStatus {
  readonly armed: boolean;
  readonly timeoutSeconds: number;
  /** How many times a Patroni leader armed it. */
  readonly arms: number;
  /** Host resets: when (epoch seconds) and which PIDs they killed. */
  readonly resets: ReadonlyArray<{ readonly at: number; readonly killed: readonly number[] }>;
}

const RUN_AS: Partial<Record<Service, string>> = { patroni: "postgres" };

export class Lab {
  readonly t: Topology;
  readonly env: LabEnv;
  /** The WAN between regions, when the lab has one (it lives as long as the process that made it). */
  private wan: WanNetwork | null = null;

  private constructor(private readonly state: LabState, readonly log: (line: string) => void) {
    this.t = { ...loadTopology(state.topologyFile), timing: state.preset };
    const hosts = labHosts(this.t);
    this.env = new LabEnv(state.root, hosts, state.net, labHookHost(this.t, hosts));
  }

  get preset(): TimingPresetName { return this.state.preset; }
  get secrets(): Secrets { return this.state.secrets; }

  static exists(root: string): boolean {
    return fs.existsSync(path.join(root, "state.json"));
  }

  /** Opens a lab `up` left running. A lab with a WAN cannot be reopened: the WAN ends with its process. */
  static open(root: string, log: (line: string) => void = () => {}): Lab {
    const lab = new Lab(JSON.parse(fs.readFileSync(path.join(root, "state.json"), "utf8")) as LabState, log);
    if (lab.state.wanRttMs) log(`warning: the lab in ${root} had a WAN, which ended with the process that booted it`);
    return lab;
  }

  get wanRttMs(): number { return this.state.wanRttMs ?? 0; }

  /** The region the WAN has cut off, if any. */
  private cutOff: string | null = null;

  /** Cuts a region off from every other region (the lab's own clients still reach it). */
  async isolateRegion(region: string): Promise<void> {
    if (!this.wan) throw new Error("cutting a region off needs the lab WAN: run the drill with --wan-rtt MS");
    await this.wan.isolate(region, { client: false });
    this.cutOff = region;
  }

  /** Ends every partition. */
  async healWan(): Promise<void> {
    await this.wan?.heal();
    this.cutOff = null;
  }

  /** Whether a client in `fromRegion` reaches the lab host at `addr` now (not across a partition).
   * The lab's own clients reach every host; drills use this to place a client in a region. */
  reachable(fromRegion: string, addr: string): boolean {
    if (this.cutOff === null) return true;
    const host = this.env.hostAt(addr);
    return !host || (host.region === this.cutOff) === (fromRegion === this.cutOff);
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
        lab.wan = await WanNetwork.create({ id: lab.wanId(), regions, clientAddress: lab.env.clientAddress, oneWayDelayMs: opts.wanRttMs / 2, logDir: lab.env.root });
        log(`WAN: ${Object.keys(regions).join(", ")} in their own network namespaces, ${opts.wanRttMs} ms round trip between regions (lab clients on ${lab.env.clientAddress}, no delay)`);
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

  hostsRunning(service: Service): readonly Host[] {
    return this.env.hosts.filter((h) => h.services.includes(service));
  }

  host(name: string): Host {
    const h = this.env.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no lab host ${name}`);
    return h;
  }

  private async boot(): Promise<void> {
    const t0 = Date.now();
    const step = (msg: string) => this.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${msg}`);
    step(`rendering ${this.env.hosts.length} hosts (preset ${this.preset}) into ${this.env.root}`);
    for (const h of this.env.hosts) {
      renderHost(this.t, h, this.env, this.state.secrets);
      step(`  ${h.name.padEnd(16)} ${this.env.addressOf(h.name).padEnd(12)} ${h.services.filter((s) => LAB_SERVICES.includes(s)).join(", ")}`);
      if (h.services.includes("patroni") && process.getuid?.() === 0) execFileSync("chown", ["-R", "postgres:postgres", this.env.hostDir(h.name)]);
    }
    for (const h of this.hostsRunning("etcd")) this.startService(h, "etcd");
    await waitFor("etcd members healthy", 30_000, () => this.etcdHealthy());
    step("etcd cluster healthy");
    // The first node of the primary region bootstraps, so the cluster starts where the topology wants it.
    const [first, ...others] = [...this.hostsRunning("patroni")].sort((a, b) => Number(b.regionRole === "primary") - Number(a.regionRole === "primary"));
    this.startService(first, "patroni");
    await waitFor(`${first.name} to bootstrap and lead`, 90_000, async () => (await this.leader()) === first.name);
    step(`${first.name} bootstrapped and leads`);
    await sql(this.pgTarget(first.name), ORDERS_DDL);
    for (const h of others) this.startService(h, "patroni");
    for (const h of this.hostsRunning("haproxy")) this.startService(h, "haproxy");
    const redisPrimary = initialRedisPrimary(this.t);
    this.startService(redisPrimary, "redis");
    for (const h of this.hostsRunning("redis")) if (h.name !== redisPrimary.name) this.startService(h, "redis");
    for (const h of this.hostsRunning("sentinel")) this.startService(h, "sentinel");
    step("replicas, HAProxy, Redis and Sentinels starting");
    await this.waitHealthy(180_000, step);
    step(`lab is ready: writes go to HAProxy ${this.hostsRunning("haproxy").map((h) => `${this.env.addressOf(h.name)}:5000 (${h.name})`).join(", ")}`);
  }

  startService(host: Host, service: Service): void {
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
    if (service === "patroni") this.startWatchdog(host);
    this.state.procs[`${host.name}/${service}`] = this.startOn(host.name, { cmd, args, env, user: RUN_AS[service], cwd: p.runDir, logFile: path.join(p.logDir, `${service}.out`) });
    this.save();
  }

  /** A database host's watchdog, as softdog would be there: the lab's stand-in (lab/stand-ins/watchdog-stand-in.py)
   * behind the named pipe Patroni's `testing` driver opens. Hardware, not a service: it runs in the root
   * namespace, as root, survives a crash of the host's processes and resets the host when an armed
   * watchdog starves. Started before Patroni, once per power-on. */
  private startWatchdog(host: Host): void {
    const key = `${host.name}/watchdog`;
    if (this.state.procs[key] && isAlive(this.state.procs[key])) return;
    const p = this.env.paths(host);
    const device = this.env.watchdog(host).device;
    const status = this.watchdogStatusFile(host.name);
    fs.rmSync(status, { force: true });
    this.state.procs[key] = start({
      cmd: "/usr/bin/python3",
      args: [labScript("stand-ins/watchdog-stand-in.py"), "--device", device, "--host", host.name, "--state", path.join(this.state.root, "state.json"),
        "--pgdata", p.pgDataDir, "--status", status, ...(process.getuid?.() === 0 ? ["--owner", RUN_AS.patroni!] : [])],
      logFile: path.join(p.logDir, "watchdog.out"),
    });
    this.save();
    // Patroni must find the pipe (and a reader behind it) before it could lead.
    const until = Date.now() + 10_000;
    while (!fs.existsSync(status)) {
      if (Date.now() > until || !isAlive(this.state.procs[key])) throw new Error(`the watchdog stand-in of ${host.name} did not start; see ${path.join(p.logDir, "watchdog.out")}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }

  private watchdogStatusFile(host: string): string {
    return path.join(this.env.paths(this.host(host)).runDir, "watchdog.json");
  }

  /** The host's watchdog stand-in's status, or null when it is not running (no power). */
  watchdogStatus(host: string): WatchdogStatus | null {
    const p = this.state.procs[`${host}/watchdog`];
    if (!p || !isAlive(p)) return null;
    try {
      return JSON.parse(fs.readFileSync(this.watchdogStatusFile(host), "utf8")) as WatchdogStatus;
    } catch {
      return null;
    }
  }

  /** Boots the database hosts that still have power but no Patroni (killed, or reset by their watchdog),
   * as a reboot would: first waiting out a watchdog left armed by the dead Patroni, whose reset is due
   * and would kill the new one. Hosts without power (a lost region) are left to their region's return. */
  async bootStoppedDatabaseHosts(since: number): Promise<string[]> {
    const notes: string[] = [];
    for (const h of this.hostsRunning("patroni")) {
      const before = this.watchdogStatus(h.name);
      if (!before || this.proc(h.name, "patroni")) continue;
      const settled = await waitFor(`the armed watchdog of ${h.name} to fire`, (before.timeoutSeconds + 5) * 1000, () => {
        const st = this.watchdogStatus(h.name);
        return st && !st.armed ? st : undefined;
      }, 100);
      if (this.postgresProcs(h.name).length) {
        notes.push(`${h.name}: PostgreSQL still running without Patroni and no watchdog reset due; left as is`);
        continue;
      }
      const reset = settled.resets.filter((r) => r.at >= since).at(-1);
      this.startService(h, "patroni");
      this.keepPatroniRunning(h);
      notes.push(reset ? `${h.name} reset by its watchdog ${(reset.at - since).toFixed(1)} s after the fault (killed ${reset.killed.length} processes), booted again`
        : `${h.name} booted again (its watchdog was not armed)`);
    }
    return notes;
  }

  /** Hosts whose Patroni the lab restarts when it exits, and how often it did. */
  private restarters = new Map<string, { timer: NodeJS.Timeout; restarts: number }>();

  /** What the generated systemd drop-in does for a booted host: start Patroni again
   * PATRONI_RESTART_SECONDS after it exits (it exits when it cannot reach etcd at start-up, e.g. in a
   * region still cut off), while the host has power and no watchdog reset is due. */
  private keepPatroniRunning(host: Host): void {
    if (this.restarters.has(host.name)) return;
    let goneSince: number | null = null;
    const entry = { restarts: 0, timer: setInterval(() => {
      const wd = this.watchdogStatus(host.name);
      if (this.proc(host.name, "patroni") || !wd || wd.armed) {
        goneSince = null;
        return;
      }
      goneSince ??= Date.now();
      if (Date.now() - goneSince < PATRONI_RESTART_SECONDS * 1000) return;
      goneSince = null;
      entry.restarts++;
      this.startService(host, "patroni");
    }, 250) };
    entry.timer.unref();
    this.restarters.set(host.name, entry);
  }

  /** Stops restarting Patroni on booted hosts; says how often it had to. */
  stopRestarting(): string[] {
    const notes: string[] = [];
    for (const [name, r] of this.restarters) {
      clearInterval(r.timer);
      if (r.restarts) notes.push(`${name}: Patroni exited and was started again ${r.restarts}× (every ${PATRONI_RESTART_SECONDS} s, as the generated systemd drop-in does)`);
    }
    this.restarters.clear();
    return notes;
  }

  /** Starts a program on a lab host: in its region's network namespace when the lab has a WAN. */
  startOn(host: string, spec: SpawnSpec): Proc {
    return start({ ...spec, prefix: this.wan?.execPrefix(this.host(host).region) ?? [] });
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
  postmaster(host: string): Proc | null {
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
  postgresProcs(host: string): Proc[] {
    const pm = this.postmaster(host);
    return pm ? [pm, ...childrenOf(pm)] : [];
  }

  /** Live processes of the given services of a host (PostgreSQL counts as part of `patroni`); without
   * `services`, the whole host: every service and its watchdog stand-in. */
  hostProcs(host: string, services?: readonly Service[]): Proc[] {
    const procs: Proc[] = [];
    for (const s of services ?? this.host(host).services) {
      if (s === "patroni") procs.push(...this.postgresProcs(host));
      const p = this.proc(host, s);
      if (p) procs.push(p);
    }
    const wd = this.state.procs[`${host}/watchdog`];
    if (!services && wd && isAlive(wd)) procs.push(wd);
    return procs;
  }

  /** Hard-kills the given services of a host (PostgreSQL counts as part of `patroni`); without
   * `services`, powers the host off (its watchdog included). */
  async kill(host: string, services?: readonly Service[]): Promise<void> {
    await killAll(this.hostProcs(host, services));
  }

  /** SIGSTOPs every process of a host: it keeps its sockets but answers nothing, as a host cut off by
   * a network partition looks from outside. Its watchdog is paused with it (time stopped does not
   * count), so the freeze does not look like a stalled Patroni. Returns what it froze. */
  freeze(host: string): Proc[] {
    const procs = this.hostProcs(host);
    for (const p of procs) signal(p, "SIGSTOP");
    return procs;
  }

  pgTarget(host: string): PgTarget {
    return { host: this.env.addressOf(host), port: 5432, user: "postgres", password: this.state.secrets.superuser };
  }

  haproxyTarget(appHost: string): PgTarget {
    return { host: this.env.addressOf(appHost), port: 5000, user: "postgres", password: this.state.secrets.superuser };
  }

  async etcdHealthy(): Promise<boolean> {
    const all = await Promise.all(this.hostsRunning("etcd").map((h) => getJson(`http://${this.env.addressOf(h.name)}:2379/health`).then((j) => j?.health === "true", () => false)));
    return all.every(Boolean);
  }

  /** The etcd member that leads the raft group (asked through the JSON gateway Patroni uses too). */
  async etcdLeader(): Promise<string | null> {
    for (const h of this.hostsRunning("etcd")) {
      const st = await postJson(`http://${this.env.addressOf(h.name)}:2379/v3/maintenance/status`, {}).catch(() => null);
      if (st?.leader) return st.leader === st.header.member_id ? h.name : await this.etcdMemberName(h.name, st.leader);
    }
    return null;
  }

  private async etcdMemberName(via: string, id: string): Promise<string | null> {
    const list = await postJson(`http://${this.env.addressOf(via)}:2379/v3/cluster/member/list`, {});
    return (list.members as Array<{ ID: string; name: string }>).find((m) => m.ID === id)?.name ?? null;
  }

  /** Patroni clusters: one in stretched mode, one per region in standby-cluster mode. */
  clusters(): Array<{ readonly region: string; readonly nodes: readonly Host[] }> {
    const regions = [...new Set(this.hostsRunning("patroni").map((h) => h.region))];
    return this.t.database.mode === "stretched"
      ? [{ region: regions[0], nodes: this.hostsRunning("patroni") }]
      : regions.map((region) => ({ region, nodes: this.hostsRunning("patroni").filter((h) => h.region === region) }));
  }

  /** Members of one cluster as Patroni reports them (from the first of its nodes that answers). */
  async clusterMembers(nodes: readonly Host[]): Promise<Member[]> {
    for (const h of nodes) {
      const c = await getJson(`http://${this.env.addressOf(h.name)}:8008/cluster`).catch(() => null);
      if (c?.members) return c.members as Member[];
    }
    return [];
  }

  /** Members of every cluster. */
  async members(): Promise<Member[]> {
    return (await Promise.all(this.clusters().map((c) => this.clusterMembers(c.nodes)))).flat();
  }

  /** The running read-write leader (a standby cluster's standby leader is not one). */
  async leader(): Promise<string | null> {
    return (await this.members()).find((m) => m.role === "leader" && m.state === "running")?.name ?? null;
  }

  /** The members streaming WAL from `node`, as it reports them (Patroni's /patroni `replication`). */
  async streamingFrom(node: string): Promise<Set<string>> {
    const st = await getJson(`http://${this.env.addressOf(node)}:8008/patroni`);
    return new Set((st?.replication ?? []).filter((r: { state: string }) => r.state === "streaming").map((r: { application_name: string }) => r.application_name));
  }

  /** Every lab service up and in its place: etcd healthy; per Patroni cluster one leader (or standby
   * leader, itself streaming from the primary) with every replica streaming, and a synchronous standby
   * when configured; HAProxy routing to the primary; Sentinels agreeing. */
  async waitHealthy(timeoutMs: number, step: (msg: string) => void = () => {}): Promise<void> {
    await waitFor("etcd members healthy", timeoutMs, () => this.etcdHealthy());
    const clusters = this.clusters();
    for (const { region, nodes } of clusters) {
      const lead = await waitFor(`every Patroni replica streaming${clusters.length > 1 ? ` in ${region}` : ""}`, timeoutMs, async () => {
        const ms = await this.clusterMembers(nodes);
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
    step("HAProxy routes :5000 to the primary");
    const redisCount = this.hostsRunning("redis").length;
    await waitFor("Sentinels agreeing on a Redis primary with all replicas", timeoutMs, async () => {
      const primary = await this.redisPrimary();
      if (!primary) return false;
      const info = String(await redisOnce(primary, 6379, this.state.secrets.redis, ["INFO", "replication"]));
      return info.includes("role:master") && info.includes(`connected_slaves:${redisCount - 1}`);
    }, 250);
    step("Redis: Sentinels agree on the primary, replicas connected");
  }

  /** The Redis primary every live Sentinel names, or null while they disagree. */
  async redisPrimary(): Promise<string | null> {
    const answers = await Promise.all(this.hostsRunning("sentinel").map((h) =>
      redisOnce(this.env.addressOf(h.name), 26379, null, ["SENTINEL", "get-master-addr-by-name", sentinelMasterName(this.t)]).then((r) => (Array.isArray(r) ? String(r[0]) : null), () => undefined)));
    const live = answers.filter((a) => a !== undefined);
    return live.length > 0 && live.every((a) => a && a === live[0]) ? (live[0] as string) : null;
  }

  /** Every process the lab started (and the PostgreSQL servers Patroni started), alive now. */
  liveProcs(): Array<{ what: string; proc: Proc }> {
    const out = Object.entries(this.state.procs).filter(([, p]) => isAlive(p)).map(([what, proc]) => ({ what, proc }));
    for (const h of this.hostsRunning("patroni")) for (const proc of this.postgresProcs(h.name)) out.push({ what: `${h.name}/postgres`, proc });
    return out;
  }

  /** Kills everything the lab started, by PID, and removes its working directory. */
  /** Kills everything the lab started, by PID, and removes its working directory; with `keepTo`, the
   * per-host logs and rendered configs are moved there first (for a post-mortem). */
  async down(keepTo?: string): Promise<number> {
    this.stopRestarting();
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
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function getJson(url: string, timeoutMs = 1500): Promise<any> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return res.json();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function postJson(url: string, body: object, timeoutMs = 1500): Promise<any> {
  const res = await fetch(url, { method: "POST", body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
  return res.json();
}
