// The failover hook on the surviving region's monitoring host: receives Alertmanager's critical
// database alerts and fails over only after its own confirmations (and fencing in standby-cluster mode).
// It runs as its own system user, which may read its settings and tokens and nothing it could change.
import { PATRONI_ETCD_ENV_LINES } from "../views/etcd-auth";
import { SSL_CERT_GROUP } from "./pki";
import { FAILOVER_HOOK_AUTH_FILE, FAILOVER_HOOK_DIR, FAILOVER_HOOK_ETCD_ENV_FILE, FAILOVER_HOOK_SCRIPT, FAILOVER_HOOK_TOKEN_FILE, FAILOVER_HOOK_USER } from "../views/failover";
import { apt, copyFile, handler, secretFile, SHARED_FILES, started, type Role } from "./role";

const UNIT = "shop-failover-hook";
/** Settings and tokens: root's, readable by the hook's group only. */
const readable = { owner: "root", group: FAILOVER_HOOK_USER, mode: "0640" };

export const failoverHookRole: Role = {
  name: "failover_hook",
  description: "Database failover hook: Alertmanager webhook receiver that confirms a region loss before acting.",
  inputs: [
    { name: "failover_hook_mode", type: "str", default: "stretched", description: "Database mode; standby-cluster fences with the DigitalOcean API before promoting." },
  ],
  install: [
    apt("Install patronictl", ["patroni"]),
    {
      name: "Create the hook's system user",
      // In ssl-cert: patronictl presents the host's certificate to etcd, whose key is root:ssl-cert 0640.
      "ansible.builtin.user": {
        name: FAILOVER_HOOK_USER, system: true, shell: "/usr/sbin/nologin", home: `/var/lib/${FAILOVER_HOOK_USER}`, create_home: false,
        groups: [SSL_CERT_GROUP], append: true,
      },
      notify: "Restart failover hook",
    },
  ],
  configure: [
    { name: "Create the settings directory", "ansible.builtin.file": { path: FAILOVER_HOOK_DIR, state: "directory", owner: "root", group: FAILOVER_HOOK_USER, mode: "0750" } },
    { name: "Create the program directory", "ansible.builtin.file": { path: "/usr/local/lib/shop-failover-hook", state: "directory", owner: "root", group: "root", mode: "0755" } },
    copyFile("Install the hook", `${SHARED_FILES}/failover-hook/failover-hook.py`, FAILOVER_HOOK_SCRIPT, { mode: "0644", notify: "Restart failover hook" }),
    copyFile("Install its settings", `${SHARED_FILES}/failover-hook/failover-hook.ini`, `${FAILOVER_HOOK_DIR}/failover-hook.ini`, { ...readable, notify: "Restart failover hook" }),
    copyFile("Install its patronictl config", `${SHARED_FILES}/failover-hook/patronictl.yml`, `${FAILOVER_HOOK_DIR}/patronictl.yml`, { ...readable, notify: "Restart failover hook" }),
    secretFile("Write the token Alertmanager authenticates with", FAILOVER_HOOK_AUTH_FILE, ["{{ vault_failover_hook_token }}"], { ...readable, notify: "Restart failover hook" }),
    secretFile("Write the DigitalOcean token it fences with", FAILOVER_HOOK_TOKEN_FILE, ["{{ vault_failover_digitalocean_token }}"], {
      ...readable, when: "failover_hook_mode == 'standby-cluster'",
    }),
    // Root's only (not the hook's group): systemd hands it to the hook's environment at start.
    secretFile("Write patronictl's etcd password from Vault", FAILOVER_HOOK_ETCD_ENV_FILE, PATRONI_ETCD_ENV_LINES, {
      mode: "0600", notify: "Restart failover hook",
    }),
    copyFile("Install the unit", `${SHARED_FILES}/failover-hook/${UNIT}.service`, `/etc/systemd/system/${UNIT}.service`, { mode: "0644", notify: "Restart failover hook" }),
  ],
  service: [started("Run the hook", UNIT)],
  handlers: [handler("Restart failover hook", UNIT, "restarted")],
};
