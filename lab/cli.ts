// `npm run lab -- up | status | drill [NAME…] | down`: boots the rendered configuration on loopback,
// injects faults and measures recovery and lost writes (README, "Failover lab").
import * as path from "path";
import { loadTopology, TIMING_PRESETS, type TimingPresetName } from "../lib/model";
import { Lab, type LabOptions } from "./backends/loopback/lab";
import { LOOPBACK_HINTS, loopbackCapabilities, loopbackProvider } from "./backends/loopback/provider";
import { checkDrills, defaultDrills, DRILLS } from "./drills/registry";
import { unsafeResults, writeReport } from "./drills/report";
import { runDrills } from "./drills/runner";

interface Args {
  readonly command: string;
  readonly names: string[];
  readonly options: LabOptions;
  readonly report: string | null;
  readonly baseline: boolean;
  readonly repeat: number;
  readonly strictTargets: boolean;
}

const USAGE = `usage: npm run lab -- <up|status|drill [NAME…]|down> [options]
  --topology FILE   topology file (default examples/topology.yaml)
  --preset NAME     fast | balanced | wan-safe | stock (default: the topology's timing)
  --report FILE     write the drill report as JSON
  --no-baseline     drill: skip the Patroni-stock baseline run
  --repeat N        drill: run each drill N times per preset (default 1)
  --strict-targets  drill: also exit 1 when an RTO target is missed (default: only on lost
                    acknowledged writes, two primaries at once, or a drill that did not recover)
  --dir DIR         lab working directory (default .lab)
  --keep-logs DIR   drill: before a lab it booted goes down, copy every host's logs and configs to DIR
  --net A.B.C       loopback /24 for the hosts (default 127.0.0, with --wan-rtt 127.0.40; hosts get .2, .3, …)
  --wan-rtt MS      drill: put each region in its own network namespace, MS ms round trip between
                    regions through a delaying forwarder (root, /dev/net/tun; the lab's clients see no delay)
drills: ${Object.keys(DRILLS).join(", ")}
  (region-loss, region-return, etcd-quorum-loss, region-partition: stretched mode; region-partition
   needs --wan-rtt; standby-promote: standby-cluster mode, e.g. --topology examples/topology-standby-cluster.yaml)`;

export function parseArgs(argv: readonly string[]): Args {
  const names: string[] = [];
  let topologyFile = "examples/topology.yaml";
  let preset: string | null = null;
  let report: string | null = null;
  let baseline = true;
  let repeat = 1;
  let strictTargets = false;
  let root = ".lab";
  let net: string | null = null;
  let wanRttMs = 0;
  let keepLogs: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === "--topology") topologyFile = value();
    else if (a === "--preset") preset = value();
    else if (a === "--report") report = value();
    else if (a === "--no-baseline") baseline = false;
    else if (a === "--repeat") repeat = Number(value());
    else if (a === "--strict-targets") strictTargets = true;
    else if (a === "--dir") root = value();
    else if (a === "--net") net = value();
    else if (a === "--wan-rtt") wanRttMs = Number(value());
    else if (a === "--keep-logs") keepLogs = path.resolve(value());
    else if (a === "--help" || a === "-h") throw new Error(USAGE);
    else if (a.startsWith("--")) throw new Error(`unknown option ${a}\n${USAGE}`);
    else names.push(a);
  }
  const command = names.shift() ?? "";
  if (!["up", "status", "drill", "down"].includes(command)) throw new Error(USAGE);
  if (preset !== null && !(preset in TIMING_PRESETS)) throw new Error(`--preset must be one of ${Object.keys(TIMING_PRESETS).join(", ")}, got ${preset}`);
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`--repeat must be a positive integer`);
  if (!Number.isFinite(wanRttMs) || wanRttMs < 0 || wanRttMs > 1000) throw new Error(`--wan-rtt must be a round trip in ms between 0 and 1000, got ${wanRttMs}`);
  if (wanRttMs > 0 && command !== "drill") throw new Error(`--wan-rtt works with drill only: the WAN lives as long as the process that booted the lab`);
  const topology = loadTopology(topologyFile);
  checkDrills(names, topology, topologyFile, { kind: "loopback", capabilities: loopbackCapabilities({ topologyFile, wanRttMs }) }, LOOPBACK_HINTS);
  const resolvedPreset = (preset ?? topology.timing) as TimingPresetName;
  return { command, names, report, baseline, repeat, strictTargets, options: { topologyFile: path.resolve(topologyFile), preset: resolvedPreset, root: path.resolve(root), net: net ?? (wanRttMs > 0 ? "127.0.40" : "127.0.0"), wanRttMs, keepLogs } };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const log = (line: string) => console.log(line);
  const { root } = args.options;
  switch (args.command) {
    case "up":
      await Lab.up(args.options, log);
      return 0;
    case "status": {
      if (!Lab.exists(root)) {
        log(`no lab in ${root}`);
        return 1;
      }
      const lab = Lab.open(root, log);
      log(`lab in ${root}, preset ${lab.preset}`);
      for (const x of lab.liveProcs()) log(`  ${x.what.padEnd(28)} pid ${x.proc.pid}`);
      for (const m of await lab.members()) log(`  patroni ${m.name.padEnd(14)} ${m.role.padEnd(13)} ${m.state} lag ${m.lag ?? "-"}`);
      for (const h of lab.hostsRunning("patroni")) {
        const wd = lab.watchdogStatus(h.name);
        log(`  watchdog ${h.name.padEnd(13)} ${wd === null ? "not running" : `${wd.armed ? `armed (timeout ${wd.timeoutSeconds} s)` : "disarmed"}, ${wd.resets.length} resets`}`);
      }
      log(`  redis primary (Sentinels): ${(await lab.redisPrimary()) ?? "no agreement"}`);
      return 0;
    }
    case "down": {
      if (!Lab.exists(root)) {
        log(`no lab in ${root}`);
        return 0;
      }
      const n = await Lab.open(root, log).teardown();
      log(`stopped ${n} processes, removed ${root}`);
      return 0;
    }
    default: {
      const names = args.names.length ? args.names : defaultDrills(loadTopology(args.options.topologyFile).database.mode);
      const presets: TimingPresetName[] = args.baseline && args.options.preset !== "stock" ? [args.options.preset, "stock"] : [args.options.preset];
      const results = await runDrills(loopbackProvider(args.options), presets, names, args.repeat, log);
      if (args.report) writeReport(args.report, results, args.options.topologyFile, "loopback");
      const unsafe = unsafeResults(results);
      for (const r of unsafe) log(`UNSAFE: ${r.name} (${r.preset})`);
      return unsafe.length > 0 || (args.strictTargets && results.some((r) => !r.passed)) ? 1 : 0;
    }
  }
}

if (require.main === module) {
  main().then((code) => { process.exitCode = code; }, (e: Error) => {
    console.error(e.message);
    process.exitCode = 2;
  });
}
