// The topology model: what the user states (identity and intent) and what the loader resolves it to.
// Everything here is plain data; renderers derive names, ports and addresses from it.

export const TIERS = ["app", "worker", "postgres", "redis", "etcd", "monitoring", "witness"] as const;
export type Tier = (typeof TIERS)[number];

export const REGION_ROLES = ["primary", "secondary", "witness"] as const;
export type RegionRole = (typeof REGION_ROLES)[number];

export const DATABASE_MODES = ["stretched", "standby-cluster"] as const;
export type DatabaseMode = (typeof DATABASE_MODES)[number];

/** What the failover budget and the objectives are per (budget.ts). */
export const FAILURE_CLASSES = ["primaryLoss", "postgresCrash", "regionLossDatabase", "regionLossEdge", "redisPrimaryLoss"] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];

export interface Objective {
  /** Worst-case seconds until writes work again. */
  readonly rtoSeconds?: number;
  /** Worst-case acknowledged bytes lost. */
  readonly rpoBytes?: number;
}

export const CROSS_REGION_PROMOTIONS = ["automatic", "manual"] as const;
export type CrossRegionPromotion = (typeof CROSS_REGION_PROMOTIONS)[number];

export const CLOUDFLARE_PLANS = ["free", "pro", "business", "enterprise"] as const;
export type CloudflarePlan = (typeof CLOUDFLARE_PLANS)[number];

/** Presets users choose in the topology file. */
export const TIMING_PRESET_NAMES = ["fast", "balanced", "wan-safe"] as const;
/** `stock` is Patroni's shipped defaults: the failover lab's baseline, not offered in the file. */
export type TimingPresetName = (typeof TIMING_PRESET_NAMES)[number] | "stock";

export interface TierSpec {
  readonly count: number;
  readonly size: string;
  readonly image: string;
}

export interface RegionSpec {
  readonly slug: string;
  readonly role: RegionRole;
  /** RFC 1918 range of the region's VPC; assigned from the automatic plan when not given. */
  readonly vpcRange: string;
  readonly tiers: Readonly<Partial<Record<Tier, TierSpec>>>;
}

export type StateBackend =
  | { readonly type: "local"; readonly path: string }
  | {
      readonly type: "s3";
      readonly bucket: string;
      readonly region: string;
      /** Optional prefix before `<project>/<environment>/`. */
      readonly keyPrefix?: string;
    };

export interface PolicyException {
  readonly rule: string;
  /** Terraform address (`type.logical_id`) the exception applies to. */
  readonly resource: string;
  readonly reason: string;
}

export interface Topology {
  readonly project: string;
  readonly environment: string;
  readonly domain: { readonly zone: string; readonly hostname: string };
  readonly cloudflare: {
    readonly accountId: string;
    readonly zoneId: string;
    readonly plan: CloudflarePlan;
    readonly monitorIntervalSeconds: number;
  };
  readonly database: {
    readonly mode: DatabaseMode;
    readonly postgresVersion: number;
    readonly volumeSizeGb: number;
    readonly maximumLagOnFailoverBytes: number;
    /** In-region synchronous standby (RPO 0 in-region); remote replicas are always `nosync`. */
    readonly synchronousMode: boolean;
    /** Who promotes another region's database after the primary region is lost: the failover hook, or
     * an operator (the hook then only confirms and alerts). */
    readonly crossRegionPromotion: CrossRegionPromotion;
  };
  readonly timing: TimingPresetName;
  readonly app: {
    readonly repository: string;
    readonly version: string;
    readonly port: number;
    readonly healthPath: string;
    readonly buildCommand: string;
    readonly startCommand: string;
    readonly workerCommand: string;
    /** Name of a certificate already uploaded to DigitalOcean (e.g. a Cloudflare Origin CA certificate). */
    readonly tlsCertificateName: string;
  };
  readonly ssh: { readonly keys: readonly string[]; readonly adminCidrs: readonly string[] };
  readonly backups: { readonly spacesRegion: string; readonly bucket: string };
  readonly stateBackend: StateBackend;
  readonly regions: readonly RegionSpec[];
  readonly policyExceptions: readonly PolicyException[];
  /** Stated round trips between regions, ms: pairs as "nyc1-ams3", others `defaultMs`. */
  readonly interRegionRtt: { readonly defaultMs: number; readonly pairs: readonly { readonly regions: string; readonly ms: number }[] };
  /** Recovery objectives per failure class, as written (defaults: objectives.ts). */
  readonly objectives: Readonly<Partial<Record<FailureClass, Objective>>>;
}
