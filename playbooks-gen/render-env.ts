// What differs between rendering for production and for the failover lab: addresses, filesystem
// paths and binary locations, passed explicitly. Everything else comes from the topology model.
import type { Host } from "../lib/model/hosts";
import type { Topology } from "../lib/model/types";

export interface HostPaths {
  /** Patroni/etcd/redis config files of this host. */
  readonly configDir: string;
  /** PostgreSQL data directory (production: on the attached volume). */
  readonly pgDataDir: string;
  /** Unix socket directory for PostgreSQL (each lab host needs its own). */
  readonly pgSocketDir: string;
  readonly etcdDataDir: string;
  readonly redisDataDir: string;
  readonly logDir: string;
  readonly runDir: string;
  /** Where Sentinel writes its pid file (optional; default runDir). Debian's redis-sentinel unit may
   * write only /run/sentinel, not redis-server's /run/redis. */
  readonly sentinelRunDir?: string;
}

export interface RenderEnv {
  /** How other hosts reach `host`: production returns the host name (the playbooks write names and
   * private IPs to /etc/hosts); the lab returns the host's 127.0.0.x. */
  addressOf(host: string): string;
  /** Address `host`'s network listeners bind: production "0.0.0.0" (firewalls restrict), lab its 127.0.0.x. */
  listenAddress(host: Host): string;
  /** Address of listeners meant for the host itself only (HAProxy :5000/:5001): production 127.0.0.1. */
  localAddress(host: Host): string;
  paths(host: Host): HostPaths;
  /** Directory with the PostgreSQL server binaries (pg_ctl, postgres, pg_rewind). */
  readonly postgresBinDir: string;
  /** Source networks allowed in pg_hba (production: the VPC ranges; lab: 127.0.0.0/8). */
  readonly clientNetworks: readonly string[];
  /** Networks the PostgreSQL superuser may log in from over TCP (TLS, scram). Production: none, the
   * superuser is local only (Patroni and the playbooks use the Unix socket). The lab: its own clients'
   * address, which stands for the operator's shell on the database host. */
  readonly superuserNetworks: readonly string[];
  /** The host's certificate, key and the deployment CA's certificate (production: issued by the
   * playbooks' `pki` role from the controller's CA; the lab makes its own CA with openssl). */
  tls(host: Host): TlsFiles;
  /** WAL archive command (optional); default pgBackRest `archive-push` to the Spaces bucket. The lab,
   * which has no bucket, may pass e.g. "/bin/true" so WAL does not pile up. */
  readonly archiveCommand?: string;
  /** A standby cluster's restore command (optional); default pgBackRest `archive-get` from the primary
   * region's stanza. The lab, which archives nothing, passes "/bin/false" (WAL comes by streaming). */
  readonly restoreCommand?: string;
  /** Where the failover hook listens, keeps its settings and fences through (optional; default
   * production's :9095 on the surviving region's monitoring host, which every Alertmanager posts to
   * by name over HTTPS, /etc/shop-failover-hook and the DigitalOcean API). The lab passes its
   * own host address, a directory of its own and its stand-in for the DigitalOcean API. */
  readonly failoverHook?: FailoverHookEnv;
  /** Patroni's watchdog device of a host (optional; default production's /dev/watchdog, which the
   * playbook backs with softdog). The lab, which has no kernel watchdog, passes a named pipe per host
   * with Patroni's own `testing` driver (it turns the watchdog ioctls into writes on the pipe), read by
   * its stand-in that resets the host as softdog would. */
  watchdog?(host: Host): WatchdogEnv;
}

export interface TlsFiles {
  /** The deployment CA's certificate: every server and client verifies its peers against it. The same
   * path on every host. */
  readonly caFile: string;
  /** This host's certificate (SANs: its name, its private address, 127.0.0.1 and localhost). */
  readonly certFile: string;
  /** This host's private key: made on the host, never leaves it. */
  readonly keyFile: string;
}

/** Where the playbooks put every host's TLS files (Debian's ssl-cert layout: the key group-readable by
 * ssl-cert, whose members are the services that present it). */
export const PRODUCTION_TLS: TlsFiles = {
  caFile: "/etc/ssl/shop/ca.crt",
  certFile: "/etc/ssl/shop/host.crt",
  keyFile: "/etc/ssl/private/shop-host.key",
};

export interface WatchdogEnv {
  readonly device: string;
  readonly driver?: "testing";
}

export interface FailoverHookEnv {
  /** address:port of the webhook receiver. */
  readonly listen: string;
  /** Settings directory: failover-hook.ini, patronictl.yml, the DigitalOcean token file. */
  readonly dir: string;
  /** Base URL of the DigitalOcean API (the droplet actions endpoint is under /v2). */
  readonly apiUrl: string;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** True when `addressOf` hands out names, not IPs: Sentinel must then announce hostnames. */
export function usesHostNames(env: RenderEnv, sample: string): boolean {
  return !IPV4.test(env.addressOf(sample));
}

/** Debian 12 paths for a host's configuration and state. One directory per kind, chosen by the service
 * that owns it on this tier: Debian's redis/sentinel units may write only under /etc/redis, /var/lib/redis,
 * /var/log/redis and /run/redis, so hosts running Redis or Sentinel use those. */
export function productionPaths(t: Topology, host: Host): HostPaths {
  const redisLike = host.services.includes("redis") || host.services.includes("sentinel");
  const postgres = host.services.includes("patroni");
  const owner = postgres ? "postgresql" : redisLike ? "redis" : "shop-multiregion";
  return {
    configDir: postgres ? "/etc/patroni" : redisLike ? "/etc/redis" : "/etc/shop-multiregion",
    // The data volume is mounted on /var/lib/postgresql, so the cluster directory lives on it.
    pgDataDir: `/var/lib/postgresql/${t.database.postgresVersion}/main`,
    pgSocketDir: "/var/run/postgresql",
    // Not /var/lib/etcd/default: that is the single-node member Debian's package starts on install.
    etcdDataDir: `/var/lib/etcd/${host.name}`,
    redisDataDir: "/var/lib/redis",
    logDir: `/var/log/${owner}`,
    runDir: `/var/run/${owner}`,
    sentinelRunDir: "/var/run/sentinel",
  };
}

/** The production environment: peers by host name (the playbooks write names → private IPs into
 * /etc/hosts), listeners on every interface (cloud firewalls restrict), Debian paths and binaries. */
export function productionRenderEnv(t: Topology): RenderEnv {
  const networks = t.regions.map((r) => r.vpcRange);
  return {
    addressOf: (host) => host,
    listenAddress: () => "0.0.0.0",
    localAddress: () => "127.0.0.1",
    paths: (host) => productionPaths(t, host),
    postgresBinDir: `/usr/lib/postgresql/${t.database.postgresVersion}/bin`,
    clientNetworks: networks,
    superuserNetworks: [],
    tls: () => PRODUCTION_TLS,
  };
}
