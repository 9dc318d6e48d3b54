// Views for the monitoring configs: what Prometheus scrapes and where Alertmanager sends alerts.
import { hostsOf, hostsRunning, type Host, type Service } from "../../lib/model/hosts";
import { namePrefix, patroniScope } from "../../lib/model/naming";
import { PORTS } from "../../lib/model/ports";
import { presetOf } from "../../lib/model/timing";
import type { Topology } from "../../lib/model/types";
import { PRODUCTION_TLS, type RenderEnv } from "../render-env";
import { CERT_NOT_AFTER_METRIC, PKI_RENEW_DAYS } from "../roles/pki";
import { ALERTMANAGER_HOOK_TOKEN_FILE, deploymentCaFile, failoverHookNeeded, failoverWebhookUrl } from "./failover";
import { tlsView } from "./services";

export const PROMETHEUS_RULES_DIR = "/etc/prometheus/rules";
export const BLACKBOX_ADDRESS = "127.0.0.1:9115";
/** Alertmanager's API (9093) is HTTPS with the host's certificate from the deployment CA, and every
 * request needs this user and the Vault password: Prometheus, the checks and operators alike. */
export const ALERTMANAGER_USER = "shop";
export const ALERTMANAGER_PASSWORD_VAULT = "vault_alertmanager_password";
/** Alertmanager's --web.config.file (TLS files, the user and the password's bcrypt hash). */
export const ALERTMANAGER_WEB_CONFIG = "/etc/prometheus/alertmanager-web.yml";
/** The password, for Prometheus (basic_auth password_file): root:prometheus 0640. */
export const ALERTMANAGER_PASSWORD_FILE = "/etc/prometheus/alertmanager-password";
/** The fact the alertmanager role puts the hash in: the stored one while the Vault password still
 * verifies against it, a new one (new salt) otherwise. */
export const ALERTMANAGER_HASH_FACT = "alertmanager_password_hash";
/** Prometheus's --web.config.file: the same user and password on its loopback-only API. */
export const PROMETHEUS_WEB_CONFIG = "/etc/prometheus/web.yml";
export const PROMETHEUS_HASH_FACT = "prometheus_password_hash";
/** Alertmanager's --cluster.tls-config (0.25, experimental): the gossip between the Alertmanagers over
 * mutual TLS against the deployment CA. The same on every host (the TLS files' paths are). */
export const ALERTMANAGER_CLUSTER_TLS_CONFIG = "/etc/prometheus/alertmanager-cluster-tls.yml";

/** Targets grouped by region (and, for database nodes, by Patroni cluster), so alerts can say which
 * region went dark. */
function byRegion(t: Topology, hosts: readonly Host[], target: (h: Host) => string, labels: (region: string) => Record<string, string> = () => ({})) {
  return t.regions
    .map((r) => ({ labels: { region: r.slug, ...labels(r.slug) }, targets: hosts.filter((h) => h.region === r.slug).map(target) }))
    .filter((g) => g.targets.length > 0);
}

/** Patroni REST paths probed through the blackbox exporter. Not Patroni's /metrics: Debian's Patroni
 * 3.0.2 prints `None` for patroni_postgres_timeline on a replica that cannot read its timeline, and
 * Prometheus then rejects the whole scrape, so a region of replicas looked down (DatabaseRegionDown,
 * critical, routed to the failover hook). A probe's status code cannot break that way. */
export const PATRONI_PROBES = [
  // 200 while Patroni's HA loop runs, on a replica as on the leader: the node is alive.
  { job: "patroni_liveness", path: "/liveness" },
  // 200 only on the node holding the leader key (a primary, or a standby cluster's standby leader).
  { job: "patroni_leader", path: "/leader" },
] as const;

/** How often Prometheus probes Patroni (the alert path's first term, measured by the rehearsal). */
export const PATRONI_PROBE_INTERVAL = "5s";

export function prometheusView(t: Topology, env: RenderEnv) {
  const targets = (service: Service, port: number) => byRegion(t, hostsRunning(t, service), (h) => `${env.addressOf(h.name)}:${port}`);
  const scope = (region: string) => ({ scope: patroniScope(t, region) });
  const patroni = (path: string) => byRegion(t, hostsRunning(t, "patroni"), (h) => `https://${env.addressOf(h.name)}:${PORTS.patroniApi}${path}`, scope);
  return {
    deployment: namePrefix(t),
    alertmanagers: hostsRunning(t, "alertmanager").map((h) => `${env.addressOf(h.name)}:${PORTS.alertmanager}`),
    alertmanager_user: ALERTMANAGER_USER,
    alertmanager_password_file: ALERTMANAGER_PASSWORD_FILE,
    // The CA's certificate is at the same path on every host.
    ca_file: env.tls(hostsRunning(t, "prometheus")[0]).caFile,
    rules_glob: `${PROMETHEUS_RULES_DIR}/*.yml`,
    jobs: [
      { name: "node", metrics_path: null, groups: byRegion(t, hostsOf(t), (h) => `${env.addressOf(h.name)}:${PORTS.nodeExporter}`) },
      // postgres_exporter works on replicas too: pg_up, and on the primary pg_stat_replication per replica.
      { name: "postgres", metrics_path: null, groups: byRegion(t, hostsRunning(t, "postgres_exporter"), (h) => `${env.addressOf(h.name)}:${PORTS.postgresExporter}`, scope) },
      { name: "redis", metrics_path: null, groups: targets("redis_exporter", PORTS.redisExporter) },
      { name: "haproxy", metrics_path: "/metrics", groups: targets("haproxy", PORTS.haproxyStats) },
    ],
    // etcd's /metrics is on its client port, which takes TLS with a certificate from the deployment CA
    // only: Prometheus presents its host's (it is in ssl-cert). No etcd user: /metrics is not RBAC's.
    etcd: { name: "etcd", groups: targets("etcd", PORTS.etcdClient), tls: tlsView(env, hostsRunning(t, "prometheus")[0] ?? hostsOf(t)[0]) },
    probes: [
      // Every 5 s: these feed PatroniNoLeader and DatabaseRegionDown, which trigger the failover hook.
      ...PATRONI_PROBES.map((p) => ({ name: p.job, scrape_interval: PATRONI_PROBE_INTERVAL, groups: patroni(p.path) })),
      { name: "app_health", scrape_interval: null, groups: byRegion(t, hostsRunning(t, "app"), (h) => `http://${env.addressOf(h.name)}:${t.app.port}${t.app.healthPath}`) },
    ],
    blackbox_address: BLACKBOX_ADDRESS,
  };
}

export function alertRulesView(t: Topology) {
  const { patroni } = presetOf(t);
  return {
    // Longer than one TTL, so a normal failover (leader key expiry, then promotion) does not page.
    no_leader_for: `${patroni.ttl * 2}s`,
    max_lag_bytes: t.database.maximumLagOnFailoverBytes,
    // The pki role's metric, and the renewal window its runs use.
    cert_metric: CERT_NOT_AFTER_METRIC,
    cert_renew_days: PKI_RENEW_DAYS,
  };
}

/** Critical database alerts go from every Alertmanager to the failover hook on its one host (views/failover.ts),
 * over HTTPS verified against the deployment CA, with the bearer token. */
export function alertmanagerView(t: Topology, env: RenderEnv) {
  return {
    failover_webhook_url: failoverHookNeeded(t) ? failoverWebhookUrl(t, env) : null,
    failover_webhook_token_file: ALERTMANAGER_HOOK_TOKEN_FILE,
    ca_file: deploymentCaFile(t, env),
  };
}

/** The web config: Jinja fills the hash in at run time (the role computes it on the controller). */
export function alertmanagerWebView() {
  return { cert_file: PRODUCTION_TLS.certFile, key_file: PRODUCTION_TLS.keyFile, user: ALERTMANAGER_USER, hash: `{{ ${ALERTMANAGER_HASH_FACT} }}` };
}

/** Prometheus's web config: basic auth only (it listens on loopback). */
export function prometheusWebView() {
  return { user: ALERTMANAGER_USER, hash: `{{ ${PROMETHEUS_HASH_FACT} }}` };
}

/** The cluster's TLS config: each side presents the host's certificate and verifies the other's
 * against the deployment CA (a server that takes no client certificate, or one from another CA,
 * is no peer). 0.25 panics without tls_client_config. */
export function alertmanagerClusterTlsView() {
  return { cert_file: PRODUCTION_TLS.certFile, key_file: PRODUCTION_TLS.keyFile, ca_file: PRODUCTION_TLS.caFile };
}

/** `privateIpv4`: the host's private address, the IP its certificate names (roles/pki.ts). With TLS,
 * memberlist must be told the IP to advertise: on 0.0.0.0 it guesses a private address (and with none
 * it does not start), and 0.25 parses no name. Peers dial that IP and verify it against the certificate. */
export function alertmanagerArgsView(t: Topology, host: Host, env: RenderEnv, privateIpv4: string) {
  return {
    web_config: ALERTMANAGER_WEB_CONFIG,
    cluster_tls_config: ALERTMANAGER_CLUSTER_TLS_CONFIG,
    cluster_listen: `${env.listenAddress(host)}:${PORTS.alertmanagerCluster}`,
    cluster_advertise: `${privateIpv4}:${PORTS.alertmanagerCluster}`,
    peers: hostsRunning(t, "alertmanager").filter((h) => h.name !== host.name).map((h) => `${env.addressOf(h.name)}:${PORTS.alertmanagerCluster}`),
  };
}
