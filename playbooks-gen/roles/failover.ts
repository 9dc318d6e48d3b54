// The failover hook on the surviving region's monitoring host: receives Alertmanager's critical
// database alerts and fails over only after its own confirmations (and fencing in standby-cluster mode).
import { FAILOVER_HOOK_DIR, FAILOVER_HOOK_SCRIPT, FAILOVER_HOOK_TOKEN_FILE } from "../views/failover";
import { apt, copyFile, directory, handler, secretFile, SHARED_FILES, started, type Role } from "./role";

const UNIT = "shop-failover-hook";

export const failoverHookRole: Role = {
  name: "failover_hook",
  description: "Database failover hook: Alertmanager webhook receiver that confirms a region loss before acting.",
  inputs: [
    { name: "failover_hook_mode", type: "str", default: "stretched", description: "Database mode; standby-cluster fences with the DigitalOcean API before promoting." },
  ],
  install: [apt("Install patronictl", ["patroni"])],
  configure: [
    directory("Create the settings directory", FAILOVER_HOOK_DIR, "root", "0700"),
    directory("Create the program directory", "/usr/local/lib/shop-failover-hook", "root", "0755"),
    copyFile("Install the hook", `${SHARED_FILES}/failover-hook/failover-hook.py`, FAILOVER_HOOK_SCRIPT, { mode: "0644", notify: "Restart failover hook" }),
    copyFile("Install its settings", `${SHARED_FILES}/failover-hook/failover-hook.ini`, `${FAILOVER_HOOK_DIR}/failover-hook.ini`, { mode: "0644", notify: "Restart failover hook" }),
    copyFile("Install its patronictl config", `${SHARED_FILES}/failover-hook/patronictl.yml`, `${FAILOVER_HOOK_DIR}/patronictl.yml`, { mode: "0644", notify: "Restart failover hook" }),
    secretFile("Write the DigitalOcean token it fences with", FAILOVER_HOOK_TOKEN_FILE, ["{{ vault_failover_digitalocean_token }}"], {
      mode: "0600", when: "failover_hook_mode == 'standby-cluster'",
    }),
    copyFile("Install the unit", `${SHARED_FILES}/failover-hook/${UNIT}.service`, `/etc/systemd/system/${UNIT}.service`, { mode: "0644", notify: "Restart failover hook" }),
  ],
  service: [started("Run the hook", UNIT)],
  handlers: [handler("Restart failover hook", UNIT, "restarted")],
};
