import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { listFiles, MANIFEST, readManifest, TreeError, writeTree } from "../../playbooks-gen/engine/tree";

describe("writeTree", () => {
  let root: string;
  let out: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "tree-"));
    out = path.join(root, "ansible");
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it("writes the files and a manifest listing them", () => {
    writeTree(out, { "a.yml": "a\n", "dir/b.yml": "b\n" });
    expect(listFiles(out)).toEqual([MANIFEST, "a.yml", "dir/b.yml"]);
    expect(readManifest(out)).toEqual(["a.yml", "dir/b.yml"]);
  });

  it("removes files it no longer produces and keeps files it never wrote", () => {
    writeTree(out, { "a.yml": "a\n", "dir/b.yml": "b\n" });
    fs.writeFileSync(path.join(out, "dir/operator-notes.txt"), "mine\n");
    writeTree(out, { "a.yml": "a2\n" });
    expect(listFiles(out)).toEqual([MANIFEST, "a.yml", "dir/operator-notes.txt"]);
    expect(fs.readFileSync(path.join(out, "a.yml"), "utf8")).toBe("a2\n");
  });

  it("refuses to replace a directory it did not write", () => {
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, "precious.txt"), "x");
    expect(() => writeTree(out, { "a.yml": "a\n" })).toThrow(/exists and was not written by the generator/);
    expect(listFiles(out)).toEqual(["precious.txt"]);
  });

  it("leaves the previous tree untouched and no temporary directory when writing fails", () => {
    writeTree(out, { "a.yml": "a\n" });
    // "x" as a file and as a directory: the second write fails half-way through.
    expect(() => writeTree(out, { "b.yml": "b\n", x: "file", "x/y.yml": "y" })).toThrow();
    expect(listFiles(out)).toEqual([MANIFEST, "a.yml"]);
    expect(fs.readdirSync(root)).toEqual(["ansible"]);
  });

  it("refuses paths outside the tree", () => {
    expect(() => writeTree(out, { "../escape.yml": "x" })).toThrow(TreeError);
    expect(() => writeTree(out, { "/etc/passwd": "x" })).toThrow(TreeError);
    expect(fs.existsSync(out)).toBe(false);
  });
});
