// The generator as a pure function: topology + deploy outputs → {path: content} of the Ansible tree.
// Writing it to disk is engine/tree.ts's job.
import { hostsOf } from "../lib/model/hosts";
import { missingHosts, OutputsError, type DeployOutputs } from "../lib/model/outputs";
import type { Topology } from "../lib/model/types";
import { withMarker } from "./engine/marker";
import { writeTree } from "./engine/tree";
import { dumpDocumented, dumpYaml } from "./engine/yaml";
import { renderEtcdAuthScript, renderEtcdConfig } from "./render/etcd";
import { renderFailoverHookConfig, renderFailoverHookScript, renderFailoverHookUnit, renderFailoverPatronictlConfig } from "./render/failover";
import { renderHaproxyConfig } from "./render/haproxy";
import { renderAlertmanagerConfig, renderAlertmanagerDefaults, renderAlertRules, renderBlackboxDefaults, renderPrometheusConfig, renderPrometheusDefaults } from "./render/monitoring";
import { renderPatroniConfig } from "./render/patroni";
import { renderPgbackrestConfig } from "./render/pgbackrest";
import { renderRedisConfig, renderSentinelConfig } from "./render/redis";
import { renderAppUnit, renderCreateclusterConf, renderPatroniUnitOverride, renderEtcdDefaults, renderRedisUnitOverride } from "./render/system";
import { productionRenderEnv, type RenderEnv } from "./render-env";
import { appRole } from "./roles/app";
import { commonRole, etcdRole, haproxyRole } from "./roles/base";
import { failoverHookRole } from "./roles/failover";
import { alertmanagerRole, prometheusRole } from "./roles/monitoring";
import { patroniRole } from "./roles/patroni";
import { pkiRole } from "./roles/pki";
import { redisRole, sentinelRole } from "./roles/redis";
import { roleFiles } from "./roles/role";
import { VAULT_VARIABLES } from "./roles/vault";
import { requirementsView } from "./views/collections";
import { failoverHookNeeded } from "./views/failover";
import { groupVarsView } from "./views/groupvars";
import { hostVarsView, inventoryView } from "./views/inventory";
import { failoverPlaybookFile, promoteRegionPlaybook, regionFailoverPlaybook, sitePlaybook, tierPlaybook, tierPlaybooks } from "./views/playbooks";

export const ROLES = [commonRole, pkiRole, etcdRole, patroniRole, redisRole, sentinelRole, haproxyRole, appRole, prometheusRole, alertmanagerRole, failoverHookRole];

const ANSIBLE_CFG = `[defaults]
inventory = inventory/hosts.yml
roles_path = playbooks/roles
interpreter_python = /usr/bin/python3
# Vault variables come from a file kept outside this tree: -e @path/to/vault.yml --ask-vault-pass
nocows = true

[privilege_escalation]
# Ansible connects as the deploy user cloud-init created (root SSH is disabled) and becomes root or a
# service user with sudo (also set in group_vars/all.yml, for runs from another directory).
become_method = sudo

[ssh_connection]
# Modules reach the host through sudo's stdin instead of temporary files, so becoming an unprivileged user
# (postgres, shop) needs no world-readable temporary files. Debian's sudoers has no requiretty,
# which pipelining would trip over. The common role also installs acl for the tasks that still copy.
pipelining = True
`;

const YAMLLINT = `---
extends: default
rules:
  line-length:
    max: 200
  truthy:
    allowed-values: ["true", "false"]
  comments:
    min-spaces-from-content: 1
  comments-indentation: false
  octal-values:
    forbid-implicit-octal: true
    forbid-explicit-octal: true
`;

/** Per-host config files under files/<host>/. */
function hostFiles(t: Topology, env: RenderEnv, outputs: DeployOutputs): Record<string, string> {
  const files: Record<string, string> = {};
  for (const host of hostsOf(t)) {
    const add = (name: string, content: string) => { files[`files/${host.name}/${name}`] = content; };
    const runs = (s: (typeof host.services)[number]) => host.services.includes(s);
    if (runs("etcd")) add("etcd.yml", renderEtcdConfig(t, host, env));
    if (runs("patroni")) add("patroni.yml", renderPatroniConfig(t, host, env));
    if (runs("pgbackrest")) add("pgbackrest.conf", renderPgbackrestConfig(t, host, env));
    if (runs("haproxy")) add("haproxy.cfg", renderHaproxyConfig(t, host, env));
    if (runs("redis")) add("redis.conf", renderRedisConfig(t, host, env));
    if (runs("sentinel")) add("sentinel.conf", renderSentinelConfig(t, host, env));
    if (runs("alertmanager")) add("alertmanager.default", renderAlertmanagerDefaults(t, host, env, outputs.hosts[host.name].private_ipv4));
  }
  return files;
}

function sharedFiles(t: Topology, env: RenderEnv): Record<string, string> {
  return {
    "files/etcd/etcd.default": renderEtcdDefaults(),
    "files/etcd/etcd-auth.sh": renderEtcdAuthScript(),
    "files/patroni/createcluster.conf": renderCreateclusterConf(t),
    "files/patroni/patroni-unit.conf": renderPatroniUnitOverride(),
    "files/redis/redis-server.conf": renderRedisUnitOverride(false),
    "files/redis/redis-sentinel.conf": renderRedisUnitOverride(true),
    "files/app/shop-app.service": renderAppUnit(t, "shop-app"),
    "files/app/shop-worker.service": renderAppUnit(t, "shop-worker"),
    "files/prometheus/prometheus.yml": renderPrometheusConfig(t, env),
    "files/prometheus/shop.rules.yml": renderAlertRules(t),
    "files/prometheus/blackbox.default": renderBlackboxDefaults(),
    "files/prometheus/prometheus.default": renderPrometheusDefaults(),
    "files/alertmanager/alertmanager.yml": renderAlertmanagerConfig(t, env),
    ...(failoverHookNeeded(t) ? {
      "files/failover-hook/failover-hook.py": renderFailoverHookScript(),
      "files/failover-hook/failover-hook.ini": renderFailoverHookConfig(t, env),
      "files/failover-hook/patronictl.yml": renderFailoverPatronictlConfig(t, env),
      "files/failover-hook/shop-failover-hook.service": renderFailoverHookUnit(),
    } : {}),
  };
}

function playbookFiles(t: Topology): Record<string, string> {
  const files: Record<string, string> = { "site.yml": dumpYaml(sitePlaybook(t)) };
  for (const p of tierPlaybooks(t)) files[`playbooks/${p.file}`] = dumpYaml(tierPlaybook(p));
  const failover = failoverPlaybookFile(t);
  if (failover) files[`playbooks/${failover}`] = dumpYaml(t.database.mode === "standby-cluster" ? promoteRegionPlaybook(t) : regionFailoverPlaybook(t));
  return files;
}

/** Generates the tree and writes it to `outDir` (temporary directory, then swap; nothing written on error). */
export function generateAnsible(t: Topology, outputs: DeployOutputs, outDir: string, outputsFile = "deploy outputs"): { files: number } {
  const files = generateTree(t, outputs, outputsFile);
  writeTree(outDir, files);
  return { files: Object.keys(files).length };
}

/** The whole tree. Throws OutputsError when a host of the model is missing from the outputs. */
export function generateTree(t: Topology, outputs: DeployOutputs, outputsFile: string): Record<string, string> {
  const missing = missingHosts(t, outputs);
  if (missing.length) {
    throw new OutputsError(outputsFile, missing.map((h) => `host ${h} of the topology is missing (deploy its region stack, then write the outputs again with cdktf deploy --outputs-file)`));
  }
  const env = productionRenderEnv(t);
  const files: Record<string, string> = {
    "ansible.cfg": withMarker(ANSIBLE_CFG),
    ".yamllint": withMarker(YAMLLINT),
    "requirements.yml": dumpYaml(requirementsView()),
    "inventory/hosts.yml": dumpYaml(inventoryView(t, outputs)),
    "vault.example.yml": dumpDocumented("Every secret the playbooks need. Copy to a file outside this tree, fill in, encrypt:\n  ansible-vault create ../vault.yml   (then: ansible-playbook ... -e @../vault.yml --ask-vault-pass)",
      VAULT_VARIABLES.map(([name, description]) => ({ name, description, value: null }))),
    ...playbookFiles(t),
    ...hostFiles(t, env, outputs),
    ...sharedFiles(t, env),
  };
  for (const [group, vars] of Object.entries(groupVarsView(t, outputs, env))) files[`inventory/group_vars/${group}.yml`] = dumpYaml(vars);
  for (const host of hostsOf(t)) files[`inventory/host_vars/${host.name}.yml`] = dumpYaml(hostVarsView(t, host, env));
  for (const role of ROLES) Object.assign(files, roleFiles(role));
  return Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
