// patronictl against the lab, with the same config file and environment as the node's Patroni.
import { execFile } from "child_process";
import * as path from "path";
import type { Lab } from "./lab";
import { CONFIG_FILES, patroniEnvironment } from "./render";

export function patronictl(lab: Lab, viaHost: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const config = path.join(lab.env.paths(lab.host(viaHost)).configDir, CONFIG_FILES.patroni);
  return new Promise((resolve, reject) => {
    execFile("/usr/bin/patronictl", ["-c", config, ...args], { env: { ...process.env, ...patroniEnvironment(lab.secrets) }, timeout: timeoutMs },
      (err, stdout, stderr) => (err ? reject(new Error(`patronictl ${args.join(" ")}: ${stderr.trim() || stdout.trim() || err.message}`)) : resolve(stdout)));
  });
}

/** Sets synchronous_mode in the DCS, as the region-failover hook does (DESIGN.md, LAB-NOTES.md). */
export function setSynchronousMode(lab: Lab, viaHost: string, on: boolean): Promise<string> {
  return patronictl(lab, viaHost, ["edit-config", "--force", "-s", `synchronous_mode=${on}`]);
}
