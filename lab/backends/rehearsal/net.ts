// The rehearsal's networks (see plan.ts): made with iproute2 inside namespaces the rehearsal owns, so
// nothing binds or routes on the machine's own interfaces. Deleting the namespaces removes it all.
import * as fs from "fs";
import { intToIp } from "../../../lib/model";
import { EDGE_ADDRESS, PREFIX, PUBLIC_GATEWAY, OPERATOR_ADDRESS, SPACES_ADDRESS, type HostPlan, type Plan } from "./plan";
import { run, runOk } from "./sys";

const batch = (ns: string | null, lines: readonly string[]) => runOk(["ip", ...(ns ? ["-n", ns] : []), "-batch", "-"], { input: lines.join("\n") + "\n" });

export const netnsPath = (ns: string) => `/run/netns/${ns}`;

export function netnsExists(ns: string): boolean {
  return fs.existsSync(netnsPath(ns));
}

/** Every namespace of ours, also those of an interrupted `up` that wrote no state. */
export function ourNamespaces(): string[] {
  const r = run(["ip", "netns", "list"]);
  return r.stdout.split("\n").map((l) => l.split(/\s/)[0]).filter((n) => n.startsWith(`${PREFIX}-`));
}

function addNs(ns: string): void {
  if (!netnsExists(ns)) runOk(["ip", "netns", "add", ns]);
  batch(ns, ["link set lo up"]);
}

/** The fabric (bridges, routing between VPCs) and the operator's namespace. */
export function makeFabric(plan: Plan): void {
  addNs(plan.fabricNs);
  addNs(plan.operatorNs);
  const f = plan.fabricNs;
  const lines = [`link add ${plan.publicBridge} type bridge`, `link set ${plan.publicBridge} up`, `address add ${PUBLIC_GATEWAY}/24 dev ${plan.publicBridge}`];
  for (const r of plan.regions) {
    lines.push(`link add ${r.bridge} type bridge`, `link set ${r.bridge} up`, `address add ${r.gateway}/${r.vpc.prefix} dev ${r.bridge}`);
  }
  batch(f, lines);
  // VPC peering: the fabric forwards between every pair of region bridges (and nothing to the public side).
  runOk(["ip", "netns", "exec", f, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  // The operator: a public address (Ansible's SSH, the mirror) and one leg in each VPC (a bastion).
  link(f, plan.operatorVeth, plan.operatorNs, "eth0", plan.publicBridge, `${OPERATOR_ADDRESS}/24`);
  // Stand-ins on the public side: Spaces, Cloudflare's load balancer and each region's load balancer.
  batch(plan.operatorNs, [SPACES_ADDRESS, EDGE_ADDRESS, ...plan.regions.map((r) => r.loadBalancerIp)].map((a) => `address add ${a}/24 dev eth0`));
  for (const r of plan.regions) link(f, r.operatorVeth, plan.operatorNs, `vpc-${r.slug}`.slice(0, 15), r.bridge, `${r.operatorAddress}/${r.vpc.prefix}`);
}

/** A veth pair: `fabricEnd` on `bridge` in the fabric, `inner` with `address` in `ns`. */
function link(fabric: string, fabricEnd: string, ns: string, inner: string, bridge: string, address: string | null): void {
  batch(fabric, [`link add ${fabricEnd} type veth peer name ${fabricEnd}x`, `link set ${fabricEnd}x netns ${ns}`, `link set ${fabricEnd} master ${bridge}`, `link set ${fabricEnd} up`]);
  batch(ns, [`link set ${fabricEnd}x name ${inner}`, ...(address ? [`address add ${address} dev ${inner}`, `link set ${inner} up`] : [])]);
}

/** A host's namespace with its two NICs, as the hypervisor gives a droplet: eth0 on the public side,
 * eth1 in its VPC. The host configures their addresses itself, from its NoCloud network-config. */
export function makeHostNetwork(plan: Plan, h: HostPlan): void {
  addNs(h.netns);
  const bridge = plan.regions.find((r) => r.slug === h.host.region)!.bridge;
  link(plan.fabricNs, h.vethPublic, h.netns, "eth0", plan.publicBridge, null);
  link(plan.fabricNs, h.vethPrivate, h.netns, "eth1", bridge, null);
}

/** The droplet's network metadata (cloud-init network config v1): static addresses, the default route
 * on the public side and routes to the peered VPCs through the region's VPC gateway. */
export function networkConfig(plan: Plan, h: HostPlan): string {
  const peered = plan.regions.filter((r) => r.slug !== h.host.region);
  const lines = [
    "version: 1", "config:",
    "  - type: physical", "    name: eth0", "    subnets:",
    `      - { type: static, address: ${h.publicIpv4}/24, gateway: ${PUBLIC_GATEWAY} }`,
    "  - type: physical", "    name: eth1", "    subnets:",
    `      - type: static`, `        address: ${h.privateIpv4}/${h.prefixLength}`,
    ...(peered.length ? ["        routes:", ...peered.map((r) => `          - { network: ${intToIp(r.vpc.base)}, netmask: ${netmask(r.vpc.prefix)}, gateway: ${h.regionGateway} }`)] : []),
  ];
  return lines.join("\n") + "\n";
}

function netmask(prefix: number): string {
  return intToIp(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
}

export function deleteNamespace(ns: string): void {
  if (netnsExists(ns)) run(["ip", "netns", "delete", ns]);
}
