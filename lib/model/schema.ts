// JSON Schema of the topology file. It is the single source of the file's structure: the loader
// checks documents against it (lib/model/schema-check.ts) and `npm run schema` publishes it for
// editors. Semantic rules that span fields live in lib/model/rules.ts.
import { DEFAULT_INTER_REGION_RTT_MS } from "./budget";
import { OBJECTIVES_SCHEMA } from "./objectives";
import { CLOUDFLARE_PLANS, CROSS_REGION_PROMOTIONS, DATABASE_MODES, REGION_ROLES, TIERS, TIMING_PRESET_NAMES } from "./types";

export type JsonSchema = {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean;
  items?: JsonSchema;
  enum?: readonly (string | number)[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  minLength?: number;
  maxLength?: number;
  default?: unknown;
  oneOf?: JsonSchema[];
  const?: string;
};

const dnsLabel = "^[a-z][a-z0-9-]{0,30}[a-z0-9]$";
const idOrEnv = "^([0-9a-f]{32}|env:[A-Z_][A-Z0-9_]*)$";

const tierSpec = (description: string): JsonSchema => ({
  type: "object",
  description,
  additionalProperties: false,
  required: ["count"],
  properties: {
    count: { type: "integer", minimum: 0, maximum: 50, description: "Number of droplets of this tier in the region." },
    size: { type: "string", pattern: "^[a-z0-9-]+$", description: "DigitalOcean size slug (default depends on the tier)." },
    image: { type: "string", default: "debian-12-x64", description: "Droplet image; the Ansible roles target Debian 12." },
  },
});

const tierDescriptions: Record<(typeof TIERS)[number], string> = {
  app: "Web app servers behind the region's load balancer; each runs HAProxy to the current PostgreSQL primary.",
  worker: "Background workers (own systemd unit); each runs HAProxy to the current primary.",
  postgres: "Patroni + PostgreSQL nodes with a block-storage data volume.",
  redis: "Redis servers, each with a Sentinel.",
  etcd: "Dedicated etcd members (Patroni's DCS).",
  monitoring: "Prometheus + Alertmanager.",
  witness: "Small droplet in a third region: etcd member, third Sentinel and an Alertmanager peer.",
};

export const TOPOLOGY_SCHEMA: JsonSchema = {
  type: "object",
  description: "shop-multiregion topology: identity and intent only (no IP addresses, no secrets).",
  additionalProperties: false,
  required: ["project", "environment", "domain", "cloudflare", "app", "ssh", "regions"],
  properties: {
    project: { type: "string", pattern: dnsLabel, description: "Short project name, used in every resource name and tag." },
    environment: { type: "string", pattern: dnsLabel, description: "Environment name (production, staging, ...)." },
    domain: {
      type: "object",
      additionalProperties: false,
      required: ["zone", "hostname"],
      properties: {
        zone: { type: "string", minLength: 3, description: "Cloudflare zone (apex domain), e.g. example.com." },
        hostname: { type: "string", minLength: 3, description: "Shop hostname served by the Cloudflare load balancer; must be in the zone." },
      },
    },
    cloudflare: {
      type: "object",
      additionalProperties: false,
      required: ["accountId", "zoneId"],
      properties: {
        accountId: { type: "string", pattern: idOrEnv, description: "Cloudflare account id (32 hex) or env:VARIABLE." },
        zoneId: { type: "string", pattern: idOrEnv, description: "Cloudflare zone id (32 hex) or env:VARIABLE." },
        plan: { type: "string", enum: CLOUDFLARE_PLANS, default: "pro", description: "Zone plan; sets the monitor's minimum interval (60 s pro, 15 s business, 10 s enterprise)." },
        monitorIntervalSeconds: { type: "integer", minimum: 1, maximum: 3600, description: "Health monitor interval (default: the plan's minimum)." },
      },
    },
    database: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        mode: { type: "string", enum: DATABASE_MODES, default: "stretched", description: "stretched: one Patroni cluster across regions with a third-region etcd witness; standby-cluster: two regions, the secondary a Patroni standby cluster promoted by command." },
        postgresVersion: { type: "integer", default: 15, description: "PostgreSQL major version (Debian 12 ships 15)." },
        volumeSizeGb: { type: "integer", minimum: 10, maximum: 16384, default: 100, description: "Data volume per PostgreSQL node, GiB (can only grow)." },
        maximumLagOnFailoverBytes: { type: "integer", minimum: 1, default: 1048576, description: "Patroni maximum_lag_on_failover: a replica further behind is not promoted; bounds data lost on a cross-region failover." },
        synchronousMode: { type: "boolean", default: true, description: "Synchronous standby in the primary region (RPO 0 in-region); remote replicas stay asynchronous (nosync)." },
        crossRegionPromotion: { type: "string", enum: CROSS_REGION_PROMOTIONS, default: "automatic", description: "After the primary region is lost: automatic (the failover hook promotes after its confirmations) or manual (the hook confirms and alerts; an operator runs the region failover playbook)." },
      },
    },
    timing: { type: "string", enum: TIMING_PRESET_NAMES, default: "balanced", description: "Timing preset tuning Patroni, HAProxy, Sentinel, etcd and health checks together." },
    app: {
      type: "object",
      additionalProperties: false,
      required: ["repository", "version", "tlsCertificateName"],
      properties: {
        repository: { type: "string", pattern: "^(https://|git@)[^\\s]+$", description: "Git repository of the shop application." },
        version: { type: "string", pattern: "^[A-Za-z0-9._/-]+$", description: "Pinned tag or commit to deploy." },
        port: { type: "integer", minimum: 1024, maximum: 65535, default: 8080, description: "Port the app listens on (behind the load balancer)." },
        healthPath: { type: "string", pattern: "^/[^\\s]*$", default: "/healthz", description: "HTTP health path used by the DO load balancer, Cloudflare monitor and Prometheus." },
        buildCommand: { type: "string", default: "npm ci && npm run build", description: "Build command run in the checkout." },
        startCommand: { type: "string", default: "node dist/server.js", description: "Command the app's systemd unit runs." },
        workerCommand: { type: "string", default: "node dist/worker.js", description: "Command the worker's systemd unit runs." },
        tlsCertificateName: { type: "string", minLength: 1, description: "Name of a certificate already uploaded to DigitalOcean (e.g. a Cloudflare Origin CA certificate) for the load balancers' HTTPS rule." },
      },
    },
    ssh: {
      type: "object",
      additionalProperties: false,
      required: ["keys", "adminCidrs"],
      properties: {
        keys: { type: "array", minItems: 1, items: { type: "string", minLength: 1 }, description: "Names of SSH keys registered in DigitalOcean." },
        adminCidrs: { type: "array", items: { type: "string" }, description: "CIDRs allowed to SSH (never 0.0.0.0/0)." },
      },
    },
    backups: {
      type: "object",
      additionalProperties: false,
      default: {},
      properties: {
        spacesRegion: { type: "string", description: "Spaces region of the WAL/backup bucket (default: the secondary region's, so backups survive the primary region)." },
        bucket: { type: "string", pattern: "^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", description: "Bucket name (default: <project>-<environment>-pgbackrest)." },
      },
    },
    stateBackend: {
      type: "object",
      default: { type: "local" },
      oneOf: [
        {
          type: "object",
          additionalProperties: false,
          required: ["type"],
          properties: {
            type: { const: "local" },
            path: { type: "string", pattern: "^[A-Za-z0-9._-][A-Za-z0-9._/-]*$", default: "terraform-state", description: "Directory relative to the project root; each stack's state is <path>/<project>-<environment>/<stack>.tfstate." },
          },
        },
        {
          type: "object",
          additionalProperties: false,
          required: ["type", "bucket"],
          properties: {
            type: { const: "s3" },
            bucket: { type: "string", minLength: 3, description: "Spaces bucket holding Terraform state (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)." },
            region: { type: "string", default: "nyc3", description: "Spaces region of the state bucket." },
            keyPrefix: { type: "string", pattern: "^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", description: "Optional key prefix; each stack's state is [<prefix>/]<project>/<environment>/<stack>.tfstate." },
          },
        },
      ],
    },
    regions: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["slug", "role", "tiers"],
        properties: {
          slug: { type: "string", pattern: "^[a-z]{3}[0-9]$", description: "DigitalOcean region slug, e.g. nyc1." },
          role: { type: "string", enum: REGION_ROLES, description: "primary (serves and holds the database primary), secondary (serves, replicas), witness (etcd/Sentinel/Alertmanager tie-breaker)." },
          vpcRange: { type: "string", description: "RFC 1918 CIDR of the region's VPC (/16 to /24; default: the i-th /20 of a 10.n.0.0/16 picked per project and environment)." },
          tiers: {
            type: "object",
            additionalProperties: false,
            properties: Object.fromEntries(TIERS.map((t) => [t, tierSpec(tierDescriptions[t])])),
          },
        },
      },
    },
    interRegionRtt: {
      type: "object",
      additionalProperties: false,
      default: {},
      description: "Round trips between regions the failover budget counts (etcd quorum writes and reads cross them).",
      properties: {
        defaultMs: { type: "number", minimum: 0, maximum: 1000, default: DEFAULT_INTER_REGION_RTT_MS, description: "Round trip for any pair not listed, ms." },
        pairs: {
          type: "array",
          default: [],
          items: {
            type: "object",
            additionalProperties: false,
            required: ["regions", "ms"],
            properties: {
              regions: { type: "string", pattern: "^[a-z]{3}[0-9]-[a-z]{3}[0-9]$", description: "Two region slugs, e.g. nyc1-ams3." },
              ms: { type: "number", minimum: 0, maximum: 1000, description: "Measured or published round trip, ms." },
            },
          },
        },
      },
    },
    objectives: OBJECTIVES_SCHEMA,
    policyExceptions: {
      type: "array",
      default: [],
      description: "Explicit, reviewed exceptions to synth-time policy rules.",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["rule", "resource", "reason"],
        properties: {
          rule: { type: "string", pattern: "^[A-Z]+-[0-9]+$" },
          resource: { type: "string", minLength: 3, description: "Terraform address, e.g. digitalocean_firewall.fw-app." },
          reason: { type: "string", minLength: 10, description: "Why the exception is acceptable (reviewed in the pull request)." },
        },
      },
    },
  },
};
