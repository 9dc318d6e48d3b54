// Defaults that depend on other fields (simple ones are `default`s in the schema).
import { CLOUDFLARE_MIN_MONITOR_INTERVAL, DO_REGIONS } from "./catalog";
import { autoVpcRange } from "./network";
import type { Tier, Topology } from "./types";

export const TIER_DEFAULT_SIZE: Readonly<Record<Tier, string>> = {
  app: "s-2vcpu-4gb",
  worker: "s-2vcpu-2gb",
  postgres: "s-4vcpu-8gb",
  redis: "s-1vcpu-2gb",
  etcd: "s-1vcpu-2gb",
  monitoring: "s-2vcpu-4gb",
  witness: "s-1vcpu-1gb",
};

type Loose = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Fills context-dependent defaults on a schema-checked document (mutates and returns it). */
export function applyDefaults(doc: Loose): Topology {
  doc.cloudflare.monitorIntervalSeconds ??= CLOUDFLARE_MIN_MONITOR_INTERVAL[doc.cloudflare.plan] ?? 60;
  (doc.regions as Loose[]).forEach((region, i) => {
    region.vpcRange ??= autoVpcRange(doc.project, doc.environment, i);
    for (const [tier, spec] of Object.entries(region.tiers as Record<string, Loose>)) {
      spec.size ??= TIER_DEFAULT_SIZE[tier as Tier];
    }
  });
  // Backups go to the secondary region's Spaces, or the next-closest when that is the primary's own
  // (e.g. nyc1 + tor1 both map to nyc3): a region loss must not take the backups with it.
  const secondary = DO_REGIONS[((doc.regions as Loose[]).find((r) => r.role === "secondary") ?? doc.regions[0])?.slug];
  const primarySpaces = primarySpacesRegion(doc as Topology);
  doc.backups.spacesRegion ??= !secondary ? "nyc3" : secondary.spacesRegion !== primarySpaces ? secondary.spacesRegion : secondary.spacesNext;
  doc.backups.bucket ??= `${doc.project}-${doc.environment}-pgbackrest`;
  return doc as Topology;
}

/** The Spaces region nearest the primary region (undefined for an unknown or missing primary). */
export function primarySpacesRegion(t: Pick<Topology, "regions">): string | undefined {
  return DO_REGIONS[t.regions.find((r) => r.role === "primary")?.slug ?? ""]?.spacesRegion;
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
