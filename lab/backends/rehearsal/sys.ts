// Small process helpers for the rehearsal: run a program and get its output, fail with its stderr,
// poll with a deadline. Nothing here knows about hosts or the topology.
import { spawn, spawnSync, type SpawnSyncOptions } from "child_process";

export interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion (no shell); never throws for a non-zero exit. */
export function run(argv: readonly string[], opts: SpawnSyncOptions = {}): Ran {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, ...opts });
  if (r.error) return { code: 127, stdout: "", stderr: `${argv[0]}: ${r.error.message}` };
  return { code: r.status ?? 128 + 9, stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? "") };
}

export class CommandError extends Error {
  constructor(readonly argv: readonly string[], readonly ran: Ran) {
    super(`${argv.join(" ")} exited ${ran.code}: ${(ran.stderr || ran.stdout).trim().split("\n").slice(-6).join("\n")}`);
    this.name = "CommandError";
  }
}

/** Runs a program and throws with its last lines of stderr when it fails. */
export function runOk(argv: readonly string[], opts: SpawnSyncOptions = {}): string {
  const r = run(argv, opts);
  if (r.code !== 0) throw new CommandError(argv, r);
  return r.stdout;
}

/** Runs a program asynchronously, collecting output (and optionally streaming it), bounded in time. */
export function runAsync(argv: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; onOutput?: (chunk: string) => void; input?: string } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { env: opts.env ?? process.env, cwd: opts.cwd, stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = opts.timeoutMs ? setTimeout(() => { timedOut = true; child.kill("SIGKILL"); }, opts.timeoutMs) : null;
    child.stdout!.on("data", (d: Buffer) => { stdout += d; opts.onOutput?.(d.toString()); });
    child.stderr!.on("data", (d: Buffer) => { stderr += d; opts.onOutput?.(d.toString()); });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    child.on("error", (e) => { if (timer) clearTimeout(timer); resolve({ code: 127, stdout, stderr: `${argv[0]}: ${e.message}` }); });
    child.on("close", (code, sig) => {
      if (timer) clearTimeout(timer);
      resolve({ code: timedOut ? 124 : code ?? 128 + (sig === "SIGKILL" ? 9 : 15), stdout, stderr: timedOut ? `${stderr}\ntimed out after ${opts.timeoutMs} ms` : stderr });
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a truthy value; throws after `timeoutMs` naming what was awaited. */
export async function poll<T>(what: string, timeoutMs: number, probe: () => T | Promise<T>, everyMs = 500): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
    await sleep(everyMs);
  }
}

/** True while a process exists and is not a zombie (PID 1 here reaps slowly: see LAB-NOTES). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const r = run(["ps", "-o", "stat=", "-p", String(pid)]);
  return r.code === 0 && !r.stdout.trim().startsWith("Z");
}
