// State backends. Each environment has its own state: local files under
// terraform-state/<project>-<environment>/ at the project root, S3 keys under <project>/<environment>/,
// so staging and production of one project in one account never share a state file.
// Local paths are relative (no absolute path in the output) and anchored at the project root from each
// stack's working directory (<out>/stacks/<stack>/), so a producer's backend path and a consumer's
// terraform_remote_state path name the same file whatever --out is.
import * as path from "path";
import { App, LocalBackend, S3Backend, TerraformStack } from "cdktf";
import { namePrefix, type Topology } from "./model";

/** From <out>/stacks/<stack>/ back to the project root (the directory synthesis runs in). An output
 * folder outside the project (a temporary directory) stands in for the root's `cdktf.out`. */
export function stackDirToRoot(outdir: string | undefined, root: string = process.cwd()): string {
  const rel = outdir === undefined ? "cdktf.out" : path.relative(path.resolve(root), path.resolve(root, outdir));
  const inside = rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
  const depth = inside ? rel.split(path.sep).filter((s) => s !== "" && s !== ".").length : rel === "" ? 0 : 1;
  return path.posix.join(...Array<string>(depth + 2).fill(".."));
}

/** App context key naming the output folder the stacks finally land in. */
export const OUTDIR_CONTEXT = "shop:outdir";

/** Compatibility: the anchor for the default output folder `cdktf.out`. */
export const STACK_DIR_TO_ROOT = stackDirToRoot("cdktf.out", ".");

/** The key of a stack's state relative to the state root: `<project>-<environment>/<stack>.tfstate`. */
export function localStatePath(t: Topology, stackName: string, outdir?: string): string {
  if (t.stateBackend.type !== "local") throw new Error("localStatePath needs a local state backend");
  return path.posix.join(stackDirToRoot(outdir), t.stateBackend.path, namePrefix(t), `${stackName}.tfstate`);
}

/** S3 key of a stack's state: `[<keyPrefix>/]<project>/<environment>/<stack>.tfstate`. */
export function s3StateKey(t: Topology, stackName: string): string {
  if (t.stateBackend.type !== "s3") throw new Error("s3StateKey needs an s3 state backend");
  return [t.stateBackend.keyPrefix, t.project, t.environment, `${stackName}.tfstate`].filter((s) => s).join("/");
}

export function configureBackend(stack: TerraformStack, t: Topology, stackName: string): void {
  const b = t.stateBackend;
  if (b.type === "local") {
    // synthesize() builds in a staging folder inside --out and names the final folder in the context.
    const outdir = (stack.node.tryGetContext(OUTDIR_CONTEXT) as string | undefined) ?? App.of(stack).outdir;
    new LocalBackend(stack, { path: localStatePath(t, stackName, outdir) });
    return;
  }
  // Spaces speaks S3: AWS-specific checks are skipped; credentials come from AWS_ACCESS_KEY_ID /
  // AWS_SECRET_ACCESS_KEY (a Spaces key), never from this file.
  new S3Backend(stack, {
    bucket: b.bucket,
    key: s3StateKey(t, stackName),
    region: "us-east-1",
    endpoints: { s3: `https://${b.region}.digitaloceanspaces.com` },
    skipCredentialsValidation: true,
    skipRegionValidation: true,
    skipRequestingAccountId: true,
    skipMetadataApiCheck: true,
    skipS3Checksum: true,
  });
}
