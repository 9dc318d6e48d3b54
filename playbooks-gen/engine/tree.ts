// Writing the generated tree: all files into a temporary sibling directory first, then one rename, so
// a failure leaves the previous tree untouched. A manifest records what the generator wrote, so files
// it no longer produces are removed while files someone else put there are kept.
import * as fs from "fs";
import * as path from "path";
import { MARKER } from "./marker";

export const MANIFEST = ".shop-multiregion-manifest";

export type FileMap = Readonly<Record<string, string>>;

export class TreeError extends Error {}

function checkRelative(file: string): void {
  if (path.isAbsolute(file) || file.split("/").some((part) => part === ".." || part === "") || file === MANIFEST) {
    throw new TreeError(`generated path ${JSON.stringify(file)} must be relative and inside the tree`);
  }
}

export function manifestText(files: FileMap): string {
  return `# ${MARKER}\n# files written by the generator; it removes them when it no longer produces them\n${Object.keys(files).sort().join("\n")}\n`;
}

export function readManifest(dir: string): string[] | undefined {
  const file = path.join(dir, MANIFEST);
  if (!fs.existsSync(file)) return undefined;
  return fs.readFileSync(file, "utf8").split("\n").filter((line) => line && !line.startsWith("#"));
}

/** Every file below `dir`, relative, sorted. */
export function listFiles(dir: string, prefix = ""): string[] {
  return fs.readdirSync(path.join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    return entry.isDirectory() ? listFiles(dir, rel) : [rel];
  }).sort();
}

function writeFiles(dir: string, files: FileMap): void {
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), content);
  }
}

/** Refuses a non-empty folder the generator did not write (no manifest); callers that write other
 * things first check here before writing anything. Returns whether the folder exists. */
export function checkTreeTarget(outDir: string): boolean {
  const target = path.resolve(outDir);
  const exists = fs.existsSync(target);
  if (exists && readManifest(target) === undefined && fs.readdirSync(target).length > 0) {
    throw new TreeError(`${outDir} exists and was not written by the generator (no ${MANIFEST}); pass an empty or new --out DIR`);
  }
  return exists;
}

/** Replaces the tree at `outDir` by `files`, keeping files the previous run did not write. */
export function writeTree(outDir: string, files: FileMap): void {
  Object.keys(files).forEach(checkRelative);
  const target = path.resolve(outDir);
  const exists = checkTreeTarget(outDir);
  const previous = exists ? readManifest(target) : undefined;
  const staging = `${target}.tmp-${process.pid}`;
  const retired = `${target}.old-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  try {
    fs.mkdirSync(staging, { recursive: true });
    writeFiles(staging, files);
    fs.writeFileSync(path.join(staging, MANIFEST), manifestText(files));
    if (exists) {
      const owned = new Set(previous);
      const kept = listFiles(target).filter((f) => f !== MANIFEST && !owned.has(f) && !(f in files));
      for (const f of kept) {
        fs.mkdirSync(path.dirname(path.join(staging, f)), { recursive: true });
        fs.copyFileSync(path.join(target, f), path.join(staging, f));
      }
      fs.renameSync(target, retired);
    }
    fs.renameSync(staging, target);
  } catch (e) {
    fs.rmSync(staging, { recursive: true, force: true });
    if (!fs.existsSync(target) && fs.existsSync(retired)) fs.renameSync(retired, target);
    throw e;
  }
  fs.rmSync(retired, { recursive: true, force: true });
}
