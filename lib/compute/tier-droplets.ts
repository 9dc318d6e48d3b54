// The droplets of one tier in one region. Logical ids are the host names, so state addresses read
// `digitalocean_droplet.pg-nyc1-1`; renaming a host destroys and recreates it.
import { Construct } from "constructs";
import { Droplet } from "../providers";
import type { Host } from "../model";
import { cloudInit } from "./cloud-init";

/** Droplet arguments whose change would force a new droplet and that only matter at creation. */
export const IGNORED_CHANGES = ["ssh_keys", "user_data"] as const;

export interface TierDropletsProps {
  /** Hosts of this tier in this region, from the model's host list. */
  readonly hosts: readonly Host[];
  readonly vpcId: string;
  /** SSH key fingerprints (tokens from the digitalocean_ssh_key data sources). */
  readonly sshKeyFingerprints: readonly string[];
  readonly sshPublicKeys: readonly string[];
  /** Tag names (or tag tokens) every droplet of the tier carries. */
  readonly tags: readonly string[];
  /**
   * Refuse `terraform destroy` / replacement (database nodes: removal goes through a runbook).
   * @default false
   */
  readonly preventDestroy?: boolean;
}

export class TierDroplets extends Construct {
  readonly droplets: ReadonlyMap<string, Droplet>;

  constructor(scope: Construct, id: string, props: TierDropletsProps) {
    super(scope, id);
    if (props.sshKeyFingerprints.length === 0) throw new Error(`TierDroplets ${id}: sshKeyFingerprints must not be empty (droplets need SSH keys)`);
    const droplets = new Map<string, Droplet>();
    for (const host of props.hosts) {
      const droplet = new Droplet(this, host.name, {
        name: host.name,
        region: host.region,
        size: host.size,
        image: host.image,
        vpcUuid: props.vpcId,
        sshKeys: [...props.sshKeyFingerprints],
        tags: [...props.tags],
        monitoring: true,
        ipv6: false,
        backups: false, // PostgreSQL is backed up by pgBackRest to Spaces; other tiers are rebuilt by Ansible
        gracefulShutdown: true,
        userData: cloudInit(host.name, props.sshPublicKeys),
        // The provider replaces a droplet when ssh_keys or user_data change; keys are rotated on the
        // running hosts by Ansible (README: rotating SSH keys), so a key change never rebuilds a host.
        lifecycle: { ignoreChanges: [...IGNORED_CHANGES], ...(props.preventDestroy ? { preventDestroy: true } : {}) },
      });
      droplet.overrideLogicalId(host.name);
      droplets.set(host.name, droplet);
    }
    this.droplets = droplets;
  }
}
