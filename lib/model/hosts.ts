// The derived host list: every droplet of the topology with its tier, region, services and groups.
import { hostName, regionGroup } from "./naming";
import { TIERS, type RegionRole, type Tier, type Topology } from "./types";

export const SERVICES = [
  "app", "worker", "haproxy", "patroni", "postgresql", "pgbackrest", "redis", "sentinel", "etcd",
  "prometheus", "alertmanager", "node_exporter", "postgres_exporter", "redis_exporter",
] as const;
export type Service = (typeof SERVICES)[number];

/** What runs on each tier. */
export const TIER_SERVICES: Readonly<Record<Tier, readonly Service[]>> = {
  app: ["app", "haproxy", "node_exporter"],
  worker: ["worker", "haproxy", "node_exporter"],
  postgres: ["patroni", "postgresql", "pgbackrest", "postgres_exporter", "node_exporter"],
  redis: ["redis", "sentinel", "redis_exporter", "node_exporter"],
  etcd: ["etcd", "node_exporter"],
  monitoring: ["prometheus", "alertmanager", "node_exporter"],
  witness: ["etcd", "sentinel", "alertmanager", "node_exporter"],
};

/** Ansible groups (autobase-style names) and the service that puts a host in each. */
export const SERVICE_GROUPS: ReadonlyArray<readonly [group: string, service: Service]> = [
  ["etcd_cluster", "etcd"],
  ["postgres_cluster", "patroni"],
  ["balancers", "haproxy"],
  ["redis", "redis"],
  ["sentinel", "sentinel"],
  ["app", "app"],
  ["workers", "worker"],
  ["monitoring", "prometheus"],
  ["alertmanager", "alertmanager"],
];

/** What runs on one host. Where a region loss must leave a Sentinel majority (stretched mode, or any
 * topology with a witness region, which hosts a Sentinel), a region's Redis hosts share one Sentinel
 * (on the first), so no region holds a majority of them. In a two-region standby-cluster topology no
 * placement survives losing the bigger region, and every Redis host runs one. In standby-cluster mode
 * a witness runs no etcd (each region's cluster has its own). */
export function servicesOf(t: Pick<Topology, "database" | "regions">, tier: Tier, index: number): readonly Service[] {
  const services = TIER_SERVICES[tier];
  const stretched = t.database.mode === "stretched";
  const onePerRegion = stretched || t.regions.some((r) => r.role === "witness");
  if (tier === "redis" && index > 1 && onePerRegion) return services.filter((s) => s !== "sentinel");
  if (tier === "witness" && !stretched) return services.filter((s) => s !== "etcd");
  return services;
}

export interface Host {
  readonly name: string;
  readonly region: string;
  readonly regionRole: RegionRole;
  readonly tier: Tier;
  /** 1-based position within its tier and region. */
  readonly index: number;
  readonly size: string;
  readonly image: string;
  readonly services: readonly Service[];
  /** Ansible groups, sorted. */
  readonly groups: readonly string[];
}

/** Every host, in region order then tier order then index: stable, so outputs are deterministic. */
export function hostsOf(t: Topology): readonly Host[] {
  const hosts: Host[] = [];
  for (const region of t.regions) {
    for (const tier of TIERS) {
      const spec = region.tiers[tier];
      if (!spec) continue;
      for (let i = 1; i <= spec.count; i++) {
        const services = servicesOf(t, tier, i);
        const groups = SERVICE_GROUPS.filter(([, s]) => services.includes(s)).map(([g]) => g);
        hosts.push(Object.freeze({
          name: hostName(tier, region.slug, i),
          region: region.slug,
          regionRole: region.role,
          tier,
          index: i,
          size: spec.size,
          image: spec.image,
          services,
          groups: Object.freeze([...groups, regionGroup(region.slug)].sort()),
        }));
      }
    }
  }
  return Object.freeze(hosts);
}

/** The failover hook exists where a region failover needs a decision: standby-cluster mode (promotion),
 * or stretched mode with synchronous_mode (the synchronous standby dies with the primary region). */
export function failoverHookNeeded(t: Pick<Topology, "database">): boolean {
  return t.database.mode === "standby-cluster" || t.database.synchronousMode;
}

/** The region the failover hook acts from: the first secondary (it must survive the primary region). */
export function survivingRegion(t: Pick<Topology, "regions">): string {
  const region = t.regions.find((r) => r.role === "secondary") ?? t.regions.find((r) => r.role === "primary");
  if (!region) throw new Error("topology has no region with role primary");
  return region.slug;
}

/** The host the failover hook runs on in production: the surviving region's first monitoring host
 * (undefined when the topology needs no hook, or that region has no monitoring host, which the rules
 * refuse). Every Alertmanager posts to it over the private network, so it has one address. */
export function failoverHookHostOf(t: Topology): Host | undefined {
  if (!failoverHookNeeded(t)) return undefined;
  const region = survivingRegion(t);
  return hostsOf(t).find((h) => h.region === region && h.tier === "monitoring");
}

export function hostsRunning(t: Topology, service: Service): readonly Host[] {
  return hostsOf(t).filter((h) => h.services.includes(service));
}

export function tiersRunning(service: Service): readonly Tier[] {
  return TIERS.filter((tier) => TIER_SERVICES[tier].includes(service));
}


/** Regions whose load balancer takes web traffic (primary and secondary regions with app droplets). */
export function servingRegions(t: Topology): readonly string[] {
  const ordered = [...t.regions.filter((r) => r.role === "primary"), ...t.regions.filter((r) => r.role === "secondary")];
  return ordered.filter((r) => (r.tiers.app?.count ?? 0) > 0).map((r) => r.slug);
}
