// Stopping a test's child processes before their directory goes: a server asked to stop (SIGTERM) keeps
// writing while it shuts down (Alertmanager snapshots its silences and notification log into its
// storage directory), so removing that directory right after the signal races it (ENOTEMPTY).
// stopChildren() signals, waits for every exit within a bound, then SIGKILLs what is left and waits again.
import { ChildProcess } from "child_process";

const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;

function waitExit(c: ChildProcess, ms: number): Promise<boolean> {
  if (exited(c)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => { c.off("exit", onExit); resolve(exited(c)); }, ms);
    const onExit = () => { clearTimeout(timer); resolve(true); };
    c.once("exit", onExit);
  });
}

/** Sends `signal` to each running child, waits up to `graceMs` for it to exit, then SIGKILLs it and waits
 * up to 5 s more. Throws if one still runs (its pid named), so a test never removes a live process's files. */
export async function stopChildren(children: Iterable<ChildProcess | undefined>, signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<void> {
  const running = [...children].filter((c): c is ChildProcess => c !== undefined && c.pid !== undefined && !exited(c));
  await Promise.all(running.map(async (c) => {
    c.kill(signal);
    if (await waitExit(c, graceMs)) return;
    c.kill("SIGKILL");
    if (!(await waitExit(c, 5000))) throw new Error(`child ${c.pid} (${c.spawnfile}) did not exit after ${signal} and SIGKILL`);
  }));
}
