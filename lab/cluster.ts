// One lab: the topology's hosts on loopback addresses, their rendered configs under the working
// directory, and the processes the lab started (recorded by PID in state.json so `down` kills only those).
import { execFileSync, spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { loadTopology, type Host, type Service, type TimingPresetName, type Topology } from "../lib/model";
import { initialRedisPrimary, sentinelMasterName } from "../playbooks-gen/views/clusters";
import { LAB_SERVICES, LabEnv, labHookHost, labHosts } from "./env";
import { ORDERS_DDL, sql, type PgTarget } from "./pg";
import { childrenOf, isAlive, killAll, procOf, signal, start, waitFor, type Proc, type SpawnSpec } from "./proc";
import { WanNetwork } from "./wan";
import { CONFIG_FILES, newSecrets, patroniEnvironment, renderHost, type Secrets } from "./render";
import { redisOnce } from "./resp";

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

  /** Cuts a region off from every other region (the lab's own clients still reach it). */
  async isolateRegion(region: string): Promise<void> {
    if (!this.wan) throw new Error("cutting a region off needs the lab WAN: run the drill with --wan-rtt MS");
    await this.wan.isolate(region, { client: false });
  }

  /** Ends every partition. */
  async healWan(): Promise<void> {
    await this.wan?.heal();
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

  private save(): void {
    fs.writeFileSync(path.join(this.state.root, "state.json"), JSON.stringify(this.state, null, 1), { mode: 0o600 });
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
    this.state.procs[`${host.name}/${service}`] = this.startOn(host.name, { cmd, args, env, user: RUN_AS[service], cwd: p.runDir, logFile: path.join(p.logDir, `${service}.out`) });
    this.save();
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

  /** Live processes of the given services of a host (PostgreSQL counts as part of `patroni`). */
  hostProcs(host: string, services: readonly Service[] = this.host(host).services): Proc[] {
    const procs: Proc[] = [];
    for (const s of services) {
      if (s === "patroni") procs.push(...this.postgresProcs(host));
      const p = this.proc(host, s);
      if (p) procs.push(p);
    }
    return procs;
  }

  /** Hard-kills the given services of a host (PostgreSQL counts as part of `patroni`). */
  async kill(host: string, services: readonly Service[] = this.host(host).services): Promise<void> {
    await killAll(this.hostProcs(host, services));
  }

  /** SIGSTOPs every process of a host: it keeps its sockets but answers nothing, as a host cut off by
   * a network partition looks from outside. Returns what it froze. */
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
        const st = await getJson(`http://${this.env.addressOf(l.name)}:8008/patroni`);
        // This cluster's own replicas. A standby leader may stream from the primary or cascade from one
        // of its replicas (libpq takes the first of the primary cluster's hosts that answers): it is
        // checked on its own side, through its WAL receiver.
        const own = new Set(nodes.map((n) => n.name));
        const streaming = (st?.replication ?? []).filter((r: { state: string; application_name: string }) => r.state === "streaming" && own.has(r.application_name)).length;
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
