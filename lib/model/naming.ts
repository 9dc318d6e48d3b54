// Names are pure functions of the model: the droplet `pg-nyc1-1` in Terraform is `pg-nyc1-1` in the
// inventory, /etc/hosts and every rendered config.
import type { Tier, Topology } from "./types";

const TIER_SHORT: Readonly<Record<Tier, string>> = {
  app: "app",
  worker: "worker",
  postgres: "pg",
  redis: "redis",
  etcd: "etcd",
  monitoring: "mon",
  witness: "witness",
};

/** The unprivileged user cloud-init creates on every droplet (SSH keys, passwordless sudo); Ansible
 * connects as it, since root SSH login is disabled. */
export const DEPLOY_USER = "deploy";

/** Droplet name and host name, e.g. `pg-nyc1-1` (index is 1-based). */
export function hostName(tier: Tier, region: string, index: number): string {
  return `${TIER_SHORT[tier]}-${region}-${index}`;
}

/** Prefix of every tag and global resource name, e.g. `shop-production`. */
export function namePrefix(t: Pick<Topology, "project" | "environment">): string {
  return `${t.project}-${t.environment}`;
}

/** Tag on every droplet of the deployment. */
export function projectTag(t: Pick<Topology, "project" | "environment">): string {
  return namePrefix(t);
}

/** Tag on every droplet of one tier in one region: firewalls and load balancers target these. */
export function tierRegionTag(t: Pick<Topology, "project" | "environment">, tier: Tier, region: string): string {
  return `${namePrefix(t)}-${TIER_SHORT[tier]}-${region}`;
}

export function regionStackName(region: string): string {
  return `region-${region}`;
}

export const GLOBAL_STACK_NAME = "global";
/** VPCs and their peerings: applied before the region stacks (README: deploying for real). */
export const NETWORK_STACK_NAME = "network";

export function vpcName(t: Pick<Topology, "project" | "environment">, region: string): string {
  return `${namePrefix(t)}-${region}`;
}

export function loadBalancerName(t: Pick<Topology, "project" | "environment">, region: string): string {
  return `${namePrefix(t)}-${region}-lb`;
}

export function firewallName(t: Pick<Topology, "project" | "environment">, tier: Tier, region: string): string {
  return `${namePrefix(t)}-${TIER_SHORT[tier]}-${region}`;
}

export function volumeName(host: string): string {
  return `${host}-pgdata`;
}

export function poolName(t: Pick<Topology, "project" | "environment">, region: string): string {
  return `${namePrefix(t)}-${region}`.replace(/[^A-Za-z0-9_-]/g, "-");
}

/** Ansible group of the hosts of one region. */
export function regionGroup(region: string): string {
  return `region_${region}`;
}

/** Patroni scope (cluster name); in standby-cluster mode each region has its own. */
export function patroniScope(t: Topology, region?: string): string {
  return t.database.mode === "standby-cluster" && region ? `${namePrefix(t)}-${region}` : namePrefix(t);
}
