// The failover hook's script, settings, patronictl config and unit, from templates/failover/.
import type { Topology } from "../../lib/model/types";
import { renderTemplate } from "../engine/templates";
import type { RenderEnv } from "../render-env";
import { FAILOVER_HOOK_DIR, FAILOVER_HOOK_ETCD_ENV_FILE, FAILOVER_HOOK_SCRIPT, FAILOVER_HOOK_USER, failoverHookView, failoverPatronictlView } from "../views/failover";

export function renderFailoverHookScript(): string {
  return renderTemplate("failover/failover-hook.py.hbs", {});
}

export function renderFailoverHookConfig(t: Topology, env: RenderEnv): string {
  return renderTemplate("failover/failover-hook.ini.hbs", failoverHookView(t, env));
}

export function renderFailoverPatronictlConfig(t: Topology, env: RenderEnv): string {
  return renderTemplate("failover/patronictl.yml.hbs", failoverPatronictlView(t, env));
}

export function renderFailoverHookUnit(): string {
  return renderTemplate("failover/failover-hook.service.hbs", {
    script: FAILOVER_HOOK_SCRIPT, config: `${FAILOVER_HOOK_DIR}/failover-hook.ini`, user: FAILOVER_HOOK_USER, etcd_env_file: FAILOVER_HOOK_ETCD_ENV_FILE,
  });
}
