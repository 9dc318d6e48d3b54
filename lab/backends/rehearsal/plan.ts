// The rehearsal's address and name plan, a pure function of the topology: one network namespace per
// host with eth0 on the "public" side and eth1 in its region's VPC range (DigitalOcean's droplet layout),
// one bridge per region in a fabric namespace that routes between regions as VPC peering does, and an
// operator namespace (Ansible, the drills, the package mirror) on the public side with a leg in each
// VPC, as a bastion has. Every address exists only inside namespaces the rehearsal makes.
import * as path from "path";
import { hostsOf, intToIp, parseCidr, regionStackName, type Cidr, type Host, type Topology } from "../../../lib/model";

/** Prefix of every namespace, cgroup and machine name the rehearsal makes (`down` sweeps by it). */
export const PREFIX = "shoprh";
/** The public side: TEST-NET-3 (RFC 5737), only ever inside the rehearsal's fabric namespace. */
export const PUBLIC_NET = "203.0.113";
export const PUBLIC_GATEWAY = `${PUBLIC_NET}.1`;
/** The operator's machine on the public side: Ansible, the drills, the apt and git mirror. */
export const OPERATOR_ADDRESS = `${PUBLIC_NET}.2`;
export const MIRROR_URL = `https://${OPERATOR_ADDRESS}`;
/** The DigitalOcean Spaces stand-in (S3 API for pgBackRest), found by name through the operator's resolver. */
export const SPACES_ADDRESS = `${PUBLIC_NET}.3`;
export const SPACES_DOMAIN = "digitaloceanspaces.com";
/** The Cloudflare load balancer stand-in (customers' entry), on the public side; the regions' load
 * balancer stand-ins answer on each region's `loadBalancerIp` (lab/stand-ins/edge.ts). */
export const EDGE_ADDRESS = `${PUBLIC_NET}.4`;
/** Plain HTTP on both edge legs (the stand-ins model health and routing, not TLS). */
export const EDGE_PORT = 80;
const FIRST_HOST = 10;
/** Stand-ins for the regions' load balancer IPs (reserved for the edge stand-ins). */
const FIRST_LB = 200;

export interface HostPlan {
  readonly host: Host;
  readonly netns: string;
  readonly machine: string;
  readonly publicIpv4: string;
  readonly privateIpv4: string;
  readonly prefixLength: number;
  readonly regionGateway: string;
  /** Fabric-side names of the host's two veth pairs (at most 15 characters). */
  readonly vethPublic: string;
  readonly vethPrivate: string;
}

export interface RegionPlan {
  readonly slug: string;
  readonly vpc: Cidr;
  readonly bridge: string;
  readonly gateway: string;
  /** The operator's address inside this VPC (its bastion leg). */
  readonly operatorAddress: string;
  readonly operatorVeth: string;
  readonly loadBalancerIp: string;
}

export interface Plan {
  readonly fabricNs: string;
  readonly operatorNs: string;
  readonly publicBridge: string;
  readonly operatorVeth: string;
  readonly regions: readonly RegionPlan[];
  readonly hosts: readonly HostPlan[];
}

export function planOf(t: Topology): Plan {
  const regions = t.regions.map((r, i): RegionPlan => {
    const vpc = parseCidr(r.vpcRange!) as Cidr;
    const last = vpc.base + 2 ** (32 - vpc.prefix) - 2;
    return {
      slug: r.slug, vpc, bridge: `br-${i}`, gateway: intToIp(vpc.base + 1), operatorAddress: intToIp(last),
      operatorVeth: `vo${i}`, loadBalancerIp: `${PUBLIC_NET}.${FIRST_LB + i}`,
    };
  });
  const hosts = hostsOf(t);
  if (hosts.length > FIRST_LB - FIRST_HOST) throw new Error(`the rehearsal supports at most ${FIRST_LB - FIRST_HOST} hosts, the topology has ${hosts.length}`);
  const perRegion = new Map<string, number>();
  const hostPlans = hosts.map((host, i): HostPlan => {
    const region = regions.find((r) => r.slug === host.region)!;
    const n = (perRegion.get(host.region) ?? 0) + 1;
    perRegion.set(host.region, n);
    return {
      host, netns: `${PREFIX}-${host.name}`, machine: host.name,
      publicIpv4: `${PUBLIC_NET}.${FIRST_HOST + i}`, privateIpv4: intToIp(region.vpc.base + 1 + n), prefixLength: region.vpc.prefix,
      regionGateway: region.gateway, vethPublic: `vp${i}`, vethPrivate: `vv${i}`,
    };
  });
  return { fabricNs: `${PREFIX}-fabric`, operatorNs: `${PREFIX}-operator`, publicBridge: "br-pub", operatorVeth: "vop", regions, hosts: hostPlans };
}

/** The deploy outputs in the shape `cdktf deploy --outputs-file` writes: {stack: {hosts, load_balancer_ip}}. */
export function deployOutputs(plan: Plan): Record<string, unknown> {
  const out: Record<string, { hosts: Record<string, unknown>; load_balancer_ip?: string }> = {};
  for (const r of plan.regions) {
    const hosts = plan.hosts.filter((h) => h.host.region === r.slug);
    const stack: { hosts: Record<string, unknown>; load_balancer_ip?: string } = {
      hosts: Object.fromEntries(hosts.map((h) => [h.host.name, { name: h.host.name, region: r.slug, tier: h.host.tier, public_ipv4: h.publicIpv4, private_ipv4: h.privateIpv4 }])),
    };
    if (hosts.some((h) => h.host.tier === "app")) stack.load_balancer_ip = r.loadBalancerIp;
    out[regionStackName(r.slug)] = stack;
  }
  return out;
}

/** Where everything of one rehearsal lives: state, host disks, the operator's home, the caches. */
export function rehearsalPaths(root: string) {
  return {
    root,
    state: path.join(root, "state.json"),
    hosts: path.join(root, "hosts"),
    operator: path.join(root, "operator"),
    cache: path.join(root, "cache"),
    ansible: path.join(root, "ansible"),
    outputs: path.join(root, "outputs.json"),
    topology: path.join(root, "topology.yaml"),
    vault: path.join(root, "operator", "vault.yml"),
    // The deployment CA the playbooks make on the controller: pki_ca_dir's default, beside the tree
    // (<tree>/../pki), so it outlives regenerating the tree as the Vault file does.
    pki: path.join(root, "pki"),
    vaultPassword: path.join(root, "operator", "vault-password"),
    sshKey: path.join(root, "operator", ".ssh", "id_ed25519"),
    knownHosts: path.join(root, "operator", ".ssh", "known_hosts"),
    logs: path.join(root, "logs"),
  };
}
export type RehearsalPaths = ReturnType<typeof rehearsalPaths>;
