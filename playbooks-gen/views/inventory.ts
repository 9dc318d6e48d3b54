// Inventory and per-host variables: the only generated files that carry IP addresses (from the deploy
// outputs). Groups come from the model (one per tier service, one per region).
import { hostsOf, type Host } from "../../lib/model/hosts";
import { patroniScope, volumeName } from "../../lib/model/naming";
import type { DeployOutputs } from "../../lib/model/outputs";
import type { Topology } from "../../lib/model/types";
import type { RenderEnv } from "../render-env";
import { etcdClusterOf, patroniStartWave } from "./clusters";
import { etcdScopesOf } from "./etcd-auth";

export function inventoryView(t: Topology, outputs: DeployOutputs) {
  const hosts = hostsOf(t);
  const groupNames = [...new Set(hosts.flatMap((h) => h.groups))].sort();
  const children: Record<string, { hosts: Record<string, null> }> = {};
  for (const group of groupNames) {
    children[group] = { hosts: Object.fromEntries(hosts.filter((h) => h.groups.includes(group)).map((h) => [h.name, null])) };
  }
  return {
    all: {
      hosts: Object.fromEntries(hosts.map((h) => [h.name, {
        ansible_host: outputs.hosts[h.name].public_ipv4,
        shop_private_ipv4: outputs.hosts[h.name].private_ipv4,
      }])),
      children,
    },
  };
}

/** host_vars/<host>.yml: identity and the paths the roles need for this host. */
export function hostVarsView(t: Topology, host: Host, env: RenderEnv) {
  const paths = env.paths(host);
  return {
    shop_region: host.region,
    shop_region_role: host.regionRole,
    shop_tier: host.tier,
    ...(host.services.includes("etcd") ? {
      etcd_data_dir: paths.etcdDataDir, etcd_cluster_members: etcdClusterOf(t, host.region).map((m) => m.name),
      etcd_patroni_scopes: etcdScopesOf(t, host.region),
    } : {}),
    ...(host.services.includes("patroni") ? {
      patroni_data_dir: paths.pgDataDir, patroni_socket_dir: paths.pgSocketDir, patroni_log_dir: paths.logDir,
      patroni_scope: patroniScope(t, host.region),
      patroni_start_wave: patroniStartWave(t, host),
      // DigitalOcean exposes an attached volume under its name.
      patroni_volume_device: `/dev/disk/by-id/scsi-0DO_Volume_${volumeName(host.name)}`,
    } : {}),
    ...(host.services.includes("redis") || host.services.includes("sentinel") ? { redis_config_dir: paths.configDir } : {}),
  };
}

/** `/etc/hosts` block: every host name with its private address, so configs can name their peers. */
export function etcHostsBlock(t: Topology, outputs: DeployOutputs): string {
  return hostsOf(t).map((h) => `${outputs.hosts[h.name].private_ipv4} ${h.name}`).join("\n");
}
