// The network stack, applied before every other: each region's VPC, the peering between every pair
// of regions, and every tier-and-region droplet tag. The region stacks take their VPC ids from here
// (cross-stack references, so cdktf deploys this stack first), so every peering exists before any
// droplet is created, and every tag exists before any firewall names it: a DigitalOcean firewall that
// names a tag which does not exist yet fails to apply, and a region's firewalls name the tags of the
// other regions' tiers too. The region stacks write tag names as the same computed names
// (`tierRegionTag`), not as cross-stack references: the plans and the JSON then read
// `shop-production-pg-nyc1` instead of a remote-state lookup, and the ordering still holds, since
// every region stack already depends on this one for its VPC.
import { Construct } from "constructs";
import { TerraformStack } from "cdktf";
import { configureBackend } from "../backend";
import { namePrefix, NETWORK_STACK_NAME, tierRegionTags, vpcName, type Topology } from "../model";
import { DigitaloceanProvider, Tag, Vpc, VpcPeering } from "../providers";

export class NetworkStack extends TerraformStack {
  /** Region slug → its VPC. */
  readonly vpcs: ReadonlyMap<string, Vpc>;
  readonly peerings: readonly VpcPeering[];
  /** Tag name → its tag, for every tier present in a region. */
  readonly tags: ReadonlyMap<string, Tag>;

  constructor(scope: Construct, t: Topology) {
    super(scope, NETWORK_STACK_NAME);
    configureBackend(this, t, NETWORK_STACK_NAME);
    // Credentials come from the environment (DIGITALOCEAN_TOKEN), never from here.
    new DigitaloceanProvider(this, "digitalocean", {});
    this.vpcs = new Map(t.regions.map((region) => {
      const vpc = new Vpc(this, `vpc-${region.slug}`, {
        name: vpcName(t, region.slug),
        region: region.slug,
        ipRange: region.vpcRange,
        description: `${t.project} ${t.environment} private network in ${region.slug}`,
      });
      vpc.overrideLogicalId(`vpc-${region.slug}`);
      return [region.slug, vpc];
    }));
    const peerings: VpcPeering[] = [];
    const slugs = t.regions.map((r) => r.slug);
    for (let i = 0; i < slugs.length; i++) {
      for (let j = i + 1; j < slugs.length; j++) {
        const [a, b] = [slugs[i], slugs[j]];
        const peering = new VpcPeering(this, `peering-${a}-${b}`, {
          name: `${namePrefix(t)}-${a}-${b}`,
          vpcIds: [this.vpcs.get(a)!.id, this.vpcs.get(b)!.id],
        });
        peering.overrideLogicalId(`peering-${a}-${b}`);
        peerings.push(peering);
      }
    }
    this.peerings = peerings;
    this.tags = new Map(tierRegionTags(t).map(({ tier, region, name }) => {
      const tag = new Tag(this, `tag-${tier}-${region}`, { name });
      tag.overrideLogicalId(`tag-${tier}-${region}`);
      return [name, tag];
    }));
  }
}
