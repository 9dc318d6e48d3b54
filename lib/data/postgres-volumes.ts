// A block-storage volume per PostgreSQL node for PGDATA. Volumes refuse destruction: losing a
// database node's data is a runbook decision, never a side effect of a plan.
import { Construct } from "constructs";
import { Token } from "cdktf";
import { Droplet, Volume, VolumeAttachment } from "../providers";
import { volumeName } from "../model";

export interface PostgresVolumesProps {
  readonly region: string;
  /** Database droplets by host name. */
  readonly droplets: ReadonlyMap<string, Droplet>;
  /** Size in GiB (volumes can only grow). */
  readonly sizeGb: number;
}

export class PostgresVolumes extends Construct {
  readonly volumes: ReadonlyMap<string, Volume>;

  constructor(scope: Construct, id: string, props: PostgresVolumesProps) {
    super(scope, id);
    const volumes = new Map<string, Volume>();
    for (const [host, droplet] of props.droplets) {
      const volume = new Volume(this, `${host}-volume`, {
        name: volumeName(host),
        region: props.region,
        size: props.sizeGb,
        initialFilesystemType: "ext4",
        initialFilesystemLabel: "pgdata",
        description: `PostgreSQL data of ${host}`,
        lifecycle: { preventDestroy: true },
      });
      volume.overrideLogicalId(volumeName(host));
      const attachment = new VolumeAttachment(this, `${host}-attachment`, {
        dropletId: Token.asNumber(droplet.id),
        volumeId: volume.id,
      });
      attachment.overrideLogicalId(`${volumeName(host)}-attachment`);
      volumes.set(host, volume);
    }
    this.volumes = volumes;
  }
}
