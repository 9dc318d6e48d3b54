// The rehearsal enforces the synthesized DigitalOcean cloud firewalls: every `digitalocean_firewall` of
// the region stacks, resolved to the rehearsal's addresses and rendered as one nftables table per host
// (`inet shoprh_fw`), loaded into the host's network namespace before it boots (on DigitalOcean the
// firewall exists when the droplet boots) and gone with the namespace on `down`.
//
// DigitalOcean's semantics, as mapped here:
// - a firewall applies to the droplets named by its `tags` or `droplet_ids`; several firewalls on one
//   droplet add up (the union of their rules); a droplet under no firewall passes everything;
// - inbound and outbound are default-deny for new connections; replies to an allowed connection pass
//   (stateful: conntrack's established/related), whichever side opened it;
// - `source_tags` / `destination_tags` match every droplet carrying the tag, in any region, on its
//   public and its private address alike; `*_droplet_ids` the same for the droplets named;
// - `source_load_balancer_uids`: the address the region's load balancer reaches its targets from (in the
//   rehearsal, the regional load balancer stand-in's leg in that region's VPC);
// - `*_addresses`: the CIDRs as written.
// What the rehearsal cannot prove is DigitalOcean's own behaviour (that a tag source matches a peered
// VPC's private address): README, "Security".
import { readStack } from "../../stand-ins/edge";
import * as fs from "fs";
import * as path from "path";
import { OPERATOR_ADDRESS, type Plan } from "./plan";
import { netnsExists } from "./net";
import { run, runOk } from "./sys";
import { RehearsalError } from "./errors";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The table every host's firewall lives in (the rehearsal's, beside anything the host loads itself). */
export const FIREWALL_TABLE = "shoprh_fw";

export type Protocol = "tcp" | "udp" | "icmp";

/** One rule of a synthesized firewall with its sources (or destinations) resolved to addresses. */
export interface ResolvedRule {
  /** The firewall's name, for the rule's comment. */
  readonly firewall: string;
  readonly protocol: Protocol;
  /** Inclusive port range; null: every port (ICMP, or `all`). */
  readonly ports: readonly [number, number] | null;
  /** IPv4/IPv6 addresses and CIDRs. */
  readonly addresses: readonly string[];
  /** What the synthesized rule names (tags, load balancer, CIDRs), for the comment. */
  readonly names: string;
  /** The rule names a load balancer / address ranges (sources the rehearsal's operator stands in for). */
  readonly fromLoadBalancer: boolean;
  readonly fromAddresses: boolean;
}

export interface HostFirewall {
  readonly host: string;
  /** Names of the firewalls applying to the droplet (empty: none, everything passes). */
  readonly firewalls: readonly string[];
  readonly inbound: readonly ResolvedRule[];
  readonly outbound: readonly ResolvedRule[];
}

/** Where droplets and load balancers are, in the network the firewalls are applied to. */
export interface Addressing {
  /** Every address of a droplet (public and private side), by its name. */
  readonly droplet: (name: string) => readonly string[];
  /** The address(es) a region's load balancer connects to its target droplets from. */
  readonly loadBalancer: (region: string) => readonly string[];
}

/** Extra inbound allowances that are the rehearsal's own, not DigitalOcean's (rendered in their own chain). */
export interface HarnessRule {
  readonly why: string;
  readonly from: readonly string[];
  readonly protocols: ReadonlyArray<"tcp" | "udp">;
  /** Only these ports (or ranges "N-M"); or every port but `exceptPorts`. */
  readonly ports?: readonly string[];
  readonly exceptPorts?: readonly string[];
}

interface Droplet { readonly stack: string; readonly id: string; readonly name: string; readonly tags: readonly string[] }
interface FirewallResource { readonly stack: string; readonly id: string; readonly name: string; readonly tags: readonly string[]; readonly dropletIds: readonly string[]; readonly inbound: readonly Json[]; readonly outbound: readonly Json[] }

/** The firewalls, droplets and load balancers of the synthesized stacks (cdktf.out's layout). */
export interface SynthesizedFirewalls {
  readonly droplets: readonly Droplet[];
  readonly firewalls: readonly FirewallResource[];
  /** "stack/resource id" of each load balancer -> its region. */
  readonly loadBalancers: ReadonlyMap<string, string>;
}

const ref = (kind: string, value: string, attr: string) => new RegExp(`^\\$\\{${kind}\\.([\\w-]+)\\.${attr}\\}$`).exec(value)?.[1];

/** Reads every digitalocean_firewall (with the droplets and load balancers it names) of the stacks. */
export function readFirewalls(synthDir: string): SynthesizedFirewalls {
  const dir = path.join(synthDir, "stacks");
  if (!fs.existsSync(dir)) throw new RehearsalError(`${dir}: no synthesized stacks (synthesize the topology first)`);
  const droplets: Droplet[] = [];
  const firewalls: FirewallResource[] = [];
  const loadBalancers = new Map<string, string>();
  for (const stack of fs.readdirSync(dir).sort()) {
    const json = readStack(synthDir, stack);
    const res = (json.resource ?? {}) as Json;
    const tagName = (value: string, where: string): string => {
      const id = ref("digitalocean_tag", value, "name");
      if (id === undefined) {
        if (value.includes("${")) throw new RehearsalError(`${stack}: ${where} names tag ${value}, a reference the rehearsal cannot resolve`);
        return value;
      }
      const tag = res.digitalocean_tag?.[id];
      if (!tag) throw new RehearsalError(`${stack}: ${where} names ${value}, but the stack has no digitalocean_tag ${id}`);
      return String(tag.name);
    };
    for (const [id, d] of Object.entries((res.digitalocean_droplet ?? {}) as Record<string, Json>)) {
      droplets.push({ stack, id, name: String(d.name), tags: ((d.tags ?? []) as string[]).map((x) => tagName(x, `droplet ${d.name}`)) });
    }
    for (const [id, lb] of Object.entries((res.digitalocean_loadbalancer ?? {}) as Record<string, Json>)) loadBalancers.set(`${stack}/${id}`, String(lb.region));
    for (const [id, f] of Object.entries((res.digitalocean_firewall ?? {}) as Record<string, Json>)) {
      const name = String(f.name);
      const toTags = (rule: Json, field: string) => { if (rule[field]) rule[field] = (rule[field] as string[]).map((x) => tagName(x, `firewall ${name}`)); return rule; };
      firewalls.push({
        stack, id, name, tags: ((f.tags ?? []) as string[]).map((x) => tagName(x, `firewall ${name}`)), dropletIds: (f.droplet_ids ?? []) as string[],
        inbound: ((f.inbound_rule ?? []) as Json[]).map((r) => toTags({ ...r }, "source_tags")),
        outbound: ((f.outbound_rule ?? []) as Json[]).map((r) => toTags({ ...r }, "destination_tags")),
      });
    }
  }
  return { droplets, firewalls, loadBalancers };
}

function portsOf(rule: Json, where: string): readonly [number, number] | null {
  if (rule.protocol === "icmp") return null;
  const text = rule.port_range === undefined ? "all" : String(rule.port_range);
  if (text === "all" || text === "0") return null;
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  const lo = Number(m?.[1]);
  const hi = Number(m?.[2] ?? m?.[1]);
  if (!m || lo < 1 || hi > 65535 || lo > hi) throw new RehearsalError(`${where}: port_range ${JSON.stringify(text)} is not a port, a range N-M or "all"`);
  return lo === 1 && hi === 65535 ? null : [lo, hi];
}

/** Every host's firewall: which firewalls apply to it, each rule's sources/destinations as addresses. */
export function resolveFirewalls(s: SynthesizedFirewalls, a: Addressing): HostFirewall[] {
  const dropletsOf = (stack: string, ids: readonly string[], where: string) => ids.map((value) => {
    const id = ref("digitalocean_droplet", value, "id");
    const d = id !== undefined ? s.droplets.find((x) => x.stack === stack && x.id === id) : undefined;
    if (!d) throw new RehearsalError(`${stack}: ${where} names droplet ${value}, which is not a droplet of the stack`);
    return d;
  });
  const resolve = (f: FirewallResource, rule: Json, side: "source" | "destination", index: number): ResolvedRule => {
    const where = `${f.stack}: firewall ${f.name}, ${side === "source" ? "inbound" : "outbound"} rule ${index + 1}`;
    const protocol = String(rule.protocol) as Protocol;
    if (!["tcp", "udp", "icmp"].includes(protocol)) throw new RehearsalError(`${where}: protocol ${JSON.stringify(rule.protocol)} is not tcp, udp or icmp`);
    if (rule[`${side}_kubernetes_ids`]?.length) throw new RehearsalError(`${where}: ${side}_kubernetes_ids are not supported by the rehearsal`);
    const tags = (rule[`${side}_tags`] ?? []) as string[];
    const cidrs = (rule[`${side}_addresses`] ?? []) as string[];
    const named = dropletsOf(f.stack, (rule[`${side}_droplet_ids`] ?? []) as string[], where);
    const lbs = ((rule[`${side}_load_balancer_uids`] ?? []) as string[]).map((value) => {
      const id = ref("digitalocean_loadbalancer", value, "id");
      const region = id !== undefined ? s.loadBalancers.get(`${f.stack}/${id}`) : undefined;
      if (region === undefined) throw new RehearsalError(`${where}: names load balancer ${value}, which is not a load balancer of the stack`);
      return region;
    });
    const droplets = [...s.droplets.filter((d) => d.tags.some((t) => tags.includes(t))), ...named];
    const addresses = [...new Set([...cidrs, ...droplets.flatMap((d) => a.droplet(d.name)), ...lbs.flatMap((r) => a.loadBalancer(r))])];
    const names = [
      ...(tags.length ? [`tags ${tags.join(" ")}`] : []), ...(named.length ? [`droplets ${named.map((d) => d.name).join(" ")}`] : []),
      ...lbs.map((r) => `load balancer ${r}`), ...cidrs,
    ].join(", ");
    return { firewall: f.name, protocol, ports: portsOf(rule, where), addresses, names, fromLoadBalancer: lbs.length > 0, fromAddresses: cidrs.length > 0 };
  };
  return s.droplets.map((d) => {
    const applies = s.firewalls.filter((f) => f.tags.some((t) => d.tags.includes(t)) || dropletsOf(f.stack, f.dropletIds, `firewall ${f.name}`).includes(d));
    return {
      host: d.name, firewalls: applies.map((f) => f.name),
      inbound: applies.flatMap((f) => f.inbound.map((r, i) => resolve(f, r, "source", i))),
      outbound: applies.flatMap((f) => f.outbound.map((r, i) => resolve(f, r, "destination", i))),
    };
  });
}

const isV6 = (a: string) => a.includes(":");
const comment = (text: string) => `comment "${text.replace(/["\\]/g, "").slice(0, 120)}"`;
const set = (xs: readonly (string | number)[]) => (xs.length === 1 ? String(xs[0]) : `{ ${xs.join(", ")} }`);

function ruleLines(r: ResolvedRule, dir: "saddr" | "daddr"): string[] {
  const ports = r.ports ? ` ${r.protocol} dport ${r.ports[0] === r.ports[1] ? r.ports[0] : `${r.ports[0]}-${r.ports[1]}`}` : "";
  const what = `${r.firewall}: ${r.protocol}${r.ports ? ` ${r.ports[0] === r.ports[1] ? r.ports[0] : r.ports.join("-")}` : ""} ${dir === "saddr" ? "from" : "to"} ${r.names}`;
  if (r.addresses.length === 0) return [`# ${what}: no address carries it (rule matches nothing)`];
  return ([["ip", false], ["ip6", true]] as const).flatMap(([family, v6]) => {
    const addrs = r.addresses.filter((x) => isV6(x) === v6);
    if (!addrs.length) return [];
    const proto = r.protocol === "icmp" ? ` meta l4proto ${v6 ? "ipv6-icmp" : "icmp"}` : r.ports ? "" : ` meta l4proto ${r.protocol}`;
    return [`${family} ${dir} ${set(addrs)}${proto}${ports} accept ${comment(what)}`];
  });
}

/** The host's nftables ruleset: loading it replaces the table atomically (the same text twice changes nothing). */
export function renderRuleset(f: HostFirewall, harness: readonly HarnessRule[] = []): string {
  const indent = (lines: readonly string[]) => lines.map((l) => `    ${l}`);
  const base = (hook: "input" | "output") => [
    `type filter hook ${hook} priority filter; policy ${f.firewalls.length ? "drop" : "accept"};`,
    `${hook === "input" ? "iif" : "oif"} "lo" accept ${comment("the droplet's own traffic")}`,
    `ct state established,related accept ${comment("replies to allowed connections (cloud firewalls are stateful)")}`,
  ];
  const harnessLines = harness.flatMap((h) => h.protocols.map((p) => {
    const ports = h.ports ? ` ${p} dport ${set(h.ports)}` : h.exceptPorts?.length ? ` ${p} dport != ${set(h.exceptPorts)}` : ` meta l4proto ${p}`;
    return `ip saddr ${set(h.from)}${ports} accept ${comment(`rehearsal harness, not a cloud firewall rule: ${h.why}`)}`;
  }));
  const lines = [
    `# ${f.host}: ${f.firewalls.length ? `cloud firewall${f.firewalls.length > 1 ? "s" : ""} ${f.firewalls.join(", ")}` : "no cloud firewall applies (everything passes)"}`,
    `table inet ${FIREWALL_TABLE} {}`,
    `delete table inet ${FIREWALL_TABLE}`,
    `table inet ${FIREWALL_TABLE} {`,
    ...(f.firewalls.length && harnessLines.length ? ["  chain rehearsal_harness {", ...indent(harnessLines), "  }"] : []),
    "  chain input {",
    ...indent(base("input")),
    ...(f.firewalls.length ? indent([...f.inbound.flatMap((r) => ruleLines(r, "saddr")), ...(harnessLines.length ? ["jump rehearsal_harness"] : [])]) : []),
    "  }",
    "  chain output {",
    ...indent(base("output")),
    ...(f.firewalls.length ? indent(f.outbound.flatMap((r) => ruleLines(r, "daddr"))) : []),
    "  }",
    "}",
  ];
  return lines.join("\n") + "\n";
}

/** The rehearsal's addresses: a droplet's public and private address, a load balancer's leg in its VPC. */
export function rehearsalAddressing(plan: Plan): Addressing {
  const hosts = new Map(plan.hosts.map((h) => [h.host.name, h]));
  return {
    droplet: (name) => {
      const h = hosts.get(name);
      if (!h) throw new RehearsalError(`the synthesized stacks have a droplet ${name} that the rehearsal's plan has no host for`);
      return [h.privateIpv4, h.publicIpv4];
    },
    loadBalancer: (region) => plan.regions.filter((r) => r.slug === region).map((r) => r.operatorAddress),
  };
}

/** What the drills' harness needs beyond the cloud firewall (rendered apart, in its own chain): it runs
 * in the operator's namespace, where the load balancer stand-ins and Ansible are too. It never stands
 * in for a source the firewall names: the ports the firewall opens to load balancers or address
 * ranges (web, SSH) stay the synthesized rules' alone from the VPC legs the load balancers use. */
export function rehearsalHarness(plan: Plan, f: HostFirewall): HarnessRule[] {
  const portsOfRules = (pick: (r: ResolvedRule) => boolean) =>
    [...new Set(f.inbound.filter((r) => pick(r) && r.ports).map((r) => (r.ports![0] === r.ports![1] ? `${r.ports![0]}` : r.ports!.join("-"))))].sort();
  const lbPorts = portsOfRules((r) => r.fromLoadBalancer);
  const standInPorts = portsOfRules((r) => r.fromLoadBalancer || r.fromAddresses);
  return [
    ...(lbPorts.length ? [{ why: "the drills' writer posts orders to a droplet's public address", from: [OPERATOR_ADDRESS], protocols: ["tcp" as const], ports: lbPorts }] : []),
    { why: "the drills' probes reach the servers from the operator's VPC legs (a bastion)", from: plan.regions.map((r) => r.operatorAddress), protocols: ["tcp", "udp"], exceptPorts: standInPorts },
  ];
}

/** The operator's SSH source: the rehearsal's topology copy lists it among `ssh.adminCidrs`, as a user
 * lists their office or bastion, so the synthesized SSH rule admits it as written. */
export const REHEARSAL_ADMIN_CIDR = `${OPERATOR_ADDRESS}/32`;

/** A topology document's `ssh.adminCidrs` with the rehearsal's operator added (once). */
export function withRehearsalAdmin<T extends { ssh?: { adminCidrs?: string[] } }>(doc: T): T {
  const cidrs = doc.ssh?.adminCidrs ?? [];
  return { ...doc, ssh: { ...doc.ssh, adminCidrs: cidrs.includes(REHEARSAL_ADMIN_CIDR) ? cidrs : [...cidrs, REHEARSAL_ADMIN_CIDR] } };
}

/** Every host's ruleset for the rehearsal, from the stacks synthesized into `synthDir`. */
export function rehearsalRulesets(plan: Plan, synthDir: string): Map<string, string> {
  const resolved = resolveFirewalls(readFirewalls(synthDir), rehearsalAddressing(plan));
  const names = new Set(resolved.map((f) => f.host));
  const missing = plan.hosts.filter((h) => !names.has(h.host.name)).map((h) => h.host.name);
  if (missing.length) throw new RehearsalError(`${synthDir}: no synthesized droplet for the rehearsal's hosts ${missing.join(", ")}`);
  return new Map(resolved.map((f) => [f.host, renderRuleset(f, rehearsalHarness(plan, f))]));
}

/** Loads a ruleset into a network namespace (replacing the table: safe to repeat). */
export function applyRuleset(ns: string, ruleset: string): void {
  if (!netnsExists(ns)) throw new RehearsalError(`no network namespace ${ns} to load the firewall into`);
  runOk(["ip", "netns", "exec", ns, "nft", "-f", "-"], { input: ruleset });
}

/** The firewall table in a namespace, as nft lists it (null: none). */
export function listedFirewall(ns: string): string | null {
  const r = run(["ip", "netns", "exec", ns, "nft", "list", "table", "inet", FIREWALL_TABLE]);
  return r.code === 0 ? r.stdout : null;
}
