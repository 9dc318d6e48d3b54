// The one interface between the drills and what they break (DESIGN.md, "Lab layout"): a drill is
// written once against DrillBackend and runs on the loopback lab (processes on 127.0.0.x: fast, in
// npm test) and on the rehearsal (systemd containers converged by the generated Ansible: CI).
// Hosts are named as the topology names them (`pg-nyc1-1`), never by address, path or PID: each
// backend translates. Faults are host-level, as in a cloud; a drill that needs more than that asks
// for a capability (below), and the registry refuses it on a backend without one.
import type { Host, Service, TimingPresetName, Topology } from "../../lib/model";
import type { RedisTls } from "../clients/resp";

export type BackendKind = "loopback" | "rehearsal";

/** A PostgreSQL server the drill process connects to directly (prober, read-back, checks). */
export interface PgTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** @default "postgres" */
  readonly database?: string;
  /** The deployment CA's certificate: the connection then uses TLS and verifies the server's
   * certificate against it (sslmode=verify-ca, as the app does through HAProxy). */
  readonly sslRootCert?: string;
}

/** A Redis server or Sentinel the drill process connects to directly (RESP), and the ACL user it
 * logs in as. */
export interface RedisTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** The CA to verify the server against (the generated Redis and Sentinel speak TLS only). */
  readonly tls?: RedisTls;
}

/** Who a drill connects to Redis or Sentinel as: the app's user (writes, reads, asking Sentinel for the
 * primary) or the operators' admin (CLIENT PAUSE/KILL, SENTINEL FAILOVER in a failback). */
export type RedisIdentity = "app" | "admin";

/** One write attempt, as a client saw it. */
export interface WriteOp {
  /** Client-chosen id (firstId, firstId + 1, …): an unacknowledged write can still be looked up later. */
  readonly id: number;
  /** Epoch seconds: sent, answered (or given up). */
  readonly t0: number;
  readonly t1: number;
  /** ok: acknowledged; fail: certainly not written; info: unknown (timeout, lost connection). */
  readonly r: "ok" | "fail" | "info";
  /** Host name of the database (or Redis) node that acknowledged it. */
  readonly node?: string;
  readonly err?: string;
}

/** A direct probe of one node: p = 1 read-write primary, 0 not, null unreachable. */
export interface ProbeSample {
  /** Host name. */
  readonly n: string;
  readonly t: number;
  readonly p: 1 | 0 | null;
}

/** Customer orders written through an app host until stop(); `records` grows while it runs. */
export interface OrderWriter {
  readonly records: readonly WriteOp[];
  /** For the report, e.g. "HAProxy on app-nyc1-1" or "POST /orders on app-nyc1-1". */
  readonly via: string;
  /** Ends after the write in flight; rejects when the writer itself broke (not when writes failed). */
  stop(): Promise<void>;
}

/** An order as a database node holds it. */
export interface StoredOrder {
  /** Host name of the node that accepted (committed) it. */
  readonly node: string;
  /** Epoch seconds of the commit, by the node's clock. */
  readonly at: number;
}

/** A Patroni cluster member as Patroni's REST API reports it (`/cluster`). */
export interface Member {
  readonly name: string;
  readonly role: string;
  readonly state: string;
  readonly lag?: number | string;
}

/** A Redis server's replication state (`INFO replication`). */
export interface RedisReplication {
  readonly role: "master" | "replica";
  /** Replicas connected in any state (`connected_slaves`), for a master; 0 for a replica. */
  readonly connectedReplicas: number;
  /** Host names of the replicas connected and online (for a master; empty for a replica). */
  readonly onlineReplicas: readonly string[];
}

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The generated failover hook (templates/failover/failover-hook.py) on the host the topology gives it. */
export interface FailoverHookControl {
  /** What Alertmanager POSTs once `alertname` fires (PatroniNoLeader, DatabaseRegionDown). */
  trigger(alertname?: string): Promise<void>;
  /** Its decision in this run: "applied …", "failover stopped …", "not confirmed …"; null while it works. */
  outcome(): Promise<string | null>;
  /** Where the real alert path triggers it (the rehearsal): when the first alert reached it (epoch ms)
   * and which host's Alertmanager sent it; null when its log shows none. */
  triggered?(): Promise<{ readonly atMs: number; readonly by: string } | null>;
  stop(): Promise<void>;
}

/** What a host's watchdog reports (loopback: lab/stand-ins/watchdog-stand-in.py). */
export interface WatchdogStatus {
  readonly armed: boolean;
  readonly timeoutSeconds: number;
  /** How many times a Patroni leader armed it. */
  readonly arms: number;
  /** Host resets: when (epoch seconds) and which PIDs they killed. */
  readonly resets: ReadonlyArray<{ readonly at: number; readonly killed: readonly number[] }>;
}

/** Optional abilities; a drill declares the ones it needs and the registry refuses it without them. */
export type Capability = keyof Capabilities;

export interface Capabilities {
  /** A host watchdog the drill can read, and pausing one service's process alone (patroni-freeze:
   * SIGSTOP Patroni while PostgreSQL runs on). Loopback only: in a container Patroni and PostgreSQL
   * share a cgroup, and there is no /dev/watchdog. */
  readonly watchdog: {
    status(host: string): WatchdogStatus | null;
    pauseService(host: string, service: Service): void;
    resumeService(host: string, service: Service): void;
  };
  /** Cutting a region off from the other regions (region-partition). The drill process itself keeps
   * reaching every host. Loopback: only with the lab WAN (--wan-rtt). */
  readonly partitions: {
    isolateRegion(region: string): Promise<void>;
    heal(): Promise<void>;
  };
  /** Where the failover hook expects the DigitalOcean API (standby-promote): the drill serves the
   * stand-in there (lab/stand-ins/digitalocean-stand-in.ts), which powers droplets off with powerOff(). */
  readonly fenceApi: {
    readonly url: string;
  };
  /** Customers through the edge: orders posted to the Cloudflare stand-in, which routes them over the
   * regional load balancer stand-ins (both read from the synthesized stacks, lab/stand-ins/edge.ts) to
   * an app host. Their write gap is what a shopper sees, beside the database's. Rehearsal only. */
  readonly customers: {
    writer(firstId: number): OrderWriter;
    nextOrderId(node: string): Promise<number>;
    readOrders(node: string): Promise<Map<number, StoredOrder>>;
  };
}

export interface DrillBackend extends Partial<Capabilities> {
  readonly kind: BackendKind;
  /** The loaded topology, with `timing` set to the preset this backend runs. */
  readonly t: Topology;
  readonly preset: TimingPresetName;
  readonly log: (line: string) => void;

  // ---- hosts ------------------------------------------------------------------------------------
  /** The hosts this backend runs (loopback: the database, Redis, etcd, witness hosts and one app host
   * per region; rehearsal: every host of the topology). */
  hosts(): readonly Host[];
  /** Throws for a name that is not one of hosts(). */
  host(name: string): Host;
  hostsRunning(service: Service): readonly Host[];

  // ---- faults -----------------------------------------------------------------------------------
  /** Power cut: everything on the host dies at once (watchdog included). */
  powerOff(host: string): Promise<void>;
  /** Power back: the host boots and starts its services as systemd would (etcd before Patroni).
   * Resolves once they are started, not healthy. */
  powerOn(host: string): Promise<void>;
  /** The host stops answering but keeps its sockets (cgroup freezer / SIGSTOP): a partition as seen
   * from outside. Time frozen does not count for its watchdog. */
  freeze(host: string): Promise<void>;
  thaw(host: string): Promise<void>;
  /** SIGKILL one service, as a crash would (`systemctl kill --signal=KILL`): `patroni` takes the
   * PostgreSQL it runs with it, `postgresql` is PostgreSQL alone under a running Patroni. Whatever
   * supervises the service on the host (a watchdog, Patroni, systemd's Restart=) acts as it would. */
  killService(host: string, service: Service): Promise<void>;
  /** Starts a killed service again, as an operator's `systemctl start` would. */
  startService(host: string, service: Service): Promise<void>;
  /** After a fault: database hosts that still have power but lost Patroni come back the way their own
   * supervision brings them back (loopback: a due watchdog reset, then a boot, and Patroni restarted
   * every PATRONI_RESTART_SECONDS like the systemd drop-in; rehearsal: systemd). Hosts without power
   * are left alone. `since` (epoch s) is the fault. Returns notes for the report. */
  recoverDatabaseHosts(since: number): Promise<string[]>;
  /** The drill is over: stop what the backend did on its behalf (restarting Patroni); notes. */
  endDrill(): string[];
  /** Whether a client in `fromRegion` reaches `host` now (false only across a partition). */
  reachable(fromRegion: string, host: string): boolean;

  // ---- commands on a host -----------------------------------------------------------------------
  /** Runs a command on the host (rehearsal: in the container as root; loopback: on this machine in the
   * host's network namespace). Resolves with its exit code; rejects only when it could not run. */
  exec(host: string, argv: readonly string[], opts?: { readonly timeoutMs?: number; readonly input?: string }): Promise<ExecResult>;
  /** patronictl with the host's own Patroni configuration and credentials; resolves to stdout,
   * rejects on a non-zero exit. */
  patronictl(host: string, args: readonly string[], timeoutMs?: number): Promise<string>;

  // ---- probes -------------------------------------------------------------------------------------
  /** Members of every Patroni cluster; with `askNodes`, of the cluster as the first of these nodes
   * that answers sees it (a cut-off region's nodes may hold a stale view). */
  members(askNodes?: readonly string[]): Promise<Member[]>;
  /** The running read-write leader (a standby cluster's standby leader is not one). */
  leader(): Promise<string | null>;
  /** Members streaming WAL from `node`, as it reports them. */
  streamingFrom(node: string): Promise<Set<string>>;
  /** Whether the node's Patroni REST API answers at all. */
  patroniAnswers(node: string): Promise<boolean>;
  etcdHealthy(): Promise<boolean>;
  /** The host whose etcd member leads the raft group. */
  etcdLeader(): Promise<string | null>;
  /** The Redis primary every live Sentinel names (host name), or null while they disagree. */
  redisPrimary(): Promise<string | null>;
  /** The primary one Sentinel names (host name); null when it names none, rejects when unreachable. */
  sentinelMaster(sentinelHost: string): Promise<string | null>;
  /** A Redis server's role and online replicas; null when it does not answer. */
  redisReplication(host: string): Promise<RedisReplication | null>;
  /** Every service up and in its place: etcd healthy, one leader per Patroni cluster with every replica
   * streaming (and a synchronous standby when configured), HAProxy routing to the primary, Sentinels
   * agreeing on a Redis primary with all replicas. `step` hears progress. */
  waitHealthy(timeoutMs: number, step?: (msg: string) => void): Promise<void>;
  /** Whether `node` pg_rewind-ed itself since `since` (epoch s), for the report; absent: unknown. */
  rewoundSince?(node: string, since: number): Promise<boolean>;

  // ---- targets and data -------------------------------------------------------------------------
  pgTarget(node: string): PgTarget;
  redisTarget(host: string, as?: RedisIdentity): RedisTarget;
  sentinelTarget(host: string, as?: RedisIdentity): RedisTarget;
  /** Writes customer orders through `appHost` one every 20 ms, ids from `firstId` (loopback: SQL through
   * its HAProxy :5000; rehearsal: POST /orders to the app there). */
  orderWriter(appHost: string, firstId: number): OrderWriter;
  /** The id after the highest order `node` holds. */
  nextOrderId(node: string): Promise<number>;
  /** Every order `node` holds: id → who accepted it and when. */
  readOrders(node: string): Promise<Map<number, StoredOrder>>;
  /** The generated failover hook, started fresh (it acts once per start), or null when the topology has
   * none. `apiToken` is what it sends the DigitalOcean API. */
  failoverHook(opts?: { readonly apiToken?: string }): Promise<FailoverHookControl | null>;

  // ---- lifecycle ----------------------------------------------------------------------------------
  /** Tears down what this backend brought up; `keepAs` names a copy of its logs to keep (when the
   * backend was asked to keep logs). Returns a line for the log. */
  down(keepAs?: string): Promise<string>;
}

/** How the runner gets backends: one per timing preset, rebuilt when a drill left it broken. */
export interface BackendProvider {
  readonly kind: BackendKind;
  /** The capabilities its backends will have, known before anything boots. */
  readonly capabilities: ReadonlySet<Capability>;
  /** A backend running `preset`: brought up (owned: the runner tears it down, and may rebuild it) or
   * lent (one already up; never torn down or rebuilt). */
  acquire(preset: TimingPresetName, log: (line: string) => void): Promise<{ readonly backend: DrillBackend; readonly owned: boolean }>;
}
