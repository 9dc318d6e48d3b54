// The generated failover hook (templates/failover/failover-hook.py), run as the lab's region-failover
// decision maker. Only its listen address and its settings directory differ from production; the
// Alertmanager that would trigger it is not booted: the lab posts the firing alert itself, the moment
// the leader key is gone (production adds the alert's `for:` and Alertmanager's group_wait).
import * as fs from "fs";
import * as path from "path";
import { renderFailoverHookConfig, renderFailoverHookScript, renderFailoverPatronictlConfig } from "../playbooks-gen/render/failover";
import { FAILOVER_HOOK_DIR, FAILOVER_HOOK_LISTEN, failoverHookNeeded, survivingRegion } from "../playbooks-gen/views/failover";
import type { Lab } from "./cluster";
import { killAll, start, type Proc } from "./proc";

const HOOK_PORT = Number(FAILOVER_HOOK_LISTEN.split(":")[1]);

export class FailoverHook {
  private constructor(private readonly proc: Proc, private readonly url: string, readonly logFile: string) {}

  /** Starts a fresh hook (it acts once per start), or returns null when the topology has none. */
  static start(lab: Lab): FailoverHook | null {
    if (!failoverHookNeeded(lab.t)) return null;
    const dir = path.join(lab.env.root, "hosts", "failover-hook");
    fs.mkdirSync(dir, { recursive: true });
    // The hook lives on a host of the surviving region; the lab gives it that region's HAProxy host address.
    const host = lab.hostsRunning("haproxy").find((h) => h.region === survivingRegion(lab.t))!;
    const listen = `${lab.env.addressOf(host.name)}:${HOOK_PORT}`;
    const ini = renderFailoverHookConfig(lab.t, lab.env).split(FAILOVER_HOOK_LISTEN).join(listen).split(FAILOVER_HOOK_DIR).join(dir);
    fs.writeFileSync(path.join(dir, "failover-hook.ini"), ini);
    fs.writeFileSync(path.join(dir, "patronictl.yml"), renderFailoverPatronictlConfig(lab.t, lab.env));
    fs.writeFileSync(path.join(dir, "failover-hook.py"), renderFailoverHookScript());
    const logFile = path.join(dir, "failover-hook.log");
    fs.rmSync(logFile, { force: true }); // outcome() reads this run's decision only
    const proc = start({ cmd: "/usr/bin/python3", args: [path.join(dir, "failover-hook.py"), path.join(dir, "failover-hook.ini")], logFile, cwd: dir });
    lab.adopt("failover-hook", proc);
    return new FailoverHook(proc, `http://${listen}/`, logFile);
  }

  /** What Alertmanager would POST once the no-leader alert fires. */
  async trigger(): Promise<void> {
    const body = { status: "firing", alerts: [{ status: "firing", labels: { alertname: "PatroniNoLeader" } }] };
    const res = await fetch(this.url, { method: "POST", body: JSON.stringify(body), signal: AbortSignal.timeout(3000) });
    if (!res.ok) throw new Error(`failover hook answered ${res.status}`);
  }

  /** "applied" once the hook changed the DCS, "stopped: …" when it gave up, null while it works. */
  outcome(): string | null {
    const text = fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, "utf8") : "";
    const line = text.split("\n").find((l) => l.startsWith("applied ") || l.startsWith("failover stopped") || l.startsWith("not confirmed"));
    return line ?? null;
  }

  async stop(): Promise<void> {
    await killAll([this.proc], "SIGTERM");
  }
}
