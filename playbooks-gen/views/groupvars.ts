// group_vars: the topology's values for the role inputs, one file per group (role-prefixed names).
import { hostsRunning } from "../../lib/model/hosts";
import { DEPLOY_USER, namePrefix } from "../../lib/model/naming";
import type { DeployOutputs } from "../../lib/model/outputs";
import { PORTS } from "../../lib/model/ports";
import { presetOf } from "../../lib/model/timing";
import type { Topology } from "../../lib/model/types";
import type { RenderEnv } from "../render-env";
import { sentinelMasterName, sentinelQuorum } from "./clusters";
import { etcHostsBlock } from "./inventory";

export const APP_DATABASE = "shop";

/** Debian packages the app hosts need: npm only when the app's own commands run it (Debian's npm
 * brings about 600 packages; an app shipped with its dependencies needs Node.js alone). */
export function appPackages(t: Topology): string[] {
  const usesNpm = [t.app.buildCommand, t.app.startCommand, t.app.workerCommand].some((c) => /(^|[\s;&|(])(npm|npx)(\s|$)/.test(c));
  return ["git", "nodejs", ...(usesNpm ? ["npm"] : [])];
}

function appVars(t: Topology, env: RenderEnv, units: readonly string[]) {
  return {
    app_repository: t.app.repository,
    app_version: t.app.version,
    app_packages: appPackages(t),
    app_build_command: t.app.buildCommand,
    app_port: t.app.port,
    app_health_path: t.app.healthPath,
    app_database_name: APP_DATABASE,
    app_database_user: APP_DATABASE,
    app_database_primary_port: PORTS.haproxyPrimary,
    app_database_replicas_port: PORTS.haproxyReplicas,
    app_redis_sentinels: hostsRunning(t, "sentinel").map((h) => `${env.addressOf(h.name)}:${PORTS.sentinel}`).join(","),
    app_redis_master_name: sentinelMasterName(t),
    app_systemd_units: [...units],
  };
}

/** Group name → variables. */
export function groupVarsView(t: Topology, outputs: DeployOutputs, env: RenderEnv): Record<string, Record<string, unknown>> {
  const { patroni } = presetOf(t);
  const redis = { redis_sentinel_master_name: sentinelMasterName(t), redis_sentinel_quorum: sentinelQuorum(t) };
  return {
    all: {
      // Playbooks take addresses from inventory variables, never from facts.
      ansible_python_interpreter: "/usr/bin/python3",
      // cloud-init creates this user with the SSH keys and passwordless sudo; root SSH is disabled.
      ansible_user: DEPLOY_USER,
      ansible_become_method: "sudo",
      shop_deployment: namePrefix(t),
      // Rendered per-host configs sit beside the inventory directory.
      shop_files_dir: "{{ inventory_dir }}/../files",
      common_etc_hosts_block: etcHostsBlock(t, outputs),
    },
    postgres_cluster: {
      patroni_ttl: patroni.ttl,
      patroni_loop_wait: patroni.loopWait,
      patroni_retry_timeout: patroni.retryTimeout,
      patroni_postgres_version: t.database.postgresVersion,
      patroni_app_database: APP_DATABASE,
      patroni_app_user: APP_DATABASE,
    },
    redis,
    sentinel: redis,
    monitoring: { failover_hook_mode: t.database.mode },
    app: appVars(t, env, ["shop-app"]),
    workers: appVars(t, env, ["shop-worker"]),
  };
}
