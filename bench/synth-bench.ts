// `npm run bench`: wall time (process start included) and peak memory of synthesizing the example
// and generated 3-, 6- and 12-region topologies, beside `cdktf synth` through the CLI on the example
// in the same run. Prints a Markdown table for the README.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { generatedTopology } from "./topologies";

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ROOT = path.resolve(__dirname, "../..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "shop-bench-"));

interface Result { readonly name: string; readonly wallMs: number[]; readonly rssMb: number[] }

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeSynth(name: string, topology: string): Result {
  const result: Result = { name, wallMs: [], rssMb: [] };
  for (let i = 0; i < RUNS; i++) {
    const out = path.join(work, `${name.replace(/\W+/g, "-")}-${i}`);
    const start = process.hrtime.bigint();
    const child = spawnSync(process.execPath, [path.join(ROOT, "dist/bench/synth-once.js"), "--topology", topology, "--out", out], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
    const wall = Number(process.hrtime.bigint() - start) / 1e6;
    if (child.status !== 0) throw new Error(`${name}: synthesis failed:\n${child.stderr}`);
    result.wallMs.push(wall);
    result.rssMb.push(JSON.parse(child.stderr.trim().split("\n").pop()!).maxRssKb / 1024);
  }
  return result;
}

/** `npm start` as a user types it, on the example, when nothing changed since the last build: npm,
 * the up-to-date check (scripts/build.js), synthesis, the Ansible tree and the rest it writes. */
function timeNpmStart(): Result {
  const result: Result = { name: "`npm start` on the example, nothing changed since the last build", wallMs: [], rssMb: [] };
  for (let i = 0; i < RUNS; i++) {
    const out = path.join(work, `npm-start-${i}`);
    const start = process.hrtime.bigint();
    const child = spawnSync("/usr/bin/time", ["-f", "maxrss=%M", "npm", "start", "--silent", "--", "--out", out], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
    result.wallMs.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (child.status !== 0) throw new Error(`npm start failed:\n${child.stdout}\n${child.stderr}`);
    result.rssMb.push(Number(/maxrss=(\d+)/.exec(child.stderr)![1]) / 1024);
  }
  return result;
}

function timeCli(): Result {
  // The CLI runs the same compiled app; its own start-up and orchestration is what is compared.
  const result: Result = { name: "example via `cdktf synth` (CLI)", wallMs: [], rssMb: [] };
  for (let i = 0; i < RUNS; i++) {
    const out = path.join(work, `cli-${i}`);
    const start = process.hrtime.bigint();
    // GNU time reports the peak RSS of the largest process in the CLI's tree (CLI or app).
    // cdktf.json's app, as `cdktf synth` runs it: the same up-to-date check, then the compiled app.
    const child = spawnSync("/usr/bin/time", ["-f", "maxrss=%M", path.join(ROOT, "node_modules/.bin/cdktf"), "synth", "--output", out], {
      cwd: ROOT, encoding: "utf8", timeout: 300_000,
      env: { ...process.env, SHOP_TOPOLOGY: "examples/topology.yaml", CI: "1", CHECKPOINT_DISABLE: "1", CDKTF_DISABLE_PLUGIN_CACHE_ENV: "1" },
    });
    result.wallMs.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (child.status !== 0) throw new Error(`cdktf synth failed:\n${child.stdout}\n${child.stderr}`);
    result.rssMb.push(Number(/maxrss=(\d+)/.exec(child.stderr)![1]) / 1024);
    if (!fs.existsSync(path.join(out, "stacks", "global", "cdk.tf.json"))) throw new Error("cdktf synth wrote no global stack");
  }
  return result;
}

function main(): void {
  const results: Result[] = [timeSynth("example (3 regions)", path.join(ROOT, "examples/topology.yaml"))];
  const perRegion: Array<[number, number]> = [];
  for (const n of [3, 6, 12]) {
    const file = path.join(work, `generated-${n}.yaml`);
    fs.writeFileSync(file, generatedTopology(n));
    const r = timeSynth(`generated, ${n} regions`, file);
    results.push(r);
    perRegion.push([n, median(r.wallMs)]);
  }
  const npmStart = timeNpmStart();
  results.push(npmStart);
  const cli = timeCli();
  results.push(cli);
  console.log(`synthesis benchmark: median of ${RUNS} runs, wall time includes process start (${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version})\n`);
  console.log("| case | wall (median) | wall (min–max) | peak RSS |");
  console.log("|---|---|---|---|");
  for (const r of results) {
    const rss = `${median(r.rssMb).toFixed(0)} MiB`;
    console.log(`| ${r.name} | ${median(r.wallMs).toFixed(0)} ms | ${Math.min(...r.wallMs).toFixed(0)}–${Math.max(...r.wallMs).toFixed(0)} ms | ${rss} |`);
  }
  const ratio = median(cli.wallMs) / median(results[0].wallMs);
  const [[n0, t0], , [n2, t2]] = perRegion;
  console.log(`\nsynthesis by the compiled app is ${ratio.toFixed(1)}× faster than \`cdktf synth\` on the example; \`npm start\` as typed (npm, build check, synthesis, Ansible tree) ${(median(cli.wallMs) / median(npmStart.wallMs)).toFixed(1)}× faster.`);
  console.log(`growth: ${((t2 - t0) / (n2 - n0)).toFixed(0)} ms per extra region (${n0} → ${n2} regions: ${t0.toFixed(0)} → ${t2.toFixed(0)} ms).`);
  fs.rmSync(work, { recursive: true, force: true });
}

main();
