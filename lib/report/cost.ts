// The monthly cost of what the stacks create, per region and in total, from the dated price table.
import type { Topology } from "../model";
import { resourcesOf, type StackJson } from "../policy/json";
import { PRICES, type PriceTable } from "./prices";

export interface CostLine {
  readonly item: string;
  readonly quantity: number;
  /** USD per month for the line; null when the table has no price for it. */
  readonly monthly: number | null;
}

export interface RegionCost {
  /** A region slug, or "global" (Spaces, Cloudflare). */
  readonly region: string;
  readonly lines: readonly CostLine[];
  readonly monthly: number;
  /** Items without a price (their cost is missing from `monthly`). */
  readonly unpriced: readonly string[];
}

export interface CostReport {
  readonly asOf: string;
  readonly sources: readonly string[];
  readonly regions: readonly RegionCost[];
  readonly monthly: number;
  readonly unpriced: readonly string[];
}

const cents = (n: number) => Math.round(n * 100) / 100;

function regionCost(region: string, lines: CostLine[]): RegionCost {
  const unpriced = lines.filter((l) => l.monthly === null).map((l) => l.item);
  return { region, lines, monthly: cents(lines.reduce((a, l) => a + (l.monthly ?? 0), 0)), unpriced };
}

export function monthlyCost(t: Topology, stacks: readonly StackJson[], prices: PriceTable = PRICES): CostReport {
  const regions: RegionCost[] = [];
  // Regions in topology order (primary first), then what is global.
  const order = (name: string) => t.regions.findIndex((r) => `region-${r.slug}` === name);
  for (const s of stacks.filter((x) => order(x.name) >= 0).sort((a, b) => order(a.name) - order(b.name))) {
    const bySize = new Map<string, number>();
    for (const d of resourcesOf(s, "digitalocean_droplet")) bySize.set(String(d.config.size), (bySize.get(String(d.config.size)) ?? 0) + 1);
    const lines: CostLine[] = [...bySize].sort(([a], [b]) => a.localeCompare(b)).map(([size, n]) => {
      const each = prices.droplets[size];
      return { item: `droplet ${size}`, quantity: n, monthly: each === undefined ? null : cents(each * n) };
    });
    const gib = resourcesOf(s, "digitalocean_volume").reduce((a, v) => a + Number(v.config.size ?? 0), 0);
    if (gib) lines.push({ item: "volumes (GiB)", quantity: gib, monthly: cents(gib * prices.volumePerGibMonth) });
    const nodes = resourcesOf(s, "digitalocean_loadbalancer").reduce((a, lb) => a + Number(lb.config.size_unit ?? 1), 0);
    if (nodes) lines.push({ item: "load balancer nodes", quantity: nodes, monthly: cents(nodes * prices.loadBalancerPerNode) });
    regions.push(regionCost(s.name.slice("region-".length), lines));
  }
  const global: CostLine[] = [];
  const buckets = stacks.flatMap((s) => resourcesOf(s, "digitalocean_spaces_bucket")).length;
  if (buckets) global.push({ item: "Spaces subscription (all buckets)", quantity: buckets, monthly: prices.spacesSubscription });
  const origins = stacks.flatMap((s) => resourcesOf(s, "cloudflare_load_balancer_pool")).reduce((a, p) => a + (Array.isArray(p.config.origins) ? p.config.origins.length : 1), 0);
  if (origins) {
    const extra = Math.max(0, origins - prices.cloudflareLbIncludedOrigins);
    global.push({ item: "Cloudflare Load Balancing (origins)", quantity: origins, monthly: prices.cloudflareLoadBalancing + extra * prices.cloudflareLbPerExtraOrigin });
  }
  const plan = prices.cloudflarePlan[t.cloudflare.plan];
  global.push({ item: `Cloudflare ${t.cloudflare.plan} plan (the zone's, if it serves only this shop)`, quantity: 1, monthly: plan ?? null });
  regions.push(regionCost("global", global));
  return {
    asOf: prices.asOf, sources: prices.sources, regions,
    monthly: cents(regions.reduce((a, r) => a + r.monthly, 0)), unpriced: regions.flatMap((r) => r.unpriced),
  };
}
