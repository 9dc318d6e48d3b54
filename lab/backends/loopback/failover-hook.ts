// The generated failover hook (templates/failover/failover-hook.py), run as the lab's region-failover
// decision maker. Only its listen address, settings directory and the DigitalOcean API it fences
// through differ from production (RenderEnv.failoverHook: a lab host, the lab's directory, the lab's
// stand-in API). The Alertmanager that would trigger it is not booted: the lab posts the firing alert itself, the moment
// the leader key is gone or the region's Patroni APIs stop answering (production adds the alert's
// `for:` and Alertmanager's group_wait).
import * as fs from "fs";
import * as https from "https";
import * as path from "path";
import { renderFailoverHookConfig, renderFailoverHookScript, renderFailoverPatronictlConfig } from "../../../playbooks-gen/render/failover";
import { FAILOVER_HOOK_AUTH_NAME, FAILOVER_HOOK_TOKEN_NAME } from "../../../playbooks-gen/views/failover";
import { randomBytes } from "crypto";
import type { Topology } from "../../../lib/model";
import { killAll, waitFor, type Proc, type SpawnSpec } from "../../proc";
import type { FailoverHookControl } from "../types";
import type { LabEnv } from "./env";
import type { Secrets } from "./render";
import { patroniEtcdEnvironment } from "../../../playbooks-gen/views/etcd-auth";

/** What the hook needs of the lab: where it runs, and a way to start and record a process there. */
export interface HookHost {
  readonly t: Topology;
  readonly env: LabEnv;
  readonly secrets: Secrets;
  startOn(host: string, spec: SpawnSpec): Proc;
  adopt(key: string, proc: Proc): void;
}

/** One POST to the hook as Alertmanager's webhook sends it: HTTPS verified against `caFile`. Resolves
 * to the answer's status (and its WWW-Authenticate); rejects on a connection or TLS failure. */
export function postToHook(url: string, body: string, headers: Record<string, string>, caFile: string, timeoutMs = 5000): Promise<{ status: number; authenticate?: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method: "POST", ca: fs.readFileSync(caFile), timeout: timeoutMs,
      headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), ...headers },
    }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, authenticate: res.headers["www-authenticate"] as string | undefined });
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(body);
  });
}

export class FailoverHook implements FailoverHookControl {
  private constructor(private readonly proc: Proc, private readonly url: string, private readonly caFile: string, readonly logFile: string, private readonly authToken: string) {}

  /** Starts a fresh hook (it acts once per start), or returns null when the topology has none.
   * `token` is what it sends the DigitalOcean API (the lab's stand-in checks it). */
  static start(lab: HookHost, token = "lab-token-unused"): FailoverHook | null {
    const hook = lab.env.failoverHook;
    if (!hook) return null;
    fs.mkdirSync(hook.dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(hook.dir, "failover-hook.ini"), renderFailoverHookConfig(lab.t, lab.env));
    fs.writeFileSync(path.join(hook.dir, "patronictl.yml"), renderFailoverPatronictlConfig(lab.t, lab.env));
    fs.writeFileSync(path.join(hook.dir, "failover-hook.py"), renderFailoverHookScript());
    fs.writeFileSync(path.join(hook.dir, FAILOVER_HOOK_TOKEN_NAME), `${token}\n`, { mode: 0o600 });
    // What Alertmanager presents (production: vault_failover_hook_token); the hook refuses anyone else.
    const authToken = randomBytes(16).toString("hex");
    fs.writeFileSync(path.join(hook.dir, FAILOVER_HOOK_AUTH_NAME), `${authToken}\n`, { mode: 0o600 });
    const logFile = path.join(hook.dir, "failover-hook.log");
    fs.rmSync(logFile, { force: true }); // outcome() reads this run's decision only
    // On a host of the surviving region (in its namespace when the lab has a WAN).
    const hookHost = lab.env.hosts.find((h) => hook.listen.startsWith(`${lab.env.addressOf(h.name)}:`))!;
    // patronictl's etcd password, as production's unit hands it over from its root-only EnvironmentFile.
    const env = { ...process.env, ...patroniEtcdEnvironment(lab.secrets.etcdPatroni) };
    const proc = lab.startOn(hookHost.name, { cmd: "/usr/bin/python3", args: [path.join(hook.dir, "failover-hook.py"), path.join(hook.dir, "failover-hook.ini")], env, logFile, cwd: hook.dir });
    lab.adopt("failover-hook", proc);
    return new FailoverHook(proc, `https://${hook.listen}/`, lab.env.tls(hookHost).caFile, logFile, authToken);
  }

  /** What Alertmanager would POST once `alertname` fires (PatroniNoLeader, DatabaseRegionDown): over
   * HTTPS verified against the deployment CA, with the bearer token, as the generated webhook does. */
  async trigger(alertname = "PatroniNoLeader"): Promise<void> {
    const body = JSON.stringify({ status: "firing", alerts: [{ status: "firing", labels: { alertname, severity: "critical", component: "database" } }] });
    // The hook may still be binding its port right after start.
    const status = await waitFor("the failover hook to take the alert", 5000, () =>
      postToHook(this.url, body, { Authorization: `Bearer ${this.authToken}` }, this.caFile, 3000).then((r) => r.status, () => null), 100);
    if (status !== 200) throw new Error(`failover hook answered ${status}`);
  }

  /** The hook's log so far (its decisions, one per line). */
  log(): string {
    return fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, "utf8") : "";
  }

  /** "applied" once the hook changed the DCS, "stopped: …" when it gave up, null while it works. */
  async outcome(): Promise<string | null> {
    const line = this.log().split("\n").find((l) => l.startsWith("applied ") || l.startsWith("failover stopped") || l.startsWith("not confirmed"));
    return line ?? null;
  }

  async stop(): Promise<void> {
    await killAll([this.proc], "SIGTERM");
  }
}
