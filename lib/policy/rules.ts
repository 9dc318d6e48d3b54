// Policy rules over synthesized Terraform JSON (REFERENCE §2). Each rule returns violations naming
// the rule id, the resource and what is wrong; the aspect fails synthesis on any that is not covered
// by an explicit exception in the topology file.
import { containsCidr, overlaps, parseCidr, PORTS } from "../model";
import { address, asArray, OPEN_SOURCES, resourcesOf, type Json, type ResourceRef, type StackJson } from "./json";

export interface Violation {
  readonly rule: string;
  readonly stack: string;
  readonly resource: string;
  readonly message: string;
}

export interface PolicyRule {
  readonly id: string;
  readonly title: string;
  readonly check: (stack: StackJson, context: PolicyContext) => Violation[];
}

export interface PolicyContext {
  /** VPC ranges of every region: the only sources internal ports may admit. */
  readonly vpcRanges: readonly string[];
}

const v = (rule: string, r: ResourceRef, message: string): Violation => ({ rule, stack: r.stack, resource: address(r), message });
const INTERNAL_PORTS = new Set<number>([...Object.values(PORTS), 9094].filter((p) => p !== PORTS.ssh));
const PUBLIC_EGRESS_PORTS = new Set(["53", "80", "443", "123"]);
const SECRET_TEXT = [/dop_v1_[a-f0-9]{64}/, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, /password\s*[:=]\s*\S/i, /secret\s*[:=]\s*\S/i];

const inbound = (fw: ResourceRef): Json[] => asArray(fw.config.inbound_rule);
const firewalls = (s: StackJson) => resourcesOf(s, "digitalocean_firewall");
const portsOf = (range: string | undefined): [number, number] => {
  const [lo, hi] = String(range ?? "").split("-").map(Number);
  return [lo, hi ?? lo];
};

export const POLICY_RULES: readonly PolicyRule[] = [
  {
    id: "FW-1", title: "no droplet firewall admits the whole internet; web reaches droplets only from the load balancer",
    check: (s) => firewalls(s).flatMap((fw) => inbound(fw).filter((r) => asArray<string>(r.source_addresses).some((a) => OPEN_SOURCES.has(a)))
      .map((r) => v("FW-1", fw, `inbound ${r.protocol} ${r.port_range ?? ""} admits ${asArray(r.source_addresses).join(", ")}; use source_load_balancer_uids for web traffic and operator CIDRs for SSH`))),
  },
  {
    id: "FW-2", title: "SSH only from operator CIDRs",
    check: (s) => firewalls(s).flatMap((fw) => inbound(fw).filter((r) => r.protocol === "tcp" && inRange(22, r.port_range))
      .filter((r) => asArray(r.source_addresses).length === 0 || asArray(r.source_tags).length > 0 || asArray(r.source_load_balancer_uids).length > 0)
      .map((r) => v("FW-2", fw, `SSH (port ${r.port_range}) must come only from operator CIDRs (source_addresses), got ${JSON.stringify(r)}`))),
  },
  {
    id: "FW-3", title: "service ports only from tags or addresses inside the VPCs; no all-port inbound rules",
    check: (s, ctx) => firewalls(s).flatMap((fw) => inbound(fw).flatMap((r) => {
      const [lo, hi] = portsOf(r.port_range);
      if (r.protocol !== "icmp" && (r.port_range === "all" || hi - lo > 0)) return [v("FW-3", fw, `inbound ${r.protocol} port_range ${r.port_range} opens a range; open single ports from the port table`)];
      if (!INTERNAL_PORTS.has(lo)) return [];
      const outside = asArray<string>(r.source_addresses).filter((a) => !withinAny(a, ctx.vpcRanges));
      return outside.length ? [v("FW-3", fw, `inbound ${r.protocol} ${lo} admits ${outside.join(", ")}, outside the VPC ranges ${ctx.vpcRanges.join(", ")}`)] : [];
    })),
  },
  {
    id: "FW-4", title: "every droplet is covered by a firewall",
    check: (s) => {
      const covered = new Set(firewalls(s).flatMap((fw) => [...asArray<string>(fw.config.tags), ...asArray<string>(fw.config.droplet_ids)]));
      return resourcesOf(s, "digitalocean_droplet").filter((d) => !asArray<string>(d.config.tags).some((tag) => covered.has(tag)) && !covered.has(`\${digitalocean_droplet.${d.id}.id}`))
        .map((d) => v("FW-4", d, "no digitalocean_firewall applies to this droplet (by tag or id)"));
    },
  },
  {
    id: "FW-5", title: "egress to the internet only for DNS, HTTP(S) and NTP",
    check: (s) => firewalls(s).flatMap((fw) => asArray<Json>(fw.config.outbound_rule)
      .filter((r) => asArray<string>(r.destination_addresses).some((a) => OPEN_SOURCES.has(a)) && !PUBLIC_EGRESS_PORTS.has(String(r.port_range)))
      .map((r) => v("FW-5", fw, `outbound ${r.protocol} ${r.port_range ?? "(all)"} to the internet; only 53, 80, 443 and 123 may leave the VPCs`))),
  },
  {
    // Issue 11 item 7: a range (a whole peered VPC above all) lets every droplet in it reach the port,
    // app hosts included; the port table says which tiers use each port, and their tags say who they are.
    id: "FW-6", title: "service ports name the tags of the tiers that use them, never an address range (a whole VPC included)",
    check: (s, ctx) => firewalls(s).flatMap((fw) => inbound(fw).flatMap((r) => {
      const [port] = portsOf(r.port_range);
      if (r.protocol === "icmp" || port === PORTS.ssh) return [];
      return asArray<string>(r.source_addresses).filter((a) => !singleAddress(a)).map((a) => {
        const what = ctx.vpcRanges.includes(a) ? "a whole VPC range" : "an address range";
        return v("FW-6", fw, `firewall ${JSON.stringify(fw.config.name)}: inbound ${r.protocol} ${r.port_range} admits ${a} (${what}); name the droplet tags of the tiers that use port ${r.port_range} (source_tags, from the port table) or single addresses (/32)`);
      });
    })),
  },
  {
    id: "DR-1", title: "droplets have SSH keys, a VPC, monitoring, and no secret in user_data",
    check: (s) => resourcesOf(s, "digitalocean_droplet").flatMap((d) => [
      ...(asArray(d.config.ssh_keys).length ? [] : [v("DR-1", d, "ssh_keys is empty")]),
      ...(d.config.vpc_uuid ? [] : [v("DR-1", d, "vpc_uuid is not set")]),
      ...(d.config.monitoring === true ? [] : [v("DR-1", d, "monitoring must be true")]),
      ...(SECRET_TEXT.some((p) => p.test(String(d.config.user_data ?? ""))) ? [v("DR-1", d, "user_data contains something that looks like a secret")] : []),
    ]),
  },
  {
    id: "LB-1", title: "plain HTTP only with a redirect to HTTPS",
    check: (s) => resourcesOf(s, "digitalocean_loadbalancer").filter((lb) => asArray<Json>(lb.config.forwarding_rule).some((r) => r.entry_protocol === "http") && lb.config.redirect_http_to_https !== true)
      .map((lb) => v("LB-1", lb, "has an http forwarding rule but redirect_http_to_https is not true")),
  },
  {
    id: "LB-2", title: "HTTPS with a certificate (or passthrough) and the STRONG cipher policy",
    check: (s) => resourcesOf(s, "digitalocean_loadbalancer").flatMap((lb) => asArray<Json>(lb.config.forwarding_rule)
      .filter((r) => ["https", "http2", "http3"].includes(r.entry_protocol)).flatMap((r) => [
        ...(r.certificate_name || r.tls_passthrough === true ? [] : [v("LB-2", lb, `forwarding rule ${r.entry_protocol}:${r.entry_port} has no certificate_name and no tls_passthrough`)]),
        ...(lb.config.tls_cipher_policy === "STRONG" ? [] : [v("LB-2", lb, `tls_cipher_policy must be "STRONG", got ${JSON.stringify(lb.config.tls_cipher_policy)}`)]),
      ])),
  },
  {
    id: "LB-3", title: "load balancers sit in the VPC and admit only an allow-list",
    check: (s) => resourcesOf(s, "digitalocean_loadbalancer").flatMap((lb) => {
      const allow = lb.config.firewall?.allow;
      return [
        ...(lb.config.vpc_uuid ? [] : [v("LB-3", lb, "vpc_uuid is not set")]),
        ...(allow === undefined || (Array.isArray(allow) && allow.length === 0) ? [v("LB-3", lb, "firewall.allow is empty: restrict it to Cloudflare's ranges")] : []),
        ...(JSON.stringify(allow ?? "").match(/\/0\b/) ? [v("LB-3", lb, `firewall.allow contains a /0 range: ${JSON.stringify(allow)}`)] : []),
      ];
    }),
  },
  {
    id: "LB-4", title: "load balancers have an HTTP health check with a path",
    check: (s) => resourcesOf(s, "digitalocean_loadbalancer").filter((lb) => !lb.config.healthcheck?.path || !["http", "https"].includes(lb.config.healthcheck?.protocol))
      .map((lb) => v("LB-4", lb, "healthcheck must use http(s) with the app's health path")),
  },
  {
    id: "SP-1", title: "Spaces buckets are private, versioned, not force-destroyed; keys are scoped",
    check: (s) => [
      ...resourcesOf(s, "digitalocean_spaces_bucket").flatMap((b) => [
        ...((b.config.acl ?? "private") === "private" ? [] : [v("SP-1", b, `acl must be private, got ${JSON.stringify(b.config.acl)}`)]),
        ...(b.config.versioning?.enabled === true ? [] : [v("SP-1", b, "versioning.enabled must be true")]),
        ...(b.config.force_destroy === true ? [v("SP-1", b, "force_destroy must be false")] : []),
      ]),
      ...resourcesOf(s, "digitalocean_spaces_key").flatMap((k) => {
        const grants = asArray<Json>(k.config.grant);
        return grants.length && grants.every((g) => g.bucket && g.permission !== "fullaccess") ? [] : [v("SP-1", k, "grant must name buckets with read or readwrite permission, not full access")];
      }),
    ],
  },
  {
    id: "CF-3", title: "pools are monitored; the load balancer is proxied with ordered pools and a fallback",
    check: (s) => [
      ...resourcesOf(s, "cloudflare_load_balancer_pool").filter((p) => !p.config.monitor).map((p) => v("CF-3", p, "pool has no monitor")),
      ...resourcesOf(s, "cloudflare_load_balancer_monitor").filter((m) => !["http", "https"].includes(m.config.type) || !m.config.path || !m.config.expected_codes)
        .map((m) => v("CF-3", m, "monitor must be http(s) with a path and expected_codes")),
      ...resourcesOf(s, "cloudflare_load_balancer").flatMap((lb) => [
        ...(lb.config.fallback_pool ? [] : [v("CF-3", lb, "fallback_pool is not set")]),
        ...(new Set(asArray(lb.config.default_pools)).size >= 2 ? [] : [v("CF-3", lb, "default_pools must list at least two distinct regional pools")]),
        ...(lb.config.proxied === true ? [] : [v("CF-3", lb, "proxied must be true")]),
      ]),
    ],
  },
  {
    id: "SEC-1", title: "no provider credentials or secrets in the synthesized JSON",
    check: (s) => {
      const found: Violation[] = [];
      for (const [type, blocks] of Object.entries((s.json.provider ?? {}) as Record<string, Json[]>)) {
        for (const block of asArray<Json>(blocks)) {
          for (const key of ["token", "api_token", "api_key", "spaces_secret_key", "api_user_service_key"]) {
            if (block[key] !== undefined) found.push({ rule: "SEC-1", stack: s.name, resource: `provider.${type}`, message: `${key} is set in the configuration; provide it through the environment` });
          }
        }
      }
      const text = JSON.stringify(s.json);
      if (/dop_v1_[a-f0-9]{64}/.test(text)) found.push({ rule: "SEC-1", stack: s.name, resource: "(stack)", message: "contains a DigitalOcean token (dop_v1_…)" });
      if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) found.push({ rule: "SEC-1", stack: s.name, resource: "(stack)", message: "contains a private key" });
      return found;
    },
  },
  {
    id: "SEC-2", title: "outputs carrying secrets are sensitive",
    check: (s) => Object.entries((s.json.output ?? {}) as Record<string, Json>)
      .filter(([, o]) => /\.(secret_key|access_key|password|private_key|token)\b/.test(JSON.stringify(o.value)) && o.sensitive !== true)
      .map(([id]) => ({ rule: "SEC-2", stack: s.name, resource: `output.${id}`, message: "carries a secret attribute but is not sensitive" })),
  },
];

/** VPC-1 spans stacks: every region's VPC range is distinct from every other's. */
export function vpcOverlaps(stacks: readonly StackJson[]): Violation[] {
  const vpcs = stacks.flatMap((s) => resourcesOf(s, "digitalocean_vpc"));
  const found: Violation[] = [];
  vpcs.forEach((a, i) => vpcs.slice(i + 1).forEach((b) => {
    const [ca, cb] = [parseCidr(String(a.config.ip_range)), parseCidr(String(b.config.ip_range))];
    if (typeof ca === "string" || typeof cb === "string") return void found.push(v("VPC-1", typeof ca === "string" ? a : b, "ip_range is not a valid CIDR"));
    if (overlaps(ca, cb)) found.push(v("VPC-1", b, `ip_range ${cb.text} overlaps ${a.stack}'s ${ca.text}; peered VPCs need distinct ranges`));
  }));
  return found;
}

function inRange(port: number, range: string | undefined): boolean {
  const [lo, hi] = portsOf(range);
  return port >= lo && port <= hi;
}

/** One IPv4 address, bare or as a /32 (IPv6: /128). */
function singleAddress(source: string): boolean {
  if (source.includes(":")) return !source.includes("/") || source.endsWith("/128");
  if (!source.includes("/")) return /^\d{1,3}(\.\d{1,3}){3}$/.test(source);
  const c = parseCidr(source);
  return typeof c !== "string" && c.prefix === 32;
}

function withinAny(source: string, ranges: readonly string[]): boolean {
  const s = parseCidr(source);
  if (typeof s === "string") return false;
  return ranges.map((r) => parseCidr(r)).some((r) => typeof r !== "string" && containsCidr(r, s));
}
