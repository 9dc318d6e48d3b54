// The port table: which port each service listens on and who may connect; the hosts running the
// service (lib/model/hosts.ts) are the listeners.
// Firewalls are built from it and the rendered configs listen on exactly these ports.
import { failoverHookHostOf, hostsOf, tiersRunning, type Service } from "./hosts";
import { tierRegionTag } from "./naming";
import { TIERS, type Tier, type Topology } from "./types";

/** Who may connect: tiers (by their droplet tags, in every region), optionally also the region's load
 * balancer; the operators' CIDRs; or nobody from outside (`local`: bound to 127.0.0.1 only). */
export type PortSource = { readonly tiers: readonly Tier[]; readonly loadBalancer?: true } | "admin" | "local";

export interface PortRule {
  readonly name: string;
  /** "failover_hook": the one host failoverHookHostOf names (not a service of a tier). */
  readonly service: Service | "ssh" | "failover_hook";
  readonly port: number;
  readonly protocol: "tcp" | "udp";
  readonly from: PortSource;
}

const BALANCERS = tiersRunning("haproxy");

/** Fixed ports; the app port comes from the topology. */
export const PORTS = {
  ssh: 22,
  postgres: 5432,
  patroniApi: 8008,
  haproxyPrimary: 5000,
  haproxyReplicas: 5001,
  haproxyStats: 7000,
  etcdClient: 2379,
  etcdPeer: 2380,
  redis: 6379,
  sentinel: 26379,
  prometheus: 9090,
  alertmanager: 9093,
  alertmanagerCluster: 9094,
  failoverHook: 9095,
  nodeExporter: 9100,
  postgresExporter: 9187,
  redisExporter: 9121,
} as const;

export function portTable(t: Pick<Topology, "app">): readonly PortRule[] {
  const rule = (name: string, service: PortRule["service"], port: number, from: PortSource, protocol: "tcp" | "udp" = "tcp"): PortRule =>
    ({ name, service, port, protocol, from });
  return [
    rule("ssh", "ssh", PORTS.ssh, "admin"),
    // Web traffic from the load balancer; the monitoring hosts probe the health path (AppHealthFailing).
    rule("app_http", "app", t.app.port, { tiers: ["monitoring"], loadBalancer: true }),
    rule("haproxy_primary", "haproxy", PORTS.haproxyPrimary, "local"),
    rule("haproxy_replicas", "haproxy", PORTS.haproxyReplicas, "local"),
    rule("haproxy_stats", "haproxy", PORTS.haproxyStats, { tiers: ["monitoring"] }),
    rule("postgresql", "postgresql", PORTS.postgres, { tiers: ["postgres", ...BALANCERS] }),
    rule("patroni_api", "patroni", PORTS.patroniApi, { tiers: ["postgres", ...BALANCERS, "monitoring"] }),
    rule("etcd_client", "etcd", PORTS.etcdClient, { tiers: ["postgres", "etcd", "witness", "monitoring"] }),
    rule("etcd_peer", "etcd", PORTS.etcdPeer, { tiers: ["etcd", "witness"] }),
    rule("redis", "redis", PORTS.redis, { tiers: ["redis", "witness", ...BALANCERS] }),
    rule("sentinel", "sentinel", PORTS.sentinel, { tiers: ["redis", "witness", ...BALANCERS] }),
    // Only its own host queries Prometheus (rules, checks); operators tunnel through SSH.
    rule("prometheus", "prometheus", PORTS.prometheus, "local"),
    rule("alertmanager", "alertmanager", PORTS.alertmanager, { tiers: ["monitoring", "witness"] }),
    // Gossip over mutual TLS (--cluster.tls-config): memberlist's TLS transport carries its packets
    // over TCP too, so no UDP rule.
    rule("alertmanager_cluster", "alertmanager", PORTS.alertmanagerCluster, { tiers: ["monitoring", "witness"] }),
    // Every Alertmanager posts critical database alerts to the hook (HTTPS, bearer token), so the first
    // of the cluster delivers at once instead of waiting for the hook host's turn.
    rule("failover_hook", "failover_hook", PORTS.failoverHook, { tiers: tiersRunning("alertmanager") }),
    rule("node_exporter", "node_exporter", PORTS.nodeExporter, { tiers: ["monitoring"] }),
    rule("postgres_exporter", "postgres_exporter", PORTS.postgresExporter, { tiers: ["monitoring"] }),
    rule("redis_exporter", "redis_exporter", PORTS.redisExporter, { tiers: ["monitoring"] }),
  ];
}

/** Rules the firewall of a tier in a region must open: the ports its hosts' services listen on
 * (everything but loopback-only listeners), and the failover hook's on the tier and region of its host
 * (the firewall goes by tag, so every monitoring host of that region gets the rule; one listens). */
export function inboundRulesFor(t: Topology, tier: Tier, region: string): readonly PortRule[] {
  const hosts = hostsOf(t).filter((h) => h.tier === tier && h.region === region);
  const hook = failoverHookHostOf(t);
  return portTable(t).filter((r) => r.from !== "local" && (r.service === "failover_hook"
    ? hook !== undefined && hook.tier === tier && hook.region === region
    : hosts.some((h) => r.service === "ssh" || h.services.includes(r.service as Service))));
}

/** Every tier-and-region tag of the deployment (a tier present in a region), in file order: the network
 * stack creates these, the droplets carry them, and the firewalls name them as targets and sources. */
export function tierRegionTags(t: Topology): ReadonlyArray<{ readonly tier: Tier; readonly region: string; readonly name: string }> {
  return t.regions.flatMap((r) => TIERS.filter((tier) => (r.tiers[tier]?.count ?? 0) > 0).map((tier) => ({ tier, region: r.slug, name: tierRegionTag(t, tier, r.slug) })));
}

/** The droplet tags a port admits: the tags of the tiers the port table names, in every region where
 * they have hosts (the same region or across the peering alike). Empty for `admin` and `local`. */
export function sourceTagsOf(t: Topology, rule: PortRule): readonly string[] {
  if (rule.from === "admin" || rule.from === "local") return [];
  const tiers = rule.from.tiers;
  return tierRegionTags(t).filter((tag) => tiers.includes(tag.tier)).map((tag) => tag.name);
}

/** Outbound ports allowed to the whole internet (DNS, HTTP(S) for packages/git/Spaces, NTP). */
export const PUBLIC_EGRESS: ReadonlyArray<{ protocol: "tcp" | "udp"; port: number }> = [
  { protocol: "tcp", port: 53 },
  { protocol: "udp", port: 53 },
  { protocol: "tcp", port: 80 },
  { protocol: "tcp", port: 443 },
  { protocol: "udp", port: 123 },
];
