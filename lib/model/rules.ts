// Semantic validation: a table of rules evaluated together over a schema-checked, defaulted topology.
// Each message names the field, what it must be, and the value found.
import { closest, CLOUDFLARE_MIN_MONITOR_INTERVAL, DO_REGIONS, DO_SIZES, SPACES_REGIONS, SUPPORTED_POSTGRES_VERSIONS } from "./catalog";
import { primarySpacesRegion } from "./defaults";
import { failoverHookNeeded, hostsOf, survivingRegion, type Service } from "./hosts";
import { nameLimitErrors } from "./limits";
import { objectiveErrors, promotionErrors } from "./objectives";
import { portTable } from "./ports";
import { DO_RESERVED, isPrivate, overlaps, parseCidr, size, type Cidr } from "./network";
import { TIERS, type Topology } from "./types";

export interface Rule {
  readonly id: string;
  readonly check: (t: Topology) => string[];
}

const q = JSON.stringify;
const count = (t: Topology, i: number, tier: keyof Topology["regions"][number]["tiers"]) => t.regions[i].tiers[tier]?.count ?? 0;
const etcdMembers = (t: Topology, i: number) => count(t, i, "etcd") + count(t, i, "witness");

export const RULES: readonly Rule[] = [
  {
    id: "region-known",
    check: (t) => t.regions.flatMap((r, i) => DO_REGIONS[r.slug] ? [] : [
      `regions[${i}].slug must be a DigitalOcean region (${Object.keys(DO_REGIONS).join(", ")}), got ${q(r.slug)}${hint(r.slug, Object.keys(DO_REGIONS))}`,
    ]),
  },
  {
    id: "size-known",
    check: (t) => t.regions.flatMap((r, i) => TIERS.flatMap((tier) => {
      const size = r.tiers[tier]?.size;
      return size === undefined || DO_SIZES.has(size) ? [] : [
        `regions[${i}].tiers.${tier}.size must be a DigitalOcean droplet size slug (e.g. s-2vcpu-4gb), got ${q(size)}${hint(size, DO_SIZES)}`,
      ];
    })),
  },
  {
    id: "region-unique",
    check: (t) => t.regions.flatMap((r, i) => {
      const first = t.regions.findIndex((o) => o.slug === r.slug);
      return first < i ? [`regions[${i}].slug must be unique, got ${q(r.slug)} again (already regions[${first}])`] : [];
    }),
  },
  {
    id: "one-primary",
    check: (t) => {
      const primaries = t.regions.filter((r) => r.role === "primary").map((r) => r.slug);
      return primaries.length === 1 ? [] : [`regions must have exactly one region with role "primary", got ${primaries.length}${primaries.length ? ` (${primaries.join(", ")})` : ""}`];
    },
  },
  {
    id: "two-serving-regions",
    check: (t) => {
      const serving = t.regions.filter((r) => r.role !== "witness" && (r.tiers.app?.count ?? 0) > 0).map((r) => r.slug);
      return serving.length >= 2 ? [] : [
        `regions must include at least two serving regions (role primary or secondary with tiers.app.count >= 1) to survive a region loss, got ${serving.length}${serving.length ? ` (${serving.join(", ")})` : ""}`,
      ];
    },
  },
  {
    id: "app-droplets",
    check: (t) => t.regions.flatMap((r, i) => r.role !== "witness" && count(t, i, "app") < 1 ? [
      `regions[${i}].tiers.app.count must be >= 1 in a ${r.role} region (${r.slug} serves web traffic), got ${count(t, i, "app")}`,
    ] : []),
  },
  {
    id: "witness-tiers",
    check: (t) => t.regions.flatMap((r, i) => TIERS.flatMap((tier) => {
      const n = count(t, i, tier);
      if (n === 0) return [];
      if (r.role === "witness" && tier !== "witness") return [`regions[${i}].tiers.${tier} is not allowed in a witness region (${r.slug}); a witness region holds only tiers.witness`];
      if (r.role !== "witness" && tier === "witness") return [`regions[${i}].tiers.witness is only allowed in a region with role "witness", got role ${q(r.role)}`];
      return [];
    })),
  },
  {
    id: "postgres-placement",
    check: (t) => t.regions.flatMap((r, i) => {
      if (r.role === "witness") return [];
      const n = count(t, i, "postgres");
      if (r.role === "primary" && t.database.synchronousMode && n < 2) {
        return [`regions[${i}].tiers.postgres.count must be >= 2 for database.synchronousMode (an in-region synchronous standby), got ${n}; add a node or set synchronousMode: false`];
      }
      return n < 1 ? [`regions[${i}].tiers.postgres.count must be >= 1 in a ${r.role} region (it needs a database node to fail over to), got ${n}`] : [];
    }),
  },
  {
    id: "etcd-layout",
    check: (t) => {
      if (t.database.mode === "standby-cluster") {
        return t.regions.flatMap((r, i) => {
          const n = etcdMembers(t, i);
          if (r.role === "witness") return [];
          if (n === 1) {
            // One member is its region's whole DCS: losing that droplet leaves the region's Patroni
            // cluster without its leader key, and its primary demotes itself (writes stop) although every
            // database node is healthy.
            return [`regions[${i}].tiers.etcd.count must be 3 or 5 in standby-cluster mode, where each region runs its own etcd, got 1: losing that one etcd droplet stops ${r.slug}'s Patroni cluster (its primary demotes itself without its DCS); set tiers.etcd.count: 3`];
          }
          return n < 3 || n % 2 === 0
            ? [`regions[${i}].tiers.etcd.count must be odd and >= 3 (3 or 5) in standby-cluster mode, where each region runs its own etcd, got ${n}`] : [];
        });
      }
      const perRegion = t.regions.map((r, i) => ({ slug: r.slug, n: etcdMembers(t, i) })).filter((x) => x.n > 0);
      const total = perRegion.reduce((s, x) => s + x.n, 0);
      const layout = perRegion.map((x) => `${x.slug}: ${x.n}`).join(", ") || "none";
      const errors: string[] = [];
      if (perRegion.length < 3) {
        errors.push(`database.mode "stretched" needs etcd members in three regions (two regions cannot keep an etcd majority when the bigger one is lost), got ${perRegion.length} (${layout}); add a witness region with tiers.witness or use mode "standby-cluster"`);
      }
      if (total < 3 || total % 2 === 0) errors.push(`etcd member count (tiers.etcd + tiers.witness over all regions) must be odd and >= 3 (3 or 5), got ${total} (${layout})`);
      const majority = Math.floor(total / 2) + 1;
      for (const x of perRegion) {
        if (perRegion.length >= 2 && x.n >= majority) errors.push(`etcd members in ${x.slug} must be fewer than a majority (${majority} of ${total}), got ${x.n}: losing ${x.slug} would lose etcd quorum`);
      }
      return errors;
    },
  },
  {
    id: "standby-cluster-regions",
    check: (t) => {
      if (t.database.mode !== "standby-cluster") return [];
      const secondaries = t.regions.filter((r) => r.role === "secondary").length;
      return secondaries === 1 ? [] : [`database.mode "standby-cluster" needs exactly one secondary region (the standby cluster), got ${secondaries}`];
    },
  },
  {
    id: "sentinel-quorum",
    check: (t) => {
      const stretched = t.database.mode === "stretched";
      // Placement as in servicesOf (hosts.ts): one per region where a witness or stretched mode exists.
      const onePerRegion = stretched || t.regions.some((r) => r.role === "witness");
      const perRegion = t.regions.map((r, i) => ({ slug: r.slug, n: (onePerRegion ? Math.min(count(t, i, "redis"), 1) : count(t, i, "redis")) + count(t, i, "witness") })).filter((x) => x.n > 0);
      const total = perRegion.reduce((s, x) => s + x.n, 0);
      const errors: string[] = [];
      const placement = onePerRegion ? "one per region with redis hosts, one per witness host" : "one per redis host";
      if (total < 3) errors.push(`Redis Sentinels (${placement}) must number at least 3, got ${total}; add redis hosts${onePerRegion ? " in another region or a witness" : ""}`);
      const majority = Math.floor(total / 2) + 1;
      for (const x of onePerRegion ? perRegion : []) {
        if (perRegion.length >= 2 && x.n >= majority) errors.push(`Redis Sentinels in ${x.slug} must be fewer than a majority (${majority} of ${total}), got ${x.n}: losing ${x.slug} would leave no quorum to fail over`);
      }
      const minRegions = t.database.mode === "stretched" ? 3 : 2;
      if (perRegion.length < minRegions) errors.push(`Redis Sentinels must run in at least ${minRegions} regions, got ${perRegion.length} (${perRegion.map((x) => x.slug).join(", ") || "none"})`);
      const primary = t.regions.findIndex((r) => r.role === "primary");
      // Sentinel needs a majority of all Sentinels (its quorum here) to elect the one that fails over.
      const inPrimary = perRegion.find((x) => primary >= 0 && x.slug === t.regions[primary].slug)?.n ?? 0;
      if (primary >= 0 && total >= 3 && perRegion.length >= 2 && total - inPrimary < majority) {
        const slug = t.regions[primary].slug;
        errors.push(`Redis Sentinels outside the primary region ${slug} must be a majority (${majority} of ${total}) to elect a new Redis primary when ${slug} is lost, got ${total - inPrimary} (${placement}); add a witness region with tiers.witness, or move Redis hosts out of ${slug}`);
      }
      if (primary >= 0 && count(t, primary, "redis") < 1) errors.push(`regions[${primary}].tiers.redis.count must be >= 1 in the primary region, got 0`);
      return errors;
    },
  },
  {
    id: "monitoring-present",
    check: (t) => t.regions.some((r) => (r.tiers.monitoring?.count ?? 0) > 0) ? [] : ["regions must include at least one tiers.monitoring host (Prometheus + Alertmanager), got none"],
  },
  {
    id: "failover-hook-host",
    // The hook decides a region failover from the surviving region's monitoring host; without one
    // there, the playbooks would install it nowhere and no Alertmanager would survive to trigger it.
    check: (t) => {
      if (!failoverHookNeeded(t)) return [];
      const i = t.regions.findIndex((r) => r.slug === survivingRegion(t));
      if (i < 0 || (t.regions[i].tiers.monitoring?.count ?? 0) > 0) return [];
      const why = t.database.mode === "standby-cluster" ? "database.mode standby-cluster" : "database.synchronousMode true";
      return [`regions[${i}].tiers.monitoring.count must be >= 1 in the ${t.regions[i].role} region ${t.regions[i].slug}, got 0: with ${why} the failover hook runs on that region's monitoring host and must outlive the primary region; add tiers.monitoring to ${t.regions[i].slug}`];
    },
  },
  { id: "vpc-ranges", check: vpcRangeErrors },
  {
    id: "peering-available",
    check: (t) => t.regions.length < 2 ? [] : t.regions.flatMap((r, i) => DO_REGIONS[r.slug] && !DO_REGIONS[r.slug].peering ? [
      `regions[${i}].slug ${q(r.slug)} cannot be used: cross-region VPC peering is not available in ${r.slug.toUpperCase()}, and replication and etcd need private addresses; pick another region`,
    ] : []),
  },
  { id: "admin-cidrs", check: adminCidrErrors },
  { id: "names-within-limits", check: nameLimitErrors },
  { id: "app-commands", check: appCommandErrors },
  {
    id: "image-debian-12",
    check: (t) => t.regions.flatMap((r, i) => TIERS.flatMap((tier) => {
      const image = r.tiers[tier]?.image;
      return image === undefined || image === SUPPORTED_IMAGE ? [] : [
        `regions[${i}].tiers.${tier}.image must be ${q(SUPPORTED_IMAGE)} (the playbooks install Debian 12's packages: Patroni 3.0.2, PostgreSQL 15, etcd 3.4), got ${q(image)}`,
      ];
    })),
  },
  {
    id: "zone-name",
    check: (t) => ZONE_NAME.test(t.domain.zone) ? [] : [
      `domain.zone must be a domain name like example.com (lowercase labels of letters, digits and inner hyphens, at least two), got ${q(t.domain.zone)}`,
    ],
  },
  {
    id: "app-port-free",
    check: (t) => {
      // Everything else that listens on a host running the app (HAProxy, its stats, exporters, SSH).
      const appHosts = hostsOf(t).filter((h) => h.services.includes("app"));
      const taken = portTable(t).filter((r) => r.service !== "app" && (r.service === "ssh" || appHosts.some((h) => h.services.includes(r.service as Service))));
      const clash = taken.find((r) => r.port === t.app.port);
      return clash ? [`app.port must not be ${t.app.port}: ${clash.service} (${clash.name}) already listens there on the app hosts; pick another port, e.g. 8080`] : [];
    },
  },
  {
    id: "state-path-inside-project",
    check: (t) => t.stateBackend.type === "local" && t.stateBackend.path.split("/").includes("..") ? [
      `stateBackend.path must stay inside the project (no ".." segment), got ${q(t.stateBackend.path)}; use a folder like terraform-state`,
    ] : [],
  },
  {
    id: "monitor-interval",
    check: (t) => {
      const min = CLOUDFLARE_MIN_MONITOR_INTERVAL[t.cloudflare.plan];
      return t.cloudflare.monitorIntervalSeconds >= min ? [] : [
        `cloudflare.monitorIntervalSeconds must be >= ${min} on the ${t.cloudflare.plan} plan, got ${t.cloudflare.monitorIntervalSeconds}; raise it or change cloudflare.plan`,
      ];
    },
  },
  {
    id: "hostname-in-zone",
    check: (t) => {
      const { zone, hostname } = t.domain;
      return hostname === zone || hostname.endsWith(`.${zone}`) ? [] : [`domain.hostname must be inside the zone ${q(zone)} (e.g. shop.${zone}), got ${q(hostname)}`];
    },
  },
  {
    id: "postgres-version",
    check: (t) => SUPPORTED_POSTGRES_VERSIONS.includes(t.database.postgresVersion) ? [] : [
      `database.postgresVersion must be one of ${SUPPORTED_POSTGRES_VERSIONS.join(", ")} (packaged by Debian 12), got ${t.database.postgresVersion}`,
    ],
  },
  {
    id: "spaces-region",
    check: (t) => SPACES_REGIONS.includes(t.backups.spacesRegion) ? [] : [
      `backups.spacesRegion must be a Spaces region (${SPACES_REGIONS.join(", ")}), got ${q(t.backups.spacesRegion)}`,
    ],
  },
  {
    id: "backups-away-from-primary",
    check: (t) => t.backups.spacesRegion !== primarySpacesRegion(t) ? [] : [
      `backups.spacesRegion must not be ${q(t.backups.spacesRegion)}, the Spaces region of the primary region ${t.regions.find((r) => r.role === "primary")!.slug}: losing that region would take the backups with it; pick another Spaces region (e.g. ${q(DO_REGIONS[t.regions.find((r) => r.role === "primary")!.slug].spacesNext)}) or leave it out for the default`,
    ],
  },
  { id: "promotion-and-rtt", check: promotionErrors },
  { id: "objectives-met", check: objectiveErrors },
];

function hint(value: string, candidates: Iterable<string>): string {
  const c = closest(value, candidates);
  return c ? ` (did you mean ${q(c)}?)` : "";
}

function vpcRangeErrors(t: Topology): string[] {
  const errors: string[] = [];
  const parsed: Array<{ i: number; c: Cidr }> = [];
  t.regions.forEach((r, i) => {
    const field = `regions[${i}].vpcRange`;
    const c = parseCidr(r.vpcRange);
    if (typeof c === "string") return void errors.push(`${field} ${c}, got ${q(r.vpcRange)}`);
    if (!isPrivate(c)) return void errors.push(`${field} must be an RFC 1918 private range (10/8, 172.16/12, 192.168/16), got ${q(r.vpcRange)}`);
    if (c.prefix < 16 || c.prefix > 24) return void errors.push(`${field} must be between /16 and /24 (DigitalOcean VPC limits), got ${q(r.vpcRange)}`);
    const reserved = DO_RESERVED.find((d) => overlaps(d, c));
    if (reserved) return void errors.push(`${field} must not overlap DigitalOcean's reserved ${reserved.text}, got ${q(r.vpcRange)}`);
    for (const p of parsed) {
      if (overlaps(p.c, c)) errors.push(`${field} must not overlap regions[${p.i}].vpcRange ${q(p.c.text)} (peered VPCs need distinct ranges), got ${q(r.vpcRange)}`);
    }
    parsed.push({ i, c });
  });
  return errors;
}

function adminCidrErrors(t: Topology): string[] {
  if (t.ssh.adminCidrs.length === 0) return ["ssh.adminCidrs must list at least one operator CIDR allowed to SSH (e.g. your office or bastion /32), got an empty list"];
  return t.ssh.adminCidrs.flatMap((text, i) => {
    const field = `ssh.adminCidrs[${i}]`;
    if (/\/0$/.test(text)) return [`${field} must not open SSH to the whole internet, got ${q(text)}; list your office, VPN or bastion ranges`];
    if (text.includes(":")) {
      return /^[0-9a-f:]+\/(\d{1,3})$/i.test(text) && Number(text.split("/")[1]) <= 128 ? [] : [`${field} must be a CIDR like 2001:db8::/48, got ${q(text)}`];
    }
    const c = parseCidr(text);
    if (typeof c === "string") return [`${field} ${c}, got ${q(text)}`];
    return c.prefix < MIN_ADMIN_PREFIX ? [
      `${field} must be /${MIN_ADMIN_PREFIX} or narrower (a /${c.prefix} opens SSH to 1/${2 ** c.prefix} of the internet), got ${q(text)}; list your office, VPN or bastion ranges`,
    ] : [];
  }).concat(adminUnionErrors(t.ssh.adminCidrs));
}

/** Broadest IPv4 admin range accepted: anything wider is the internet in all but name. */
const MIN_ADMIN_PREFIX = 8;

/** Several ranges that together cover all of IPv4 open SSH to the internet as `/0` would. */
function adminUnionErrors(texts: readonly string[]): string[] {
  const ranges = texts.map(parseCidr).filter((c): c is Cidr => typeof c !== "string").sort((a, b) => a.base - b.base);
  let covered = 0;
  let end = 0; // first address after the merged ranges so far
  for (const c of ranges) {
    const cEnd = c.base + size(c);
    if (cEnd > end) covered += cEnd - Math.max(end, c.base);
    end = Math.max(end, cEnd);
  }
  return ranges.length > 1 && covered === 2 ** 32 ? [
    `ssh.adminCidrs together cover all of IPv4 (${ranges.map((c) => c.text).join(", ")}), which opens SSH to the whole internet as 0.0.0.0/0 would; list your office, VPN or bastion ranges`,
  ] : [];
}

/** The image the playbooks are written and rehearsed for. */
const SUPPORTED_IMAGE = "debian-12-x64";
const ZONE_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** An environment assignment in front of a command: the unit runs `exec <command>`, and sh's exec
 * cannot run `VAR=value`. */
const LEADING_ASSIGNMENT = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(\S*)\s+(.*)$/;
/** A URL carrying a password (`scheme://user:password@host`). */
const URL_PASSWORD = /[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s\/:@]+:[^\s\/@]+@/;

function appCommandErrors(t: Topology): string[] {
  const errors: string[] = [];
  for (const field of ["buildCommand", "startCommand", "workerCommand", "repository"] as const) {
    // The value is not repeated: it holds the secret.
    if (URL_PASSWORD.test(t.app[field])) errors.push(`app.${field} holds a password in a URL (user:password@…), which would land in world-readable generated files; take it out and give the app its credentials through Ansible Vault`);
  }
  for (const field of ["startCommand", "workerCommand"] as const) {
    const m = LEADING_ASSIGNMENT.exec(t.app[field]);
    if (m && !URL_PASSWORD.test(t.app[field])) {
      errors.push(`app.${field} must not begin with an environment assignment (the unit runs "exec <command>", and exec cannot run ${q(`${m[1]}=${m[2]}`)}), got ${q(t.app[field])}; write ${q(`env ${m[1]}=${m[2]} ${m[3]}`)}`);
    }
  }
  return errors;
}

export function runRules(t: Topology): string[] {
  return RULES.flatMap((r) => r.check(t));
}
