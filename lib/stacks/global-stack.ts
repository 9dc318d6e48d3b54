// The global stack: the Cloudflare edge, the backups bucket, and the DigitalOcean project grouping
// everything. It reads the region stacks' load balancers and URNs through cross-stack references
// (terraform_remote_state). The VPC peerings live in the network stack, applied first.
import { Construct } from "constructs";
import { TerraformOutput, TerraformStack } from "cdktf";
import { configureBackend } from "../backend";
import { BackupsBucket } from "../data/backups-bucket";
import { CloudflareEdge } from "../edge/cloudflare-edge";
import { GLOBAL_STACK_NAME, namePrefix, servingRegions, type Topology } from "../model";
import { CloudflareProvider, DigitaloceanProvider, Project } from "../providers";
import type { RegionStack } from "./region-stack";

const PROJECT_ENVIRONMENTS: Record<string, string> = { production: "Production", staging: "Staging" };

export class GlobalStack extends TerraformStack {
  constructor(scope: Construct, t: Topology, regions: readonly RegionStack[]) {
    super(scope, GLOBAL_STACK_NAME);
    configureBackend(this, t, GLOBAL_STACK_NAME);
    new DigitaloceanProvider(this, "digitalocean", {});
    new CloudflareProvider(this, "cloudflare", {});

    const byRegion = new Map(regions.map((r) => [r.region.slug, r]));
    new CloudflareEdge(this, "edge", {
      topology: t,
      origins: servingRegions(t).map((region) => ({ region, address: byRegion.get(region)!.loadBalancer!.ip })),
    });

    const backups = new BackupsBucket(this, "backups", { topology: t });
    new TerraformOutput(this, "backups_bucket", { description: "Spaces bucket for pgBackRest.", value: backups.bucket.name });
    new TerraformOutput(this, "backups_endpoint", { description: "Spaces endpoint of the bucket.", value: backups.bucket.endpoint });
    new TerraformOutput(this, "backups_access_key", { description: "Spaces key id for pgBackRest (store in Ansible Vault).", value: backups.key.accessKey, sensitive: true });
    new TerraformOutput(this, "backups_secret_key", { description: "Spaces secret for pgBackRest (store in Ansible Vault).", value: backups.key.secretKey, sensitive: true });

    const project = new Project(this, "project", {
      name: namePrefix(t),
      description: `${t.project} shop (${t.environment}), managed by shop-multiregion`,
      purpose: "Web Application",
      environment: PROJECT_ENVIRONMENTS[t.environment] ?? "Development",
      resources: [
        ...regions.flatMap((r) => [...r.droplets.values()].map((d) => d.urn)),
        ...regions.flatMap((r) => [...r.volumes.values()].map((v) => v.urn)),
        ...regions.flatMap((r) => (r.loadBalancer ? [r.loadBalancer.urn] : [])),
        backups.bucket.urn,
      ],
    });
    project.overrideLogicalId("project");
  }
}
