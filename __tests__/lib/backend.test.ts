// State per environment: two environments of one project in one account never share a state file,
// and local state sits at the project root whatever --out is.
import * as path from "path";
import { localStatePath, s3StateKey, stackDirToRoot } from "../../lib/backend";
import { buildApp } from "../../lib/stacks/app";
import { variant } from "../support/topology";
import { readStacks, tempDir } from "../support/synth";
import type { Json } from "../../lib/policy/json";

const env = (environment: string, stateBackend?: Json) => variant((d) => { d.environment = environment; if (stateBackend) d.stateBackend = stateBackend; });

describe("state backends", () => {
  it("gives staging and production of one project different local state files", () => {
    const [staging, production] = [env("staging"), env("production")].map((t) => localStatePath(t, "region-nyc1", "cdktf.out"));
    expect(staging).toBe("../../../terraform-state/shop-staging/region-nyc1.tfstate");
    expect(production).toBe("../../../terraform-state/shop-production/region-nyc1.tfstate");
  });

  it("gives staging and production different S3 keys under <project>/<environment>/", () => {
    const s3 = { type: "s3", bucket: "shop-tfstate", region: "fra1" };
    expect(s3StateKey(env("staging", s3), "global")).toBe("shop/staging/global.tfstate");
    expect(s3StateKey(env("production", s3), "global")).toBe("shop/production/global.tfstate");
    expect(s3StateKey(env("staging", { ...s3, keyPrefix: "infra" }), "global")).toBe("infra/shop/staging/global.tfstate");
  });

  it("anchors local state at the project root whatever --out is", () => {
    const root = "/project";
    for (const out of ["cdktf.out", "build/cdktf.out", "a/b/c", "/project/x"]) {
      const stackDir = path.posix.join(root, out.startsWith("/") ? path.posix.relative(root, out) : out, "stacks", "global");
      expect({ out, at: path.posix.normalize(path.posix.join(stackDir, stackDirToRoot(out, root))) }).toEqual({ out, at: root });
    }
  });

  it("writes the backend path for the final --out when synthesized through a staging folder", () => {
    const t = env("staging");
    const staging = tempDir();
    buildApp(t, staging, "build/out").app.synth();
    const json = readStacks(staging).find((s) => s.name === "global")!.json;
    expect(json.terraform.backend.local.path).toBe("../../../../terraform-state/shop-staging/global.tfstate");
    const remote = Object.values(json.data?.terraform_remote_state ?? {}) as Json[];
    expect(remote.length).toBeGreaterThan(0);
    for (const r of remote) expect(r.config.path).toMatch(/^\.\.\/\.\.\/\.\.\/\.\.\/terraform-state\/shop-staging\/region-\w+\.tfstate$/);
  });
});

describe("state path rule", () => {
  it("fails when the local state path escapes the project", () => {
    expect(() => env("staging", { type: "local", path: "state/../../elsewhere" })).toThrow(/stateBackend\.path must stay inside the project \(no "\.\." segment\), got "state\/\.\.\/\.\.\/elsewhere"/);
  });
});
