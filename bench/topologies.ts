// Generated topologies for the synthesis benchmark: N regions (one primary, a witness, the rest
// secondaries), each serving region with the example's tiers, keeping etcd odd and minority-per-region.
import * as yaml from "js-yaml";

const SLUGS = ["nyc1", "ams3", "lon1", "fra1", "sfo3", "sgp1", "tor1", "syd1", "nyc3", "sfo2", "atl1", "nyc2"];

export function generatedTopology(regions: number): string {
  if (regions < 3 || regions > SLUGS.length) throw new Error(`regions must be 3..${SLUGS.length}, got ${regions}`);
  const slugs = SLUGS.slice(0, regions);
  const serving = slugs.slice(0, regions - 1);
  const etcdRegions = serving.length % 2 === 0 ? serving.length : serving.length - 1; // + witness = odd
  const doc = {
    project: "bench",
    environment: "production",
    domain: { zone: "example.com", hostname: "shop.example.com" },
    cloudflare: { accountId: "0".repeat(32), zoneId: "f".repeat(32), plan: "business" },
    app: { repository: "https://github.com/example/shop.git", version: "v1.0.0", tlsCertificateName: "shop-origin" },
    ssh: { keys: ["ops"], adminCidrs: ["198.51.100.0/24"] },
    regions: [
      ...serving.map((slug, i) => ({
        slug,
        role: i === 0 ? "primary" : "secondary",
        tiers: {
          app: { count: 2 }, worker: { count: 1 }, postgres: { count: i === 0 ? 2 : 1 }, redis: { count: 1 },
          ...(i < etcdRegions ? { etcd: { count: 1 } } : {}), monitoring: { count: 1 },
        },
      })),
      { slug: slugs[regions - 1], role: "witness", tiers: { witness: { count: 1 } } },
    ],
  };
  return yaml.dump(doc, { sortKeys: false, lineWidth: -1 });
}
