// The failover hook: which region it watches, which cluster it changes, and how it fences.
import type { Topology } from "../../lib/model/types";
import { failoverHookHostOf, failoverHookNeeded, hostsOf, survivingRegion, type Host } from "../../lib/model/hosts";
import { patroniScope, tierRegionTag } from "../../lib/model/naming";
import { PORTS } from "../../lib/model/ports";
import { failoverConfirmations, presetOf } from "../../lib/model/timing";
import type { FailoverHookEnv, RenderEnv } from "../render-env";
import { etcdClusterOf, postgresClusterOf, primaryRegion } from "./clusters";
import { patroniEtcdView } from "./services";

export const FAILOVER_HOOK_DIR = "/etc/shop-failover-hook";
export const FAILOVER_HOOK_SCRIPT = "/usr/local/lib/shop-failover-hook/failover-hook.py";
/** Name of the token file inside the hook's settings directory. */
export const FAILOVER_HOOK_TOKEN_NAME = "digitalocean-token";
export const FAILOVER_HOOK_TOKEN_FILE = `${FAILOVER_HOOK_DIR}/${FAILOVER_HOOK_TOKEN_NAME}`;
/** The bearer token Alertmanager presents to the hook (Vault), in the hook's settings directory. */
export const FAILOVER_HOOK_AUTH_NAME = "webhook-token";
export const FAILOVER_HOOK_AUTH_FILE = `${FAILOVER_HOOK_DIR}/${FAILOVER_HOOK_AUTH_NAME}`;
/** Alertmanager's copy of that token (Debian's Alertmanager runs as prometheus). */
export const ALERTMANAGER_HOOK_TOKEN_FILE = "/etc/prometheus/failover-hook-token";
/** PATRONI_ETCD3_PASSWORD for the hook's patronictl: root-only, systemd reads it before it drops to the
 * hook's user (Vault: vault_etcd_patroni_password). */
export const FAILOVER_HOOK_ETCD_ENV_FILE = `${FAILOVER_HOOK_DIR}/etcd.env`;
/** The unprivileged system user the hook runs as. */
export const FAILOVER_HOOK_USER = "shop-failover-hook";
export const DIGITALOCEAN_API_URL = "https://api.digitalocean.com";
/** How long the hook waits for the power-off actions to complete before giving up (no promotion). */
export const FENCE_TIMEOUT_SECONDS = 120;

/** The deployment CA's certificate, the same path on every host (the hook's, Alertmanager's). */
export function deploymentCaFile(t: Topology, env: RenderEnv): string {
  return env.tls(hostsOf(t)[0]).caFile;
}

/** The hook's listen address, settings directory and API: production's unless the env says otherwise.
 * In production it listens like the other services (every interface; the cloud firewall admits the
 * Alertmanagers' tags only), with HTTPS and a bearer token, so that every
 * Alertmanager of the cluster can deliver: the first one sends at once. On loopback only its own host's
 * could, after waiting its turn (its position × --cluster.peer-timeout, 15 s each), which the rehearsal
 * measured as region-loss 28, 46 and 67 s in otherwise alike runs. */
export function failoverHookEnv(t: Topology, env: RenderEnv): FailoverHookEnv {
  return env.failoverHook ?? { listen: `${env.listenAddress(failoverHookHost(t, env))}:${PORTS.failoverHook}`, dir: FAILOVER_HOOK_DIR, apiUrl: DIGITALOCEAN_API_URL };
}

/** Where every Alertmanager posts the alerts the hook acts on: its host by name (production's
 * /etc/hosts), which its certificate carries; the lab's listen address there. */
export function failoverWebhookUrl(t: Topology, env: RenderEnv): string {
  const target = env.failoverHook?.listen ?? `${env.addressOf(failoverHookHost(t, env).name)}:${PORTS.failoverHook}`;
  return `https://${target}/failover`;
}

export { failoverHookNeeded, survivingRegion };

/** What an operator runs to promote another region when crossRegionPromotion is manual: the region
 * failover playbook of the mode (views/playbooks.ts failoverPlaybookFile), with its confirmation. */
export function manualPromotionCommand(t: Topology): string {
  const lost = primaryRegion(t);
  return t.database.mode === "standby-cluster"
    ? `ansible-playbook -i inventory/hosts.yml playbooks/promote-region.yml -e promote_region=${survivingRegion(t)}`
    : `ansible-playbook -i inventory/hosts.yml playbooks/region-failover.yml -e region_lost=${lost}`;
}

export function failoverHookView(t: Topology, env: RenderEnv) {
  const lost = primaryRegion(t);
  const standby = t.database.mode === "standby-cluster";
  const hook = failoverHookEnv(t, env);
  const tls = env.tls(failoverHookHost(t, env));
  return {
    listen: hook.listen,
    // HTTPS with its host's certificate from the deployment CA (the hook's user is in ssl-cert).
    cert_file: tls.certFile,
    key_file: tls.keyFile,
    mode: t.database.mode,
    promotion: t.database.crossRegionPromotion,
    promote_command: manualPromotionCommand(t),
    confirmations: failoverConfirmations(t),
    // The leader key expiring already proves a TTL without a refresh; checks one HA loop apart then show
    // that no surviving node takes it.
    interval_seconds: presetOf(t).patroni.loopWait + 1,
    patronictl_config: `${hook.dir}/patronictl.yml`,
    lost_region: lost,
    lost_region_nodes: postgresClusterOf(t, lost).filter((h) => h.region === lost).map((h) => `${env.addressOf(h.name)}:${PORTS.patroniApi}`),
    change: standby ? "standby_cluster=null" : "synchronous_mode=false",
    fence_tag: standby ? tierRegionTag(t, "postgres", lost) : null,
    api_url: hook.apiUrl,
    token_file: `${hook.dir}/${FAILOVER_HOOK_TOKEN_NAME}`,
    auth_token_file: `${hook.dir}/${FAILOVER_HOOK_AUTH_NAME}`,
    fence_timeout_seconds: FENCE_TIMEOUT_SECONDS,
    // The hook verifies the Patroni REST APIs' certificates against the deployment CA.
    ca_file: deploymentCaFile(t, env),
  };
}

/** The cluster the hook changes: the standby cluster (standby-cluster mode) or the stretched cluster,
 * through the etcd members of the surviving region's cluster that are outside the region it watches,
 * with no member discovery (the template's use_proxies). The hook acts only once that region is lost;
 * with the lost member in reach, a call that picks it (the etcd client picks at random among the
 * listed members, or among all members when it discovers them) waits out its failed connection: in
 * the lab, after the region's etcd member (etcd's leader) was killed, 4 of 10 `patronictl list` calls
 * took 6.1–11.4 s against 1.0–1.4 s; with these settings 10 of 10 took 1.0–1.3 s. The remaining
 * members hold the cluster's quorum (rule etcd-layout: no region holds a majority), and reach etcd's
 * leader wherever it is while the region is up. */
export function failoverPatronictlView(t: Topology, env: RenderEnv) {
  const region = survivingRegion(t);
  const watched = primaryRegion(t);
  const outside = etcdClusterOf(t, region).filter((m) => m.region !== watched);
  if (outside.length === 0) throw new Error(`the etcd cluster of region ${region} has no member outside region ${watched}: the failover hook could not reach it after losing ${watched}`);
  return {
    scope: patroniScope(t, region),
    ca_file: deploymentCaFile(t, env),
    // As the surviving cluster's Patroni user, with the certificate of the host the hook runs on.
    etcd: patroniEtcdView(t, failoverHookHost(t, env), env, region, outside),
  };
}

/** The host the hook runs on: the lab's (its listen address is that host's), else production's: the
 * surviving region's first monitoring host (lib/model failoverHookHostOf; the monitoring playbook's
 * hook play names it). */
export function failoverHookHost(t: Topology, env: RenderEnv): Host {
  const region = survivingRegion(t);
  // The lab knows only the hosts it boots: addressOf throws for the others.
  const addressOf = (h: Host) => { try { return env.addressOf(h.name); } catch { return undefined; } };
  const lab = env.failoverHook?.listen.replace(/:\d+$/, "");
  const host = (lab !== undefined ? hostsOf(t).find((h) => addressOf(h) === lab) : undefined) ?? failoverHookHostOf(t);
  if (!host) throw new Error(`topology has no monitoring host in region ${region} for the failover hook (rule failover-hook-host)`);
  return host;
}
