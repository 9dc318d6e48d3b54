// scripts/build.js: `npm start` skips tsc when nothing under the compiled roots changed since the
// last build, and builds again after any source edit, addition or removal.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const { upToDate } = require("../../scripts/build.js") as { upToDate: (root: string) => boolean }; // eslint-disable-line @typescript-eslint/no-require-imports

describe("build only when stale", () => {
  let root: string;
  const at = (file: string, seconds: number) => {
    const p = path.join(root, file);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (!fs.existsSync(p)) fs.writeFileSync(p, "");
    fs.utimesSync(p, seconds, seconds);
  };
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "build-stamp-"));
    for (const f of ["main.ts", "lib/a.ts", "lib/model/b.ts", "tsconfig.json", "package.json"]) at(f, 1000);
    for (const d of ["lib/model", "lib"]) fs.utimesSync(path.join(root, d), 1000, 1000);
    at("dist/.tsbuildinfo", 2000);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it("is up to date when every source is older than the last build", () => {
    expect(upToDate(root)).toBe(true);
  });

  it("is stale without a previous build", () => {
    fs.rmSync(path.join(root, "dist"), { recursive: true });
    expect(upToDate(root)).toBe(false);
  });

  it.each(["lib/model/b.ts", "main.ts", "tsconfig.json", "package.json"])("is stale after %s changed", (file) => {
    at(file, 3000);
    expect(upToDate(root)).toBe(false);
  });

  it("is stale after a source was removed (its folder changed)", () => {
    fs.rmSync(path.join(root, "lib/model/b.ts"));
    fs.utimesSync(path.join(root, "lib/model"), 3000, 3000);
    expect(upToDate(root)).toBe(false);
  });

  it("ignores files tsc does not compile", () => {
    at("lib/notes.md", 3000);
    fs.utimesSync(path.join(root, "lib"), 1000, 1000);
    expect(upToDate(root)).toBe(true);
  });
});
