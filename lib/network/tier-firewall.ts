// One cloud firewall per tier and region, built from the model's port table: SSH from the operators'
// CIDRs, web only from the region's load balancer (and the monitoring hosts' health probe), service
// ports only from the tiers that use them (by tag in-region, by peered VPC range cross-region).
// Egress: the VPCs, plus DNS/HTTP(S)/NTP.
import { Construct } from "constructs";
import { Firewall, type FirewallInboundRule, type FirewallOutboundRule } from "../providers";
import { firewallName, inboundRulesFor, PUBLIC_EGRESS, type PortRule, type Tier, type Topology } from "../model";

export interface TierFirewallProps {
  readonly topology: Topology;
  readonly region: string;
  readonly tier: Tier;
  /** Tag that selects this tier's droplets in this region. */
  readonly targetTag: string;
  /** Tag (name or token) of each tier present in this region. */
  readonly regionTierTags: ReadonlyMap<Tier, string>;
  /** Id of this region's load balancer, when the tier takes web traffic. */
  readonly loadBalancerId?: string;
}

const ANYWHERE = ["0.0.0.0/0", "::/0"];

export class TierFirewall extends Construct {
  readonly resource: Firewall;

  constructor(scope: Construct, id: string, props: TierFirewallProps) {
    super(scope, id);
    const t = props.topology;
    const inbound = inboundRulesFor(t, props.tier, props.region).map((rule) => inboundRule(rule, props)).filter((r): r is FirewallInboundRule => r !== undefined);
    const vpcRanges = t.regions.map((r) => r.vpcRange);
    const outbound: FirewallOutboundRule[] = [
      ...PUBLIC_EGRESS.map((e) => ({ protocol: e.protocol, portRange: String(e.port), destinationAddresses: ANYWHERE })),
      { protocol: "tcp", portRange: "1-65535", destinationAddresses: vpcRanges },
      { protocol: "udp", portRange: "1-65535", destinationAddresses: vpcRanges },
      { protocol: "icmp", destinationAddresses: vpcRanges },
    ];
    this.resource = new Firewall(this, "Resource", {
      name: firewallName(t, props.tier, props.region),
      tags: [props.targetTag],
      inboundRule: inbound,
      outboundRule: outbound,
    });
    this.resource.overrideLogicalId(`fw-${props.tier}`);
  }
}

function inboundRule(rule: PortRule, props: TierFirewallProps): FirewallInboundRule | undefined {
  const base = { protocol: rule.protocol, portRange: String(rule.port) };
  if (rule.from === "admin") return { ...base, sourceAddresses: [...props.topology.ssh.adminCidrs] };
  if (rule.from === "local") return undefined;
  const sourceTiers = rule.from.tiers;
  if (rule.from.loadBalancer && !props.loadBalancerId) {
    throw new Error(`TierFirewall ${props.tier} in ${props.region}: port ${rule.port} takes web traffic but the region has no load balancer`);
  }
  const loadBalancer = rule.from.loadBalancer ? { sourceLoadBalancerUids: [props.loadBalancerId!] } : {};
  const sourceTags = sourceTiers.flatMap((tier) => props.regionTierTags.get(tier) ?? []);
  const sourceAddresses = props.topology.regions
    .filter((r) => r.slug !== props.region && sourceTiers.some((tier) => (r.tiers[tier]?.count ?? 0) > 0))
    .map((r) => r.vpcRange);
  if (sourceTags.length === 0 && sourceAddresses.length === 0 && !rule.from.loadBalancer) return undefined; // no client anywhere
  return {
    ...base,
    ...loadBalancer,
    ...(sourceTags.length ? { sourceTags: [...new Set(sourceTags)] } : {}),
    ...(sourceAddresses.length ? { sourceAddresses } : {}),
  };
}
