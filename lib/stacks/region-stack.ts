// One stack per region: applying or destroying a region never touches another region's state.
// Droplets per tier, PostgreSQL volumes, a firewall per tier, the load balancer, and the outputs the
// Ansible generator reads (lib/model/outputs.ts). The tier tags live in the network stack.
import { Construct } from "constructs";
import { TerraformOutput, TerraformStack } from "cdktf";
import { configureBackend } from "../backend";
import { TierDroplets } from "../compute/tier-droplets";
import { PostgresVolumes } from "../data/postgres-volumes";
import { RegionalLoadBalancer } from "../edge/regional-load-balancer";
import {
  hostsOf, OUTPUT_HOSTS, OUTPUT_LOAD_BALANCER_IP, projectTag, regionStackName, tierRegionTag, TIERS,
  type RegionSpec, type Tier, type Topology,
} from "../model";
import { TierFirewall } from "../network/tier-firewall";
import { CloudflareProvider, DataDigitaloceanSshKey, DigitaloceanProvider, Droplet, Loadbalancer, Volume, type Vpc } from "../providers";
import type { NetworkStack } from "./network-stack";

export class RegionStack extends TerraformStack {
  readonly region: RegionSpec;
  readonly vpc: Vpc;
  readonly droplets: ReadonlyMap<string, Droplet>;
  readonly volumes: ReadonlyMap<string, Volume>;
  readonly loadBalancer?: Loadbalancer;

  constructor(scope: Construct, t: Topology, region: RegionSpec, network: NetworkStack) {
    const name = regionStackName(region.slug);
    super(scope, name);
    this.region = region;
    configureBackend(this, t, name);
    // Credentials come from the environment (DIGITALOCEAN_TOKEN, CLOUDFLARE_API_TOKEN), never from here.
    new DigitaloceanProvider(this, "digitalocean", {});
    new CloudflareProvider(this, "cloudflare", {});

    // The VPC and its peerings come from the network stack: the reference makes cdktf apply that
    // stack first, so the droplets below never exist before the peerings they need.
    this.vpc = network.vpcs.get(region.slug)!;
    const keys = t.ssh.keys.map((key) => new DataDigitaloceanSshKey(this, `ssh-key-${key}`, { name: key }));

    const tiers = TIERS.filter((tier) => (region.tiers[tier]?.count ?? 0) > 0);
    // The tags exist already: the network stack makes them (applied first, as the VPC reference above
    // makes cdktf do). Same computed names, so plans show the names themselves.
    const tags = new Map<Tier, string>(tiers.map((tier) => [tier, tierRegionTag(t, tier, region.slug)]));
    for (const name of tags.values()) if (!network.tags.has(name)) throw new Error(`RegionStack ${this.node.id}: tag ${name} is not created by the network stack`);
    this.addDependency(network); // explicit, whatever else this stack reads from the network stack
    const hosts = hostsOf(t).filter((h) => h.region === region.slug);
    const droplets = new Map<string, Droplet>();
    for (const tier of tiers) {
      const group = new TierDroplets(this, tier, {
        hosts: hosts.filter((h) => h.tier === tier),
        vpcId: this.vpc.id,
        sshKeyFingerprints: keys.map((k) => k.fingerprint),
        sshPublicKeys: keys.map((k) => k.publicKey),
        tags: [projectTag(t), tags.get(tier)!],
        preventDestroy: tier === "postgres",
      });
      group.droplets.forEach((d, n) => droplets.set(n, d));
    }
    this.droplets = droplets;

    const pgDroplets = new Map([...droplets].filter(([n]) => hosts.find((h) => h.name === n)?.tier === "postgres"));
    this.volumes = new PostgresVolumes(this, "postgres-volumes", { region: region.slug, droplets: pgDroplets, sizeGb: t.database.volumeSizeGb }).volumes;

    if (tags.has("app")) {
      this.loadBalancer = new RegionalLoadBalancer(this, "load-balancer", { topology: t, region: region.slug, vpcId: this.vpc.id, targetTag: tags.get("app")! }).resource;
    }
    for (const tier of tiers) {
      new TierFirewall(this, `firewall-${tier}`, {
        topology: t,
        region: region.slug,
        tier,
        targetTag: tags.get(tier)!,
        loadBalancerId: this.loadBalancer?.id,
      });
    }

    new TerraformOutput(this, OUTPUT_HOSTS, {
      description: "Hosts of this region: name, region, tier, public and private IPv4 (read by `npm run generate`).",
      value: Object.fromEntries(hosts.map((h) => [h.name, {
        name: h.name,
        region: h.region,
        tier: h.tier,
        public_ipv4: droplets.get(h.name)!.ipv4Address,
        private_ipv4: droplets.get(h.name)!.ipv4AddressPrivate,
      }])),
    });
    if (this.loadBalancer) {
      new TerraformOutput(this, OUTPUT_LOAD_BALANCER_IP, { description: "Public IP of the region's load balancer (Cloudflare pool origin).", value: this.loadBalancer.ip });
    }
  }
}
