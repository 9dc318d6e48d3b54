// `npm run lab -- up | status | drill [NAME…] | down`: boots the rendered configuration on loopback,
// injects faults and measures recovery and lost writes (README, "Failover lab").
import * as path from "path";
import { CONSOLE_IO, EXIT, InputError, parseCli, reportError, UsageError, type Io } from "../lib/cli";
import { loadTopology, TIMING_PRESETS, TopologyError, type TimingPresetName } from "../lib/model";
import { Lab, type LabOptions } from "./backends/loopback/lab";
import { LOOPBACK_HINTS, loopbackCapabilities, loopbackProvider } from "./backends/loopback/provider";
import { checkDrills, defaultDrills, DRILLS } from "./drills/registry";
import { unsafeResults, writeReport } from "./drills/report";
import { runDrills } from "./drills/runner";

export interface Args {
  readonly command: string;
  readonly names: string[];
  readonly options: LabOptions;
  readonly report: string | null;
  readonly baseline: boolean;
  readonly repeat: number;
  readonly strictTargets: boolean;
}

const USAGE = `usage: npm run lab -- <up|status|drill [NAME…]|down> [options]
  -h, --help        this text
  --topology FILE   topology file (default examples/topology.yaml)
  --preset NAME     fast | balanced | wan-safe | stock (default: the topology's timing)
  --report FILE     write the drill report as JSON
  --no-baseline     drill: skip the Patroni-stock baseline run
  --repeat N        drill: run each drill N times per preset (default 1)
  --strict-targets  drill: also exit 3 when an RTO target is missed (default: only on lost
                    acknowledged writes, two primaries at once, or a drill that did not recover)
  --dir DIR         lab working directory (default .lab)
  --keep-logs DIR   drill: before a lab it booted goes down, copy every host's logs and configs to DIR
  --net A.B.C       loopback /24 for the hosts (default 127.0.0, with --wan-rtt 127.0.40; hosts get .2, .3, …)
  --wan-rtt MS      drill: put each host in its own network namespace, MS ms round trip between
                    regions through a delaying forwarder (root, /dev/net/tun; the lab's clients see no delay)
drills: ${Object.keys(DRILLS).join(", ")}
  (region-loss, region-return, etcd-quorum-loss, region-partition: stretched mode; region-partition
   needs --wan-rtt; standby-promote: standby-cluster mode, e.g. --topology examples/topology-standby-cluster.yaml)`;

/** Parses and checks the arguments (the topology is loaded to check the drills against it). */
export function parseArgs(argv: readonly string[]): Args | "help" {
  const parsed = parseCli(argv, {
    topology: { type: "string", default: "examples/topology.yaml" }, preset: { type: "string" }, report: { type: "string" },
    "no-baseline": { type: "boolean", default: false }, repeat: { type: "string", default: "1" }, "strict-targets": { type: "boolean", default: false },
    dir: { type: "string", default: ".lab" }, net: { type: "string" }, "wan-rtt": { type: "string", default: "0" }, "keep-logs": { type: "string" },
  }, true);
  if (parsed === "help") return parsed;
  const v = parsed.values;
  const names = [...parsed.positionals];
  const command = names.shift() ?? "";
  const topologyFile = v.topology!;
  const preset = v.preset ?? null;
  const repeat = Number(v.repeat);
  const wanRttMs = Number(v["wan-rtt"]);
  if (!["up", "status", "drill", "down"].includes(command)) throw new UsageError(command ? `unknown command ${JSON.stringify(command)}; expected up, status, drill or down` : "a command is needed");
  if (preset !== null && !(preset in TIMING_PRESETS)) throw new InputError(`--preset must be one of ${Object.keys(TIMING_PRESETS).join(", ")}, got ${preset}`);
  if (!Number.isInteger(repeat) || repeat < 1) throw new InputError(`--repeat must be a positive integer, got ${v.repeat}`);
  if (!Number.isFinite(wanRttMs) || wanRttMs < 0 || wanRttMs > 1000) throw new InputError(`--wan-rtt must be a round trip in ms between 0 and 1000, got ${v["wan-rtt"]}`);
  if (wanRttMs > 0 && command !== "drill") throw new InputError(`--wan-rtt works with drill only: the WAN lives as long as the process that booted the lab`);
  const topology = loadTopology(topologyFile);
  try {
    checkDrills(names, topology, topologyFile, { kind: "loopback", capabilities: loopbackCapabilities({ topologyFile, wanRttMs }) }, LOOPBACK_HINTS);
  } catch (e) {
    throw new InputError((e as Error).message);
  }
  const resolvedPreset = (preset ?? topology.timing) as TimingPresetName;
  return {
    command, names, report: v.report ?? null, baseline: !v["no-baseline"], repeat, strictTargets: !!v["strict-targets"],
    options: { topologyFile: path.resolve(topologyFile), preset: resolvedPreset, root: path.resolve(v.dir!), net: v.net ?? (wanRttMs > 0 ? "127.0.40" : "127.0.0"), wanRttMs, keepLogs: v["keep-logs"] === undefined ? undefined : path.resolve(v["keep-logs"]) },
  };
}

/** Runs the lab CLI; returns the exit code (the shared convention, lib/cli.ts: 3 when a drill was unsafe). */
export async function main(argv: readonly string[], io: Io = CONSOLE_IO): Promise<number> {
  try {
    const args = parseArgs(argv);
    if (args === "help") {
      io.log(USAGE);
      return EXIT.ok;
    }
    return await run(args, io.log);
  } catch (e) {
    return reportError(e, io, USAGE, [TopologyError]);
  }
}

async function run(args: Args, log: (line: string) => void): Promise<number> {
  const { root } = args.options;
  switch (args.command) {
    case "up":
      await Lab.up(args.options, log);
      return 0;
    case "status": {
      if (!Lab.exists(root)) {
        log(`no lab in ${root}`);
        return EXIT.badInput;
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
      return unsafe.length > 0 || (args.strictTargets && results.some((r) => !r.passed)) ? EXIT.policy : EXIT.ok;
    }
  }
}

if (require.main === module) main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
