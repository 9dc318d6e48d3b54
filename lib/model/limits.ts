// Provider limits on the names the model derives, checked at load time so that a long project or
// environment is refused with the name and the fix, not by the API halfway through an apply.
// Limits as documented (DigitalOcean API v2 reference, Spaces/S3 bucket naming):
//   Spaces bucket 3–63, droplet name = host name (DNS label, 63), volume 64 (lowercase, starts with a
//   letter), tag 255, project 175. VPC, firewall and load balancer names and Cloudflare pool names
//   have character rules but no documented length limit; their characters are fixed by `namePrefix`.
import { hostsOf } from "./hosts";
import { namePrefix, projectTag, tierRegionTag, volumeName } from "./naming";
import { TIERS, type Topology } from "./types";

export interface DerivedName {
  readonly what: string;
  readonly name: string;
  readonly limit: number;
  readonly provider: string;
  /** What the user shortens. */
  readonly from: string;
}

const PREFIX = "project + environment";

/** Every derived name that has a documented length limit. */
export function derivedNames(t: Topology): DerivedName[] {
  const names: DerivedName[] = [
    { what: "bucket name", name: t.backups.bucket, limit: 63, provider: "Spaces'", from: PREFIX },
    { what: "DigitalOcean project name", name: namePrefix(t), limit: 175, provider: "DigitalOcean's", from: PREFIX },
    { what: "tag", name: projectTag(t), limit: 255, provider: "DigitalOcean's", from: PREFIX },
  ];
  for (const r of t.regions) {
    for (const tier of TIERS) if ((r.tiers[tier]?.count ?? 0) > 0) names.push({ what: "tag", name: tierRegionTag(t, tier, r.slug), limit: 255, provider: "DigitalOcean's", from: PREFIX });
  }
  for (const h of hostsOf(t)) {
    names.push({ what: "droplet name", name: h.name, limit: 63, provider: "a DNS label's", from: "the tier count" });
    if (h.tier === "postgres") names.push({ what: "volume name", name: volumeName(h.name), limit: 64, provider: "DigitalOcean's", from: "the tier count" });
  }
  return names;
}

export function nameLimitErrors(t: Topology): string[] {
  const seen = new Set<string>();
  return derivedNames(t).flatMap((n) => {
    if (n.name.length <= n.limit || seen.has(n.name)) return [];
    seen.add(n.name);
    const fix = n.from === PREFIX ? "shorten project or environment" : `lower ${n.from}`;
    return [`${n.from} make the ${n.what} ${JSON.stringify(n.name)} ${n.name.length} characters, over ${n.provider} ${n.limit}; ${fix}`];
  });
}
