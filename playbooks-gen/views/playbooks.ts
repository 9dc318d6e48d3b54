// Playbooks: one per tier, imported by site.yml in dependency order, plus the region failover
// playbook of the database mode.
import type { Topology } from "../../lib/model/types";
import { regionGroup } from "../../lib/model/naming";
import { PATRONI_CONFIG_FILE, PATRONI_ENV_FILE } from "../roles/patroni";
import { primaryRegion } from "./clusters";
import { failoverHookHostOf } from "../../lib/model/hosts";
import { failoverHookNeeded, survivingRegion } from "./failover";

interface TierPlaybook {
  readonly file: string;
  readonly plays: ReadonlyArray<readonly [name: string, hosts: string, role: string]>;
}

/** Dependency order: names resolve first, the DCS before Patroni, the database before its router,
 * Redis before the app, and monitoring last so it finds every target up. */
export function tierPlaybooks(t: Topology): readonly TierPlaybook[] {
  const hook: TierPlaybook["plays"] = failoverHookNeeded(t)
    // On one host (every Alertmanager posts to it by name): the surviving region's first monitoring host.
    ? [["Run the database failover hook in the surviving region", failoverHookHostOf(t)!.name, "failover_hook"]] : [];
  return TIER_PLAYBOOKS.map((p) => (p.file === "monitoring.yml" ? { ...p, plays: [...p.plays, ...hook] } : p));
}

const TIER_PLAYBOOKS: readonly TierPlaybook[] = [
  { file: "common.yml", plays: [["Prepare every host", "all", "common"]] },
  // Before any service: every TLS listener and client below needs its host's certificate.
  { file: "pki.yml", plays: [["Issue every host's certificate from the deployment's CA", "all", "pki"]] },
  { file: "etcd.yml", plays: [["Run the etcd cluster", "etcd_cluster", "etcd"]] },
  { file: "postgres.yml", plays: [["Run PostgreSQL under Patroni", "postgres_cluster", "patroni"]] },
  { file: "redis.yml", plays: [["Run Redis", "redis", "redis"], ["Run Redis Sentinel", "sentinel", "redis_sentinel"]] },
  { file: "balancers.yml", plays: [["Route to the PostgreSQL primary with HAProxy", "balancers", "haproxy"]] },
  { file: "app.yml", plays: [["Deploy the shop app", "app", "app"]] },
  { file: "workers.yml", plays: [["Deploy the shop workers", "workers", "app"]] },
  { file: "monitoring.yml", plays: [["Run Prometheus", "monitoring", "prometheus"], ["Run Alertmanager", "alertmanager", "alertmanager"]] },
];

export function tierPlaybook(p: TierPlaybook) {
  return p.plays.map(([name, hosts, role]) => ({ name, hosts, become: true, gather_facts: false, roles: [role] }));
}

/** site.yml: every tier playbook; the failover playbook is run by hand (or by the webhook), never here. */
export function sitePlaybook(t: Topology) {
  return tierPlaybooks(t).map((p) => ({ name: `Import ${p.file}`, "ansible.builtin.import_playbook": `playbooks/${p.file}` }));
}

/** The region failover playbook the mode needs, if any. */
export function failoverPlaybookFile(t: Topology): string | undefined {
  if (!failoverHookNeeded(t)) return undefined;
  return t.database.mode === "standby-cluster" ? "promote-region.yml" : "region-failover.yml";
}

/** patronictl as Patroni runs: its config and its root-only environment file (the etcd user's password,
 * PATRONI_ETCD3_PASSWORD), which the shell reads so the password never shows in an argument. */
const patronictl = (...args: string[]) => ["/bin/sh", "-c", `set -a; . ${PATRONI_ENV_FILE}; exec patronictl -c ${PATRONI_CONFIG_FILE} "$@"`, "patronictl", ...args];

function confirmPlay(variable: string, region: string, what: string) {
  return {
    name: "Require the operator's confirmation",
    hosts: "localhost",
    gather_facts: false,
    tasks: [{
      name: "Check the confirmation",
      "ansible.builtin.assert": {
        that: [`${variable} | default('') == '${region}'`],
        fail_msg: `${what}; run again with -e ${variable}=${region} once region ${region} is confirmed lost`,
      },
    }],
  };
}

const listMembers = {
  name: "List the cluster members",
  "ansible.builtin.command": { argv: patronictl("list", "--format", "json") },
  register: "patroni_members", changed_when: false,
};
const noLeader = "patroni_members.stdout | from_json | selectattr('Role', 'in', ['Leader', 'Standby Leader']) | list | length == 0";
const waitForLeader = {
  name: "Wait for the new leader",
  "ansible.builtin.command": { argv: patronictl("list", "--format", "json") },
  register: "patroni_after", changed_when: false, retries: 30, delay: 2,
  until: "patroni_after.stdout | from_json | selectattr('Role', 'equalto', 'Leader') | list | length == 1",
};

/** standby-cluster mode: fence the old primary region, then promote the standby cluster. */
export function promoteRegionPlaybook(t: Topology) {
  const oldRegion = primaryRegion(t);
  const newRegion = survivingRegion(t);
  const oldNodes = `postgres_cluster:&${regionGroup(oldRegion)}`;
  return [
    confirmPlay("promote_region", newRegion, `This promotes the standby cluster in ${newRegion} and fences ${oldRegion}`),
    {
      name: `Fence the old primary region ${oldRegion}`,
      hosts: oldNodes,
      become: true,
      gather_facts: false,
      // Unreachable hosts are judged by the next play; any other failure stops the promotion.
      ignore_unreachable: true,
      any_errors_fatal: true,
      tasks: [{
        name: "Stop Patroni, which shuts PostgreSQL down, and keep it from starting again",
        "ansible.builtin.systemd": { name: "patroni", state: "stopped", enabled: false },
        register: "patroni_fenced",
      }, {
        // systemd kills only Patroni after its stop timeout: make sure no postmaster survived it.
        name: "Check that PostgreSQL is down",
        "ansible.builtin.command": { argv: ["/usr/lib/postgresql/{{ patroni_postgres_version }}/bin/pg_ctl", "status", "-D", "{{ patroni_data_dir }}"] },
        become: true, become_user: "postgres", register: "patroni_pg_status", changed_when: false, failed_when: "patroni_pg_status.rc != 3",
      }],
    },
    {
      name: "Check that every old node is fenced or confirmed powered off",
      hosts: "localhost",
      gather_facts: false,
      vars: {
        promote_old_nodes: `{{ groups['${regionGroup(oldRegion)}'] | intersect(groups['postgres_cluster']) }}`,
        promote_unreached: "{{ promote_old_nodes | map('extract', hostvars, 'patroni_fenced') | selectattr('unreachable', 'defined') | list }}",
      },
      tasks: [{
        name: "Check the fence",
        "ansible.builtin.assert": {
          that: ["promote_unreached | length == 0 or fenced_powered_off | default(false) | bool"],
          fail_msg: `Some ${oldRegion} database hosts were unreachable: power them off (DigitalOcean API or console), then run again with -e fenced_powered_off=true`,
        },
      }],
    },
    {
      name: `Promote the standby cluster in ${newRegion}`,
      hosts: `postgres_cluster:&${regionGroup(newRegion)}`,
      become: true,
      gather_facts: false,
      tasks: [
        { ...listMembers, run_once: true },
        {
          name: "Remove the standby_cluster section, which makes the standby leader a primary",
          "ansible.builtin.command": { argv: patronictl("edit-config", "--force", "--set", "standby_cluster=null") },
          run_once: true, changed_when: true,
        },
        { ...waitForLeader, run_once: true },
      ],
    },
  ];
}

/** stretched mode with synchronous_mode: when the primary region (and its synchronous standby) is
 * lost, turn synchronous mode off so Patroni may promote the healthiest remote replica. */
export function regionFailoverPlaybook(t: Topology) {
  const lost = primaryRegion(t);
  const survivors = `postgres_cluster:!${regionGroup(lost)}`;
  return [
    confirmPlay("region_lost", lost, `This lets Patroni promote a replica outside ${lost}, losing up to maximum_lag_on_failover bytes`),
    {
      name: "Turn synchronous mode off once the leader key is confirmed gone",
      hosts: survivors,
      become: true,
      gather_facts: false,
      tasks: [
        { ...listMembers, run_once: true },
        { name: "Check that the cluster has no leader", "ansible.builtin.assert": { that: [noLeader], fail_msg: "The cluster still has a leader: nothing to fail over" }, run_once: true },
        // The leader key has already gone unrefreshed for a whole TTL; one more HA loop without any node
        // taking it shows that no synchronous standby survives to do so.
        { name: "Wait one Patroni loop", "ansible.builtin.pause": { seconds: "{{ patroni_loop_wait + 1 }}" }, run_once: true },
        { ...listMembers, name: "List the members again", run_once: true },
        { name: "Check again that the cluster has no leader", "ansible.builtin.assert": { that: [noLeader], fail_msg: "A leader came back: not failing over" }, run_once: true },
        {
          name: "Turn synchronous mode off in the DCS",
          "ansible.builtin.command": { argv: patronictl("edit-config", "--force", "--set", "synchronous_mode=false") },
          run_once: true, changed_when: true,
        },
        { ...waitForLeader, run_once: true },
      ],
    },
  ];
}
