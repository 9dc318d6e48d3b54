// Views of the model for the per-host service configs (etcd, Patroni, HAProxy, Redis, Sentinel):
// snake_case data that the templates print. Addresses, paths and binaries come from the RenderEnv.
import type { Host } from "../../lib/model/hosts";
import { hostsRunning } from "../../lib/model/hosts";
import { patroniScope } from "../../lib/model/naming";
import { PORTS } from "../../lib/model/ports";
import { presetOf, SENTINEL_DOWN_AFTER_STAGGER_MS, watchdogTiming } from "../../lib/model/timing";
import type { Topology } from "../../lib/model/types";
import { usesHostNames, type RenderEnv } from "../render-env";
import { etcdPatroniUser } from "./etcd-auth";
import {
  etcdClusterOf, etcdClusterToken, initialRedisPrimary, postgresClusterOf, primaryRegion, sentinelMasterName, sentinelQuorum,
} from "./clusters";

/** etcd's client and peer URLs: TLS only (the policy test refuses any http:// etcd URL). */
const url = (address: string, port: number) => `https://${address}:${port}`;

/** A host's TLS files, snake_case for the templates. */
export function tlsView(env: RenderEnv, host: Host) {
  const f = env.tls(host);
  return { ca_file: f.caFile, cert_file: f.certFile, key_file: f.keyFile };
}

export function etcdView(t: Topology, host: Host, env: RenderEnv) {
  const { etcd } = presetOf(t);
  const address = env.addressOf(host.name);
  const listen = env.listenAddress(host);
  return {
    name: host.name,
    data_dir: env.paths(host).etcdDataDir,
    listen_client_urls: url(listen, PORTS.etcdClient),
    advertise_client_urls: url(address, PORTS.etcdClient),
    listen_peer_urls: url(listen, PORTS.etcdPeer),
    initial_advertise_peer_urls: url(address, PORTS.etcdPeer),
    initial_cluster: etcdClusterOf(t, host.region).map((m) => `${m.name}=${url(env.addressOf(m.name), PORTS.etcdPeer)}`).join(","),
    initial_cluster_token: etcdClusterToken(t, host.region),
    heartbeat_interval_ms: etcd.heartbeatMs,
    election_timeout_ms: etcd.electionMs,
    tls: tlsView(env, host),
  };
}

/** Patroni's (and patronictl's) way into its DCS: the region's etcd cluster over TLS, with the host's
 * certificate and the cluster's etcd user, limited to its keys (the password comes from the environment,
 * PATRONI_ETCD3_PASSWORD). `host` is the one whose certificate is presented; `members`, the etcd members
 * it reaches (the whole cluster unless narrowed). */
export function patroniEtcdView(t: Topology, host: Host, env: RenderEnv, region = host.region, members = etcdClusterOf(t, region)) {
  return {
    hosts: members.map((m) => `${env.addressOf(m.name)}:${PORTS.etcdClient}`),
    username: etcdPatroniUser(patroniScope(t, region)),
    tls: tlsView(env, host),
  };
}

/** pgBackRest stanza: one per Patroni cluster (its scope). */
export function pgbackrestStanza(t: Topology, region: string): string {
  return patroniScope(t, region);
}

export function patroniView(t: Topology, host: Host, env: RenderEnv) {
  const { patroni } = presetOf(t);
  const paths = env.paths(host);
  const scope = patroniScope(t, host.region);
  const stanza = pgbackrestStanza(t, host.region);
  const standbyOf = t.database.mode === "standby-cluster" && host.region !== primaryRegion(t)
    ? postgresClusterOf(t, primaryRegion(t)) : [];
  return {
    scope,
    name: host.name,
    log_dir: paths.logDir,
    restapi_listen: `${env.listenAddress(host)}:${PORTS.patroniApi}`,
    restapi_connect_address: `${env.addressOf(host.name)}:${PORTS.patroniApi}`,
    etcd: patroniEtcdView(t, host, env),
    ttl: patroni.ttl,
    loop_wait: patroni.loopWait,
    retry_timeout: patroni.retryTimeout,
    primary_start_timeout: patroni.primaryStartTimeout,
    maximum_lag_on_failover: t.database.maximumLagOnFailoverBytes,
    synchronous_mode: t.database.synchronousMode,
    max_wal_senders: 10,
    max_replication_slots: 10,
    archive_command: env.archiveCommand ?? `pgbackrest --stanza=${stanza} archive-push %p`,
    standby_cluster: standbyOf.length === 0 ? null : {
      // libpq tries the hosts in order; cascading from a replica is fine for a standby leader.
      host: standbyOf.map((m) => env.addressOf(m.name)).join(","),
      port: PORTS.postgres,
      restore_command: env.restoreCommand ?? `pgbackrest --stanza=${pgbackrestStanza(t, primaryRegion(t))} archive-get %f "%p"`,
    },
    postgres_listen: `${env.listenAddress(host)}:${PORTS.postgres}`,
    postgres_connect_address: `${env.addressOf(host.name)}:${PORTS.postgres}`,
    data_dir: paths.pgDataDir,
    bin_dir: env.postgresBinDir,
    pgpass: `${paths.runDir}/pgpass`,
    socket_dir: paths.pgSocketDir,
    local_address: env.localAddress(host),
    client_networks: env.clientNetworks,
    superuser_networks: env.superuserNetworks,
    tls: tlsView(env, host),
    nosync: host.regionRole !== "primary",
    watchdog: { device: "/dev/watchdog", ...env.watchdog?.(host), safety_margin: watchdogTiming(t.timing).safetyMarginSeconds },
  };
}

export function haproxyView(t: Topology, host: Host, env: RenderEnv) {
  const { haproxy } = presetOf(t);
  const local = env.localAddress(host);
  return {
    primary_bind: `${local}:${PORTS.haproxyPrimary}`,
    replicas_bind: `${local}:${PORTS.haproxyReplicas}`,
    stats_bind: `${env.listenAddress(host)}:${PORTS.haproxyStats}`,
    inter_ms: haproxy.interMs,
    fastinter_ms: haproxy.fastinterMs,
    downinter_ms: haproxy.downinterMs,
    fall: haproxy.fall,
    rise: haproxy.rise,
    // A replica further behind than Patroni would accept for failover does not serve reads either.
    replica_max_lag_bytes: t.database.maximumLagOnFailoverBytes,
    patroni_port: PORTS.patroniApi,
    ca_file: env.tls(host).caFile,
    // Every database node, of both clusters in standby-cluster mode: /primary answers 200 only on the one
    // real primary (a standby leader answers 503), so after a promotion the app follows without a change.
    servers: hostsRunning(t, "patroni").map((m) => ({ name: m.name, address: `${env.addressOf(m.name)}:${PORTS.postgres}` })),
  };
}

/** Include file, in `env.paths(host).configDir`, holding `requirepass` and `masterauth` (written from Vault). */
export const REDIS_AUTH_FILE = "redis-auth.conf";
/** Include file, in `env.paths(host).configDir`, holding `sentinel auth-pass <master> <password>`. */
export const SENTINEL_AUTH_FILE = "sentinel-auth.conf";

function redisCommon(host: Host, env: RenderEnv) {
  const paths = env.paths(host);
  return {
    bind: env.listenAddress(host),
    announce_ip: env.addressOf(host.name),
    data_dir: paths.redisDataDir,
    run_dir: paths.runDir,
    log_dir: paths.logDir,
    config_dir: paths.configDir,
  };
}

/** `min-replicas-to-write 1` bounds split-brain writes, but a primary without a reachable replica then
 * refuses every write until repair. The lab measured both ways to get there: with two Redis hosts,
 * losing either; and after a region loss, a surviving region with a single Redis host (the example's
 * ams3: the new primary refused writes until nyc1 came back). So it is 1 only when losing any one host
 * or any one region still leaves at least two Redis hosts (a primary and a replica), 0 otherwise
 * (Sentinel still fails over; an isolated old primary may accept writes that are lost when it rejoins). */
export function minReplicasToWrite(t: Topology): number {
  const redis = hostsRunning(t, "redis");
  const regions = [...new Set(redis.map((h) => h.region))];
  const survivesRegionLoss = regions.every((r) => redis.filter((h) => h.region !== r).length >= 2);
  return redis.length >= 3 && survivesRegionLoss ? 1 : 0;
}

export function redisView(t: Topology, host: Host, env: RenderEnv) {
  const primary = initialRedisPrimary(t);
  return {
    ...redisCommon(host, env),
    port: PORTS.redis,
    auth_file: REDIS_AUTH_FILE,
    replicaof: primary.name === host.name ? null : `${env.addressOf(primary.name)} ${PORTS.redis}`,
    min_replicas_to_write: minReplicasToWrite(t),
    min_replicas_max_lag: 10,
  };
}

/** Sentinel down-after for this host: the preset's, staggered in topology order (see
 * SENTINEL_DOWN_AFTER_STAGGER_MS in the timing model for why). */
export function sentinelDownAfterMs(t: Topology, host: Host): number {
  const order = hostsRunning(t, "sentinel").findIndex((h) => h.name === host.name);
  return presetOf(t).sentinel.downAfterMs + Math.max(0, order) * SENTINEL_DOWN_AFTER_STAGGER_MS;
}

export function sentinelView(t: Topology, host: Host, env: RenderEnv) {
  const { sentinel } = presetOf(t);
  const primary = initialRedisPrimary(t);
  const paths = env.paths(host);
  return {
    ...redisCommon(host, env),
    run_dir: paths.sentinelRunDir ?? paths.runDir,
    port: PORTS.sentinel,
    auth_file: SENTINEL_AUTH_FILE,
    master_name: sentinelMasterName(t),
    master_address: env.addressOf(primary.name),
    redis_port: PORTS.redis,
    quorum: sentinelQuorum(t),
    down_after_ms: sentinelDownAfterMs(t, host),
    failover_timeout_ms: sentinel.failoverTimeoutMs,
    announce_hostnames: usesHostNames(env, primary.name),
    sentinel_count: hostsRunning(t, "sentinel").length,
  };
}
