// State backends. Local paths are anchored at the project root from each stack's working directory
// (cdktf.out/stacks/<stack>/), so a producer's backend path and a consumer's terraform_remote_state
// path name the same file; S3 state lives in a Spaces bucket.
import * as path from "path";
import { LocalBackend, S3Backend, TerraformStack } from "cdktf";
import type { Topology } from "./model";

/** From cdktf.out/stacks/<stack>/ back to the project root. */
export const STACK_DIR_TO_ROOT = "../../..";

export function localStatePath(t: Topology, stackName: string): string {
  if (t.stateBackend.type !== "local") throw new Error("localStatePath needs a local state backend");
  return path.posix.join(STACK_DIR_TO_ROOT, t.stateBackend.path, `${stackName}.tfstate`);
}

export function configureBackend(stack: TerraformStack, t: Topology, stackName: string): void {
  const b = t.stateBackend;
  if (b.type === "local") {
    new LocalBackend(stack, { path: localStatePath(t, stackName) });
    return;
  }
  // Spaces speaks S3: AWS-specific checks are skipped; credentials come from AWS_ACCESS_KEY_ID /
  // AWS_SECRET_ACCESS_KEY (a Spaces key), never from this file.
  new S3Backend(stack, {
    bucket: b.bucket,
    key: `${b.keyPrefix}/${stackName}.tfstate`,
    region: "us-east-1",
    endpoints: { s3: `https://${b.region}.digitaloceanspaces.com` },
    skipCredentialsValidation: true,
    skipRegionValidation: true,
    skipRequestingAccountId: true,
    skipMetadataApiCheck: true,
    skipS3Checksum: true,
  });
}
