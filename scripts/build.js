#!/usr/bin/env node
// Builds dist/ with tsc only when a source changed since the last build: `npm start` and the other
// scripts skip tsc (about 1.3 s even when incremental) when nothing did. "Changed" is any file or
// folder under the compiled roots, or a tsconfig/package file, newer than dist/.tsbuildinfo, which
// tsc rewrites on every build (so a deleted file, which touches its folder, counts too).
// `node scripts/build.js --force` always runs tsc.
"use strict";
const { spawnSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const ROOT = path.resolve(__dirname, "..");
const STAMP = "dist/.tsbuildinfo";
const ROOTS = ["main.ts", "lib", "playbooks-gen", "lab", "bench", "tsconfig.json", "tsconfig.build.json", "package.json"];

/** The newest mtime (ms) of a file, or of a folder and everything under it (.ts files only). */
function newest(p) {
  let stat;
  try {
    stat = fs.statSync(p);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let max = stat.mtimeMs;
  for (const entry of fs.readdirSync(p, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    if (entry.isDirectory() || entry.name.endsWith(".ts")) max = Math.max(max, newest(path.join(p, entry.name)));
  }
  return max;
}

/** Whether dist/ under `root` was built after every source changed. */
function upToDate(root) {
  let built;
  try {
    built = fs.statSync(path.join(root, STAMP)).mtimeMs;
  } catch {
    return false;
  }
  return ROOTS.every((r) => newest(path.join(root, r)) <= built);
}

module.exports = { upToDate };

if (require.main === module && (process.argv.includes("--force") || !upToDate(ROOT))) {
  const tsc = require.resolve("typescript/bin/tsc", { paths: [ROOT] });
  const r = spawnSync(process.execPath, [tsc, "-p", path.join(ROOT, "tsconfig.build.json")], { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
  // tsc leaves the build info untouched when nothing needed emitting: mark this build as current.
  const now = new Date();
  fs.utimesSync(path.join(ROOT, STAMP), now, now);
}
