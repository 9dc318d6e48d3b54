// The lab's RenderEnv: the same renderers as production, with each lab host on its own loopback
// address and every path under the lab's working directory. Nothing else may differ (DESIGN.md).
import * as path from "path";
import { hostsOf, PORTS, type Host, type Service, type Topology } from "../../../lib/model";
import type { FailoverHookEnv, HostPaths, RenderEnv, TlsFiles, WatchdogEnv } from "../../../playbooks-gen/render-env";
import { failoverHookNeeded, survivingRegion } from "../../../playbooks-gen/views/failover";

/** The hook keeps production's port on its lab host; the DigitalOcean API stand-in listens next to it. */
export const FAILOVER_HOOK_PORT = PORTS.failoverHook;
export const DIGITALOCEAN_STAND_IN_PORT = FAILOVER_HOOK_PORT + 1;

/** Services the lab boots; app/worker code, exporters and monitoring are not part of failover. */
export const LAB_SERVICES: readonly Service[] = ["etcd", "patroni", "haproxy", "redis", "sentinel"];

/**
 * Hosts the lab boots: every host running etcd, Patroni, Redis or Sentinel, and one HAProxy host
 * (the first app host) per region that has app hosts, which is where the writer connects.
 */
export function labHosts(t: Topology): readonly Host[] {
  const seenAppRegion = new Set<string>();
  return hostsOf(t).filter((h) => {
    if (h.tier === "app" && !seenAppRegion.has(h.region)) {
      seenAppRegion.add(h.region);
      return true;
    }
    return h.tier !== "app" && h.tier !== "worker" && h.services.some((s) => LAB_SERVICES.includes(s));
  });
}

/** The hook lives on a host of the surviving region: the lab gives it that region's HAProxy host. */
export function labHookHost(t: Topology, hosts: readonly Host[]): string | undefined {
  if (!failoverHookNeeded(t)) return undefined;
  return hosts.find((h) => h.region === survivingRegion(t) && h.services.includes("haproxy"))?.name;
}

export class LabEnv implements RenderEnv {
  readonly clientNetworks = ["127.0.0.0/8"] as const;
  /** The lab's own clients (prober, read-back, psql, the writer through HAProxy) log in as the
   * superuser, as an operator's shell would, over TLS. */
  readonly superuserNetworks: readonly string[];
  /** No WAL archive bucket in the lab: archiving succeeds without keeping anything. */
  readonly archiveCommand = "/bin/true";
  /** …so a standby cluster finds nothing there and streams its WAL from the primary region. */
  readonly restoreCommand = "/bin/false";
  private readonly addresses: ReadonlyMap<string, string>;
  readonly failoverHook?: FailoverHookEnv;
  /** Where the lab's own clients (writer, prober, psql, the API stand-in) live: .1 of the lab's /24. */
  readonly clientAddress: string;

  /** `net` is the first three octets, e.g. "127.0.0"; hosts get .2, .3, … (.1 is every client's source).
   * `postgresBinDir` is Debian's directory for the topology's PostgreSQL version. `hookHost` is the lab
   * host the failover hook runs on (with the DigitalOcean API stand-in), if any. */
  constructor(readonly root: string, readonly hosts: readonly Host[], net: string, readonly postgresBinDir: string, hookHost?: string) {
    if (!/^127\.\d{1,3}\.\d{1,3}$/.test(net)) throw new Error(`--net must look like 127.0.0 (loopback only), got ${net}`);
    if (hosts.length > 250) throw new Error(`the lab supports at most 250 hosts, got ${hosts.length}`);
    this.addresses = new Map(hosts.map((h, i) => [h.name, `${net}.${i + 2}`]));
    this.clientAddress = `${net}.1`;
    // The lab's clients reach PostgreSQL directly (from the clients' address, or from 127.0.0.1 without
    // the lab WAN: the kernel's source for any 127.x destination) and through every app host's HAProxy
    // (from that host's address): all of them are the operator here. Production admits none.
    this.superuserNetworks = ["127.0.0.0/8"];
    if (hookHost !== undefined) {
      const a = this.addressOf(hookHost);
      // The DigitalOcean API stand-in runs in the lab's own process, on the clients' address.
      this.failoverHook = { listen: `${a}:${FAILOVER_HOOK_PORT}`, dir: path.join(root, "hosts", "failover-hook"), apiUrl: `http://${this.clientAddress}:${DIGITALOCEAN_STAND_IN_PORT}` };
    }
  }

  addressOf(host: string): string {
    const a = this.addresses.get(host);
    if (!a) throw new Error(`host ${host} is not part of the lab (lab hosts: ${[...this.addresses.keys()].join(", ")})`);
    return a;
  }

  /** The lab host at a loopback address, if any. */
  hostAt(addr: string): Host | undefined {
    return this.hosts.find((h) => this.addresses.get(h.name) === addr);
  }

  listenAddress(host: Host): string {
    return this.addressOf(host.name);
  }

  localAddress(host: Host): string {
    return this.addressOf(host.name);
  }

  /** Patroni's watchdog: a named pipe per host with Patroni's `testing` driver, read by the lab's
   * stand-in for softdog (lab/stand-ins/watchdog-stand-in.py). */
  watchdog(host: Host): WatchdogEnv {
    return { device: path.join(this.paths(host).runDir, "watchdog"), driver: "testing" };
  }

  /** Each host's key and certificate (made by LabPki at boot), under its own directory. */
  tls(host: Host): TlsFiles {
    const d = path.join(this.hostDir(host.name), "tls");
    return { caFile: path.join(this.pkiDir, "ca.crt"), certFile: path.join(d, "host.crt"), keyFile: path.join(d, "host.key") };
  }

  /** The lab CA's directory (its key stays there; hosts get copies of its certificate). */
  get pkiDir(): string {
    return path.join(this.root, "pki");
  }

  /** The certificate the lab's own clients present where a server asks for one (etcd). */
  get clientTls(): TlsFiles {
    const d = path.join(this.pkiDir, "client");
    return { caFile: path.join(this.pkiDir, "ca.crt"), certFile: path.join(d, "host.crt"), keyFile: path.join(d, "host.key") };
  }

  hostDir(host: string): string {
    return path.join(this.root, "hosts", host);
  }

  paths(host: Host): HostPaths {
    const d = this.hostDir(host.name);
    return {
      configDir: path.join(d, "etc"),
      pgDataDir: path.join(d, "pgdata"),
      pgSocketDir: path.join(d, "run", "pgsocket"),
      etcdDataDir: path.join(d, "etcd"),
      redisDataDir: path.join(d, "redis"),
      logDir: path.join(d, "log"),
      runDir: path.join(d, "run"),
    };
  }
}
