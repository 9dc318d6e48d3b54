// The private, versioned Spaces bucket for WAL archives and base backups (pgBackRest), in a region
// that outlives the primary's, and a Spaces key scoped to that bucket alone.
import { Construct } from "constructs";
import { SpacesBucket, SpacesKey } from "../providers";
import { namePrefix, type Topology } from "../model";

export class BackupsBucket extends Construct {
  readonly bucket: SpacesBucket;
  readonly key: SpacesKey;

  constructor(scope: Construct, id: string, props: { readonly topology: Topology }) {
    super(scope, id);
    const t = props.topology;
    this.bucket = new SpacesBucket(this, "Resource", {
      name: t.backups.bucket,
      region: t.backups.spacesRegion,
      acl: "private",
      forceDestroy: false,
      versioning: { enabled: true },
      lifecycleRule: [{ id: "expire-old-versions", enabled: true, abortIncompleteMultipartUploadDays: 7, noncurrentVersionExpiration: { days: 30 } }],
      lifecycle: { preventDestroy: true },
    });
    this.bucket.overrideLogicalId("backups");
    this.key = new SpacesKey(this, "Key", {
      name: `${namePrefix(t)}-pgbackrest`,
      grant: [{ bucket: this.bucket.name, permission: "readwrite" }],
    });
    this.key.overrideLogicalId("backups-key");
  }
}
