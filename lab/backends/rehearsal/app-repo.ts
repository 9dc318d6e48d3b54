// The reference shop app (examples/shop-app) as the rehearsal's app repository: its production
// dependencies installed here (the hosts reach no npm registry), committed with the code and tagged,
// in a bare repository that the mirror serves over HTTPS (git's dumb HTTP protocol).
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { MIRROR_URL } from "./plan";
import { RehearsalError } from "./errors";
import { runOk } from "./sys";

export const APP_SOURCE = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? "../../../../examples/shop-app" : "../../../examples/shop-app");
export const APP_REPOSITORY_NAME = "shop-app.git";

/** What the rehearsal's topology says about the app (examples/shop-app/README.md). */
export const APP_SETTINGS = {
  repository: `${MIRROR_URL}/git/${APP_REPOSITORY_NAME}`,
  // The repository ships its dependencies (the hosts reach no registry): the build checks the sources
  // with Node alone, so the app hosts need no npm (see app_packages).
  buildCommand: "node --check server.js && node --check worker.js",
  startCommand: "node server.js",
  workerCommand: "node worker.js",
};

function filesOf(dir: string, base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.name === "node_modules" || e.name === ".git") return [];
    return e.isDirectory() ? filesOf(full, base) : [path.relative(base, full)];
  }).sort();
}

/** Builds (or reuses) the served repository; returns the pinned version (a tag named by content). */
export function buildAppRepository(gitRoot: string, cache: string, log: (l: string) => void): string {
  if (!fs.existsSync(path.join(APP_SOURCE, "package.json"))) throw new RehearsalError(`the reference app is missing: ${APP_SOURCE}/package.json`);
  const files = filesOf(APP_SOURCE);
  const h = createHash("sha256");
  for (const f of files) h.update(f).update("\0").update(fs.readFileSync(path.join(APP_SOURCE, f)));
  const version = `rehearsal-${h.digest("hex").slice(0, 12)}`;
  const bare = path.join(gitRoot, APP_REPOSITORY_NAME);
  if (fs.existsSync(path.join(bare, "refs", "tags", version))) {
    // One made before the repository was packed: pack it now.
    if (!fs.readdirSync(path.join(bare, "objects", "pack")).some((f) => f.endsWith(".pack"))) packForDumbHttp(bare);
    return version;
  }
  log(`building the app repository ${version} from examples/shop-app (npm ci --omit=dev here: the hosts reach no registry)`);
  const work = path.join(cache, "app-build");
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(work, f)), { recursive: true });
    fs.copyFileSync(path.join(APP_SOURCE, f), path.join(work, f));
  }
  runOk(["npm", "ci", "--omit=dev", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: work, stdio: ["ignore", "ignore", "pipe"] });
  const git = (...args: string[]) => runOk(["git", "-c", "user.name=shop-rehearsal", "-c", "user.email=rehearsal@invalid", "-c", "init.defaultBranch=main", ...args], { cwd: work });
  git("init", "-q");
  git("add", "-A", "-f", ".");
  git("commit", "-q", "-m", `shop app ${version} with its production dependencies`);
  git("tag", version);
  fs.rmSync(bare, { recursive: true, force: true });
  fs.mkdirSync(gitRoot, { recursive: true });
  runOk(["git", "clone", "-q", "--bare", work, bare]);
  packForDumbHttp(bare);
  fs.rmSync(work, { recursive: true, force: true });
  return version;
}

/** Git's dumb HTTP protocol fetches what the repository holds, file by file: one pack instead of
 * hundreds of loose objects makes a host's clone a handful of requests (15 hosts clone it at once,
 * while they fetch their packages from the same mirror). */
export function packForDumbHttp(bare: string): void {
  runOk(["git", "repack", "-a", "-d", "-q"], { cwd: bare });
  runOk(["git", "prune-packed"], { cwd: bare });
  runOk(["git", "update-server-info"], { cwd: bare });
}
