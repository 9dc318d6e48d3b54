// Database hosts as the loopback lab supervises them: each one's watchdog (the lab's softdog stand-in,
// lab/stand-ins/watchdog-stand-in.py), the boot after a watchdog reset, and Patroni restarted the way
// the generated systemd drop-in restarts it.
import * as fs from "fs";
import * as path from "path";
import { PATRONI_RESTART_SECONDS, type Host, type Service } from "../../../lib/model";
import { isAlive, labScript, start, waitFor, type Proc } from "../../proc";
import type { WatchdogStatus } from "../types";
import type { LabEnv } from "./env";

/** What the supervision needs of the lab. */
export interface SupervisedLab {
  readonly env: LabEnv;
  /** The lab's state.json: a watchdog reset reads what to kill from it. */
  readonly stateFile: string;
  hostsRunning(service: Service): readonly Host[];
  host(name: string): Host;
  /** A live process the lab started for a host's service. */
  proc(host: string, service: Service): Proc | undefined;
  /** A live process the lab recorded under `key`, and recording one. */
  recorded(key: string): Proc | undefined;
  record(key: string, proc: Proc): void;
  postgresRunning(host: string): boolean;
  startPatroni(host: Host): void;
}

/** PostgreSQL refuses to run as root; the stand-in's pipe must belong to Patroni's user. */
const PATRONI_USER = "postgres";

export class DatabaseHostSupervision {
  constructor(private readonly lab: SupervisedLab) {}

  /** A database host's watchdog, as softdog would be there: the lab's stand-in (lab/stand-ins/watchdog-stand-in.py)
   * behind the named pipe Patroni's `testing` driver opens. Hardware, not a service: it runs in the root
   * namespace, as root, survives a crash of the host's processes and resets the host when an armed
   * watchdog starves. Started before Patroni, once per power-on. */
  startWatchdog(host: Host): void {
    const key = `${host.name}/watchdog`;
    if (this.lab.recorded(key)) return;
    const p = this.lab.env.paths(host);
    const device = this.lab.env.watchdog(host).device;
    const status = this.watchdogStatusFile(host.name);
    fs.rmSync(status, { force: true });
    const proc = start({
      cmd: "/usr/bin/python3",
      args: [labScript("stand-ins/watchdog-stand-in.py"), "--device", device, "--host", host.name, "--state", this.lab.stateFile,
        "--pgdata", p.pgDataDir, "--status", status, ...(process.getuid?.() === 0 ? ["--owner", PATRONI_USER] : [])],
      logFile: path.join(p.logDir, "watchdog.out"),
    });
    this.lab.record(key, proc);
    // Patroni must find the pipe (and a reader behind it) before it could lead.
    const until = Date.now() + 10_000;
    while (!fs.existsSync(status)) {
      if (Date.now() > until || !isAlive(proc)) throw new Error(`the watchdog stand-in of ${host.name} did not start; see ${path.join(p.logDir, "watchdog.out")}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }

  private watchdogStatusFile(host: string): string {
    return path.join(this.lab.env.paths(this.lab.host(host)).runDir, "watchdog.json");
  }

  /** The host's watchdog stand-in's status, or null when it is not running (no power). */
  status(host: string): WatchdogStatus | null {
    if (!this.lab.recorded(`${host}/watchdog`)) return null;
    try {
      return JSON.parse(fs.readFileSync(this.watchdogStatusFile(host), "utf8")) as WatchdogStatus;
    } catch {
      return null;
    }
  }

  /** Boots the database hosts that still have power but no Patroni (killed, or reset by their watchdog),
   * as a reboot would: first waiting out a watchdog left armed by the dead Patroni, whose reset is due
   * and would kill the new one. Hosts without power (a lost region) are left to their region's return. */
  async recover(since: number): Promise<string[]> {
    const notes: string[] = [];
    for (const h of this.lab.hostsRunning("patroni")) {
      const before = this.status(h.name);
      if (!before || this.lab.proc(h.name, "patroni")) continue;
      const settled = await waitFor(`the armed watchdog of ${h.name} to fire`, (before.timeoutSeconds + 5) * 1000, () => {
        const st = this.status(h.name);
        return st && !st.armed ? st : undefined;
      }, 100);
      if (this.lab.postgresRunning(h.name)) {
        notes.push(`${h.name}: PostgreSQL still running without Patroni and no watchdog reset due; left as is`);
        continue;
      }
      const reset = settled.resets.filter((r) => r.at >= since).at(-1);
      this.lab.startPatroni(h);
      this.keepPatroniRunning(h);
      notes.push(reset ? `${h.name} reset by its watchdog ${(reset.at - since).toFixed(1)} s after the fault (killed ${reset.killed.length} processes), booted again`
        : `${h.name} booted again (its watchdog was not armed)`);
    }
    return notes;
  }

  /** Hosts whose Patroni the lab restarts when it exits, and how often it did. */
  private restarters = new Map<string, { timer: NodeJS.Timeout; restarts: number }>();

  /** What the generated systemd drop-in does for a booted host: start Patroni again
   * PATRONI_RESTART_SECONDS after it exits (it exits when it cannot reach etcd at start-up, e.g. in a
   * region still cut off), while the host has power and no watchdog reset is due. */
  private keepPatroniRunning(host: Host): void {
    if (this.restarters.has(host.name)) return;
    let goneSince: number | null = null;
    const entry = { restarts: 0, timer: setInterval(() => {
      const wd = this.status(host.name);
      if (this.lab.proc(host.name, "patroni") || !wd || wd.armed) {
        goneSince = null;
        return;
      }
      goneSince ??= Date.now();
      if (Date.now() - goneSince < PATRONI_RESTART_SECONDS * 1000) return;
      goneSince = null;
      entry.restarts++;
      this.lab.startPatroni(host);
    }, 250) };
    entry.timer.unref();
    this.restarters.set(host.name, entry);
  }

  /** Stops restarting Patroni on booted hosts; says how often it had to. */
  stopRestarting(): string[] {
    const notes: string[] = [];
    for (const [name, r] of this.restarters) {
      clearInterval(r.timer);
      if (r.restarts) notes.push(`${name}: Patroni exited and was started again ${r.restarts}× (every ${PATRONI_RESTART_SECONDS} s, as the generated systemd drop-in does)`);
    }
    this.restarters.clear();
    return notes;
  }
}
