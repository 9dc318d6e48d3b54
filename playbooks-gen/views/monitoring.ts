// Views for the monitoring configs: what Prometheus scrapes and where Alertmanager sends alerts.
import { hostsOf, hostsRunning, type Host, type Service } from "../../lib/model/hosts";
import { namePrefix } from "../../lib/model/naming";
import { PORTS } from "../../lib/model/ports";
import { presetOf } from "../../lib/model/timing";
import type { Topology } from "../../lib/model/types";
import type { RenderEnv } from "../render-env";
import { FAILOVER_HOOK_LISTEN, failoverHookNeeded } from "./failover";

export const PROMETHEUS_RULES_DIR = "/etc/prometheus/rules";
export const BLACKBOX_ADDRESS = "127.0.0.1:9115";
/** Where Alertmanager posts critical database alerts: the failover hook beside it (see views/failover.ts). */
export const FAILOVER_WEBHOOK_URL = `http://${FAILOVER_HOOK_LISTEN}/failover`;

/** Targets grouped by region, so alerts can say which region went dark. */
function byRegion(t: Topology, hosts: readonly Host[], target: (h: Host) => string) {
  return t.regions.map((r) => ({ region: r.slug, targets: hosts.filter((h) => h.region === r.slug).map(target) })).filter((g) => g.targets.length > 0);
}

export function prometheusView(t: Topology, env: RenderEnv) {
  const targets = (service: Service, port: number) => byRegion(t, hostsRunning(t, service), (h) => `${env.addressOf(h.name)}:${port}`);
  return {
    deployment: namePrefix(t),
    alertmanagers: hostsRunning(t, "alertmanager").map((h) => `${env.addressOf(h.name)}:${PORTS.alertmanager}`),
    rules_glob: `${PROMETHEUS_RULES_DIR}/*.yml`,
    jobs: [
      { name: "node", metrics_path: null, groups: byRegion(t, hostsOf(t), (h) => `${env.addressOf(h.name)}:${PORTS.nodeExporter}`) },
      { name: "patroni", metrics_path: "/metrics", groups: targets("patroni", PORTS.patroniApi) },
      { name: "postgres", metrics_path: null, groups: targets("postgres_exporter", PORTS.postgresExporter) },
      { name: "etcd", metrics_path: null, groups: targets("etcd", PORTS.etcdClient) },
      { name: "redis", metrics_path: null, groups: targets("redis_exporter", PORTS.redisExporter) },
      { name: "haproxy", metrics_path: "/metrics", groups: targets("haproxy", PORTS.haproxyStats) },
    ],
    app_health: byRegion(t, hostsRunning(t, "app"), (h) => `http://${env.addressOf(h.name)}:${t.app.port}${t.app.healthPath}`),
    blackbox_address: BLACKBOX_ADDRESS,
  };
}

export function alertRulesView(t: Topology) {
  const { patroni } = presetOf(t);
  return {
    // Longer than one TTL, so a normal failover (leader key expiry, then promotion) does not page.
    no_leader_for: `${patroni.ttl * 2}s`,
    max_lag_bytes: t.database.maximumLagOnFailoverBytes,
  };
}

export function alertmanagerView(t: Topology) {
  return { failover_webhook_url: failoverHookNeeded(t) ? FAILOVER_WEBHOOK_URL : null };
}

export function alertmanagerArgsView(t: Topology, host: Host, env: RenderEnv) {
  return {
    cluster_listen: `${env.listenAddress(host)}:${PORTS.alertmanagerCluster}`,
    peers: hostsRunning(t, "alertmanager").filter((h) => h.name !== host.name).map((h) => `${env.addressOf(h.name)}:${PORTS.alertmanagerCluster}`),
  };
}
