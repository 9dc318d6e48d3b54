// The review page's Mermaid diagram: regions and their roles, tiers with counts and sizes, the
// regional load balancers, the Cloudflare pools in their failover order (read from the synthesized
// global stack), PostgreSQL replication (sync/async) and the etcd and Sentinel quorums.
import { hostsOf, hostsRunning, servingRegions, type Host, type Topology, TIERS } from "../model";
import type { Json, StackJson } from "../policy/json";
import { initialRedisPrimary, primaryRegion, sentinelQuorum } from "../../playbooks-gen/views/clusters";

export interface DiagramNode {
  readonly id: string;
  readonly label: string;
  /** Region subgraph it sits in (null: outside the regions). */
  readonly region: string | null;
}

export interface DiagramEdge {
  readonly from: string;
  readonly to: string;
  readonly label: string;
  /** Dotted: asynchronous or fallback. */
  readonly dotted: boolean;
}

export interface Diagram {
  readonly regions: ReadonlyArray<{ readonly slug: string; readonly label: string }>;
  readonly nodes: readonly DiagramNode[];
  readonly edges: readonly DiagramEdge[];
}

const id = (s: string) => s.replace(/[^A-Za-z0-9_]/g, "_");

/** Pool regions in the order the Cloudflare load balancer tries them, and its fallback. */
export function edgeOrder(global: StackJson | undefined): { order: string[]; fallback: string | null } {
  const lb = Object.values((global?.json.resource?.cloudflare_load_balancer ?? {}) as Record<string, Json>)[0];
  const region = (ref: unknown) => /cloudflare_load_balancer_pool\.pool-([a-z0-9]+)\.id/.exec(String(ref))?.[1] ?? String(ref);
  return { order: ((lb?.default_pools ?? []) as unknown[]).map(region), fallback: lb?.fallback_pool ? region(lb.fallback_pool) : null };
}

export function topologyDiagram(t: Topology, stacks: readonly StackJson[]): Diagram {
  const hosts = hostsOf(t);
  const nodes: DiagramNode[] = [];
  const edges: DiagramEdge[] = [];
  const primary = primaryRegion(t);
  const regions = t.regions.map((r) => ({ slug: r.slug, label: `${r.slug} · ${r.role} · VPC ${r.vpcRange}` }));

  const { order, fallback } = edgeOrder(stacks.find((s) => s.name === "global"));
  nodes.push({ id: "cloudflare", label: `Cloudflare LB ${t.domain.hostname}<br/>steering off, monitor every ${t.cloudflare.monitorIntervalSeconds} s`, region: null });
  for (const slug of servingRegions(t)) nodes.push({ id: `lb_${id(slug)}`, label: `load balancer ${slug}`, region: slug });
  order.forEach((slug, i) => edges.push({ from: "cloudflare", to: `lb_${id(slug)}`, label: `pool ${i + 1}${slug === fallback ? ", fallback" : ""}`, dotted: i > 0 }));

  // Stateless tiers as one node per region with a count; database and Redis hosts one by one, since
  // replication links join them.
  for (const r of t.regions) {
    for (const tier of TIERS) {
      const spec = r.tiers[tier];
      if (!spec?.count || tier === "postgres" || tier === "redis") continue;
      nodes.push({ id: `${tier}_${id(r.slug)}`, label: `${tier} ×${spec.count}<br/>${spec.size}`, region: r.slug });
      if (tier === "app") edges.push({ from: `lb_${id(r.slug)}`, to: `${tier}_${id(r.slug)}`, label: "HTTPS", dotted: false });
    }
  }
  const dbNode = (h: Host) => ({ id: id(h.name), label: `${h.name}<br/>${h.size}`, region: h.region });
  const pg = hostsRunning(t, "patroni");
  const leader = pg.find((h) => h.region === primary) ?? pg[0];
  for (const h of pg) nodes.push({ ...dbNode(h), label: `${h.name}${h === leader ? " (leader)" : ""}<br/>PostgreSQL ${t.database.postgresVersion} ${h.size}` });
  for (const h of pg) {
    if (h === leader) continue;
    const inRegion = h.region === leader.region;
    const sync = inRegion && t.database.synchronousMode;
    const label = t.database.mode === "standby-cluster" && !inRegion ? "async (standby cluster)" : sync ? "sync" : inRegion ? "async" : "async (nosync)";
    edges.push({ from: id(leader.name), to: id(h.name), label, dotted: !sync });
  }
  const redis = hostsRunning(t, "redis");
  const redisPrimary = redis.length ? initialRedisPrimary(t) : undefined;
  const isRedisPrimary = (h: Host) => h.name === redisPrimary?.name;
  for (const h of redis) nodes.push({ ...dbNode(h), label: `${h.name}${isRedisPrimary(h) ? " (primary)" : ""}<br/>Redis${h.services.includes("sentinel") ? " + Sentinel" : ""} ${h.size}` });
  for (const h of redis) if (redisPrimary && !isRedisPrimary(h)) edges.push({ from: id(redisPrimary.name), to: id(h.name), label: "async", dotted: true });

  const etcd = hosts.filter((h) => h.services.includes("etcd"));
  const clusters = t.database.mode === "stretched" ? [etcd] : t.regions.map((r) => etcd.filter((h) => h.region === r.slug)).filter((c) => c.length);
  clusters.forEach((members, i) => {
    const n = members.length;
    nodes.push({ id: `etcd_quorum_${i}`, label: `etcd quorum ${Math.floor(n / 2) + 1} of ${n}<br/>${members.map((h) => h.name).join(", ")}`, region: null });
  });
  const sentinels = hostsRunning(t, "sentinel");
  nodes.push({ id: "sentinel_quorum", label: `Sentinel quorum ${sentinelQuorum(t)} of ${sentinels.length}<br/>${sentinels.map((h) => h.name).join(", ")}`, region: null });
  return { regions, nodes, edges };
}

export function renderMermaid(d: Diagram): string {
  const q = (s: string) => `"${s.replace(/"/g, "'")}"`;
  const lines = ["flowchart TB"];
  for (const n of d.nodes.filter((x) => x.region === null)) lines.push(`  ${n.id}[${q(n.label)}]`);
  for (const r of d.regions) {
    lines.push(`  subgraph ${id(r.slug)}[${q(r.label)}]`);
    for (const n of d.nodes.filter((x) => x.region === r.slug)) lines.push(`    ${n.id}[${q(n.label)}]`);
    lines.push("  end");
  }
  for (const e of d.edges) lines.push(`  ${e.from} ${e.dotted ? "-.->" : "-->"}|${q(e.label)}| ${e.to}`);
  return lines.join("\n");
}
