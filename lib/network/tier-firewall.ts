// One cloud firewall per tier and region, built from the model's port table: SSH from the operators'
// CIDRs, web only from the region's load balancer (and the monitoring hosts' health probe), and every
// service port only from the droplet tags of the tiers that use it, in whichever region they run.
// No service port admits an address range: not the internet, and not a whole (peered) VPC range.
//
// Why tags also cover the peered, private traffic: DigitalOcean documents that cloud firewalls act on
// both public and VPC (private) traffic, that a rule's sources may be tags whose Droplets sit in any
// combination of regions, and that VPC peering lets Droplets reach each other's private addresses as
// if in one network (no address translation), so a tag source matches a peer's private address.
// DigitalOcean does not state peered traffic explicitly, and nothing here can reach its API to prove
// it: the README ("Security") says how to check it after the first deploy and what to do if it fails.
// The tags themselves live in the network stack (lib/stacks/network-stack.ts), applied before any
// region stack: a firewall naming a tag that does not exist yet fails to apply.
// Egress: the VPCs, plus DNS/HTTP(S)/NTP.
import { Construct } from "constructs";
import { Firewall, type FirewallInboundRule, type FirewallOutboundRule } from "../providers";
import { firewallName, inboundRulesFor, PUBLIC_EGRESS, sourceTagsOf, type PortRule, type Tier, type Topology } from "../model";

export interface TierFirewallProps {
  readonly topology: Topology;
  readonly region: string;
  readonly tier: Tier;
  /** Tag that selects this tier's droplets in this region. */
  readonly targetTag: string;
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
  if (rule.from.loadBalancer && !props.loadBalancerId) {
    throw new Error(`TierFirewall ${props.tier} in ${props.region}: port ${rule.port} takes web traffic but the region has no load balancer`);
  }
  const loadBalancer = rule.from.loadBalancer ? { sourceLoadBalancerUids: [props.loadBalancerId!] } : {};
  const sourceTags = sourceTagsOf(props.topology, rule);
  if (sourceTags.length === 0 && !rule.from.loadBalancer) return undefined; // no client anywhere
  return { ...base, ...loadBalancer, ...(sourceTags.length ? { sourceTags: [...sourceTags] } : {}) };
}
