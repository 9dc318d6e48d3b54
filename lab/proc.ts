// Process supervision without systemd: spawn detached with per-host logs, remember (pid, start time)
// so a recycled PID is never signalled, treat zombies as dead (PID 1 here reaps only every ~2 s).
import { spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** A Python helper shipped in lab/ (`name`: its path under lab/): next to this file under ts-jest; in the source tree when running
 * from dist/lab, where the .py files are not copied. */
export function labScript(name: string): string {
  const candidates = [path.join(__dirname, name), path.join(__dirname, "..", "..", "lab", name)];
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) throw new Error(`lab/${name} not found (looked in ${candidates.join(", ")})`);
  return found;
}

export interface Proc {
  readonly pid: number;
  /** Field 22 of /proc/PID/stat: tells our process from a later one that reused the PID. */
  readonly startTime: string;
}

function stat(pid: number): { state: string; ppid: number; startTime: string } | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces; the rest follows the last ')'.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: rest[0], ppid: Number(rest[1]), startTime: rest[19] };
}

export function procOf(pid: number): Proc | null {
  const s = stat(pid);
  return s && s.state !== "Z" ? { pid, startTime: s.startTime } : null;
}

/** The running ones of these spawned children, as Procs for signal() and killAll(); one that has exited
 * is left out (its PID may be reused already). */
export function procsOfChildren(children: Iterable<ChildProcess | undefined>): Proc[] {
  return [...children].flatMap((c) => (c?.pid !== undefined && c.exitCode === null && c.signalCode === null ? [procOf(c.pid)] : []))
    .filter((p): p is Proc => p !== null);
}

export function isAlive(p: Proc): boolean {
  const s = stat(p.pid);
  return s !== null && s.state !== "Z" && s.startTime === p.startTime;
}

/** Live children of a process (PostgreSQL backends of a postmaster). */
export function childrenOf(p: Proc): Proc[] {
  const kids: Proc[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(Number(entry));
    if (s && s.ppid === p.pid && s.state !== "Z") kids.push({ pid: Number(entry), startTime: s.startTime });
  }
  return kids;
}

export function signal(p: Proc, sig: NodeJS.Signals): boolean {
  if (!isAlive(p)) return false;
  try {
    process.kill(p.pid, sig);
    return true;
  } catch {
    return false;
  }
}

export interface SpawnSpec {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly logFile: string;
  /** Run as this user when we are root (PostgreSQL refuses to run as root). */
  readonly user?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Command that runs the rest in another namespace and execs it (nsenter …): it comes first, before
   * setpriv, since entering a namespace needs root. */
  readonly prefix?: readonly string[];
}

export function start(spec: SpawnSpec): Proc {
  const out = fs.openSync(spec.logFile, "a");
  const asUser = spec.user && process.getuid?.() === 0;
  // setpriv execs the target, so the PID we record is the server's own.
  const argv = [
    ...(spec.prefix ?? []),
    ...(asUser ? ["/usr/bin/setpriv", `--reuid=${spec.user}`, `--regid=${spec.user}`, "--init-groups", "--"] : []),
    spec.cmd, ...spec.args,
  ];
  const [cmd, args] = [argv[0], argv.slice(1)];
  const child = spawn(cmd, args, { detached: true, stdio: ["ignore", out, out], env: spec.env ?? process.env, cwd: spec.cwd });
  fs.closeSync(out);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${spec.cmd} (see ${spec.logFile})`);
  const p = procOf(child.pid);
  if (!p) throw new Error(`${spec.cmd} exited at once; see ${spec.logFile}`);
  return p;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Pending = undefined | null | false;

/** Polls `check` every `everyMs` until it returns something other than undefined/null/false; throws after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | Pending> | T | Pending, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== null && v !== false) return v as T;
    } catch (e) {
      lastError = `: last error ${(e as Error).message}`;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${lastError}`);
    await sleep(everyMs);
  }
}

/** SIGKILL and wait until the processes are gone (or zombies). */
export async function killAll(procs: readonly Proc[], sig: NodeJS.Signals = "SIGKILL"): Promise<void> {
  for (const p of procs) signal(p, sig);
  await waitFor(`pids ${procs.map((p) => p.pid).join(",")} to exit`, 10_000, () => procs.every((p) => !isAlive(p)));
}
