// Static facts about DigitalOcean and Cloudflare that validation and defaults depend on.
// Kept in one table so a new region or size is a one-line change, reviewed like code.

export interface DoRegionFacts {
  /** Spaces region closest to this datacenter (Spaces is not offered in every datacenter). */
  readonly spacesRegion: string;
  /** The next-closest Spaces region, for backups when the closest is where the primary's are. */
  readonly spacesNext: string;
  /** Cloudflare load balancer check region for probes near this datacenter. */
  readonly cloudflareCheckRegion: string;
  /** Cross-datacenter VPC peering is available (DigitalOcean: everywhere except BLR1). */
  readonly peering: boolean;
}

export const DO_REGIONS: Readonly<Record<string, DoRegionFacts>> = Object.freeze({
  nyc1: { spacesRegion: "nyc3", spacesNext: "atl1", cloudflareCheckRegion: "ENAM", peering: true },
  nyc2: { spacesRegion: "nyc3", spacesNext: "atl1", cloudflareCheckRegion: "ENAM", peering: true },
  nyc3: { spacesRegion: "nyc3", spacesNext: "atl1", cloudflareCheckRegion: "ENAM", peering: true },
  tor1: { spacesRegion: "nyc3", spacesNext: "atl1", cloudflareCheckRegion: "ENAM", peering: true },
  atl1: { spacesRegion: "atl1", spacesNext: "nyc3", cloudflareCheckRegion: "ENAM", peering: true },
  sfo2: { spacesRegion: "sfo2", spacesNext: "sfo3", cloudflareCheckRegion: "WNAM", peering: true },
  sfo3: { spacesRegion: "sfo3", spacesNext: "sfo2", cloudflareCheckRegion: "WNAM", peering: true },
  ams3: { spacesRegion: "ams3", spacesNext: "fra1", cloudflareCheckRegion: "WEU", peering: true },
  lon1: { spacesRegion: "ams3", spacesNext: "fra1", cloudflareCheckRegion: "WEU", peering: true },
  fra1: { spacesRegion: "fra1", spacesNext: "ams3", cloudflareCheckRegion: "WEU", peering: true },
  sgp1: { spacesRegion: "sgp1", spacesNext: "syd1", cloudflareCheckRegion: "SEAS", peering: true },
  syd1: { spacesRegion: "syd1", spacesNext: "sgp1", cloudflareCheckRegion: "OC", peering: true },
  blr1: { spacesRegion: "blr1", spacesNext: "sgp1", cloudflareCheckRegion: "SAS", peering: false },
});

export const SPACES_REGIONS: readonly string[] = Object.freeze(["nyc3", "sfo2", "sfo3", "ams3", "fra1", "sgp1", "syd1", "blr1", "atl1"]);

const BASIC_SIZES = [
  "s-1vcpu-512mb-10gb", "s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-2gb", "s-2vcpu-4gb", "s-4vcpu-8gb",
  "s-8vcpu-16gb", "s-8vcpu-32gb",
];
const OTHER_SIZES = [
  "g-2vcpu-8gb", "g-4vcpu-16gb", "g-8vcpu-32gb", "g-16vcpu-64gb",
  "gd-2vcpu-8gb", "gd-4vcpu-16gb", "gd-8vcpu-32gb",
  "c-2", "c-4", "c-8", "c-16", "c-32",
  "m-2vcpu-16gb", "m-4vcpu-32gb", "m-8vcpu-64gb", "m-16vcpu-128gb",
  "so-2vcpu-16gb", "so-4vcpu-32gb",
];

/** Droplet size slugs accepted by validation (basic sizes also in their -amd / -intel variants). */
export const DO_SIZES: ReadonlySet<string> = new Set([
  ...BASIC_SIZES,
  ...BASIC_SIZES.filter((s) => s !== "s-1vcpu-512mb-10gb").flatMap((s) => [`${s}-amd`, `${s}-intel`]),
  ...OTHER_SIZES,
]);

/** Minimum Cloudflare load balancer monitor interval in seconds, by zone plan. */
export const CLOUDFLARE_MIN_MONITOR_INTERVAL: Readonly<Record<string, number>> = Object.freeze({
  free: 60,
  pro: 60,
  business: 15,
  enterprise: 10,
});

/** PostgreSQL majors Debian 12 ships (PGDG would add more; the Ansible roles target Debian's packages). */
export const SUPPORTED_POSTGRES_VERSIONS: readonly number[] = Object.freeze([15]);

/** Closest known value by edit distance, for "did you mean" hints. */
export function closest(value: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(value, candidate);
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(value.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}
