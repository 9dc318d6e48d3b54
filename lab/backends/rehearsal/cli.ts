// npm run rehearse -- up | converge | check | drill NAME… | exec HOST -- CMD… | wan | status | down
//   [--topology FILE] [--wan-rtt MS] [--report FILE] [--root DIR]
// Exit codes (the shared convention, lib/cli.ts): 0 done, 1 internal error, 2 bad input or a machine
// that cannot run it, 3 a failed converge, check or drill.
import * as path from "path";
import { CONSOLE_IO, EXIT, parseCli as parseShared, reportError, UsageError } from "../../../lib/cli";
import { TopologyError } from "../../../lib/model/load";
import { RehearsalError } from "./errors";
import { down, readState, setWanRtt, up } from "./rehearsal";
import { execOn } from "./hosts";
import { rehearsalPaths } from "./plan";

const USAGE = `usage: npm run rehearse -- <command> [options]
commands:
  up                   boot one bare Debian 12 host per host of the topology (cloud-init from the synthesized user_data)
  converge             the README's deploy: npm run generate, ansible-vault, ansible-playbook site.yml — twice
  check                judge the converged shop from its hosts (etcd, Patroni, HAProxy, Redis, Prometheus, app, systemd)
  drill NAME…          run failover drills on the converged hosts (primary-loss switchover region-loss redis-primary-loss)
  exec HOST -- CMD…    run a command as root on a host; prints its output, exits with its status
  wan --wan-rtt MS     change the round trip between the regions of the running rehearsal
  status               what is up
  down                 remove everything the rehearsal made (also after an interrupted up or converge)
options:
  --topology FILE      topology (default examples/topology.yaml)
  --wan-rtt MS         round trip between regions (with up, default 0; with wan, required)
  --report FILE        write the JSON report here (default <root>/report.json)
  --root DIR           working directory (default .rehearsal)
  --purge              with down: also remove the cached image and packages
  --no-firewall        with up: do not load the synthesized cloud firewalls into the hosts' namespaces
  -h, --help           this text`;

export interface CliOptions {
  command: string;
  args: string[];
  topology: string;
  wanRttMs: number;
  report: string | null;
  root: string;
  purge: boolean;
  firewall: boolean;
}

export function parseCli(argv: readonly string[]): CliOptions | "help" {
  const dash = argv.indexOf("--");
  const head = dash >= 0 ? argv.slice(0, dash) : [...argv];
  const tail = dash >= 0 ? argv.slice(dash + 1) : [];
  const parsed = parseShared(head, {
    topology: { type: "string", default: "examples/topology.yaml" }, "wan-rtt": { type: "string", default: "0" },
    report: { type: "string" }, root: { type: "string", default: ".rehearsal" }, purge: { type: "boolean", default: false },
    "no-firewall": { type: "boolean", default: false },
  }, true);
  if (parsed === "help") return "help";
  const v = parsed.values;
  const [command, ...args] = parsed.positionals;
  const commands = ["up", "converge", "check", "drill", "exec", "wan", "status", "down"];
  if (!command) throw new UsageError("a command is needed");
  if (!commands.includes(command)) throw new UsageError(`unknown command ${JSON.stringify(command)}; expected one of ${commands.join(", ")}`);
  const wanRttMs = Number(v["wan-rtt"]);
  if (!Number.isInteger(wanRttMs) || wanRttMs < 0 || wanRttMs > 1000) throw new UsageError(`--wan-rtt must be a whole number of milliseconds from 0 to 1000, got ${JSON.stringify(v["wan-rtt"])}`);
  if (command === "exec" && (args.length !== 1 || tail.length === 0)) throw new UsageError("exec takes one host and a command after --: exec HOST -- CMD…");
  if (command === "drill" && args.length === 0) throw new UsageError("drill needs at least one drill name");
  if (!["exec", "drill"].includes(command) && args.length) throw new UsageError(`${command} takes no arguments, got ${args.join(" ")}`);
  const rttGiven = argv.some((a) => a === "--wan-rtt" || a.startsWith("--wan-rtt="));
  if (!["up", "wan"].includes(command) && rttGiven) throw new UsageError("--wan-rtt goes with up (the network is made then) or wan (changes it)");
  if (command === "wan" && !rttGiven) throw new UsageError("wan needs --wan-rtt MS");
  if (command !== "up" && v["no-firewall"]) throw new UsageError("--no-firewall goes with up (the firewalls are loaded then)");
  return { command, args: command === "exec" ? [...args, ...tail] : args, topology: v.topology!, wanRttMs, report: v.report ?? null, root: v.root!, purge: v.purge!, firewall: !v["no-firewall"] };
}

const log = (line: string) => console.log(line);

export async function main(argv: readonly string[]): Promise<number> {
  let o: CliOptions | "help";
  try {
    o = parseCli(argv);
  } catch (e) {
    return reportError(e, CONSOLE_IO, USAGE, []);
  }
  if (o === "help") {
    console.log(USAGE);
    return EXIT.ok;
  }
  const p = rehearsalPaths(path.resolve(o.root));
  try {
    switch (o.command) {
      case "up":
        try {
          await up({ topologyFile: o.topology, root: o.root, wanRttMs: o.wanRttMs, log, firewall: o.firewall });
        } catch (e) {
          if (!(e instanceof RehearsalError && /already up/.test(e.message))) log("up failed; `npm run rehearse -- down` removes what it made");
          throw e;
        }
        return 0;
      case "down":
        await down(o.root, log, !o.purge);
        return 0;
      case "wan": {
        const before = setWanRtt(p, o.wanRttMs);
        log(`WAN round trip between regions: ${before} ms -> ${o.wanRttMs} ms`);
        return 0;
      }
      case "status": {
        const s = readState(p);
        if (!s) {
          log("no rehearsal is up");
          return 0;
        }
        log(JSON.stringify(s, null, 2));
        return 0;
      }
      case "exec": {
        const [host, ...cmd] = o.args;
        if (!readState(p)?.hosts[host]) throw new RehearsalError(`no rehearsal host named ${JSON.stringify(host)}; hosts: ${Object.keys(readState(p)?.hosts ?? {}).join(", ") || "(none: run up first)"}`);
        const r = await execOn(host, cmd, { timeoutMs: 600_000 });
        process.stdout.write(r.stdout);
        process.stderr.write(r.stderr);
        return r.code;
      }
      default: {
        const mod = await import(o.command === "drill" ? "./drill-cli" : `./${o.command}`);
        return await mod.run(o, p, log);
      }
    }
  } catch (e) {
    return reportError(e, CONSOLE_IO, USAGE, [RehearsalError, TopologyError]);
  }
}

if (require.main === module) {
  // Ctrl-C: stop here; `down` removes what was made (it finds everything by name).
  process.on("SIGINT", () => {
    console.error("interrupted; run `npm run rehearse -- down` to remove what the rehearsal made");
    process.exit(130);
  });
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 1; });
}
