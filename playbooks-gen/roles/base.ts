// Roles for every host (common), the DCS (etcd) and the app hosts' PostgreSQL router (haproxy).
import { PORTS } from "../../lib/model/ports";
import { PRODUCTION_TLS } from "../render-env";
import { ETCD_AUTH_ENV, ETCD_AUTH_SCRIPT, etcdctlArgv } from "../views/etcd-auth";
import { SSL_CERT_GROUP } from "./pki";
import { apt, copyFile, directory, handler, HOST_FILES, SHARED_FILES, started, type Role } from "./role";

export const ETCD_CONFIG_FILE = "/etc/etcd/etcd.yml";
/** cloud-init renders /etc/hosts from this on every boot where manage_etc_hosts is on (DigitalOcean). */
export const CLOUD_INIT_HOSTS_TEMPLATE = "/etc/cloud/templates/hosts.debian.tmpl";

export const commonRole: Role = {
  name: "common",
  description: "Names every peer in /etc/hosts (configs address hosts by name) and runs the node exporter.",
  inputs: [
    { name: "common_etc_hosts_block", type: "str", default: "", description: "Lines `<private IP> <host name>` for every host of the deployment." },
    // acl: Ansible hands a module to an unprivileged become_user (postgres, shop) through setfacl when it
    // cannot pipe it; bare Debian 12 lacks it, and common runs before any role that becomes such a user.
    // python3-cryptography: community.crypto makes the host's key and signing request on the host;
    // ssl-cert: the group that may read host keys under /etc/ssl/private.
    { name: "common_packages", type: "list", default: ["acl", "ca-certificates", "curl", "prometheus-node-exporter", "python3-cryptography", "ssl-cert"], description: "Packages every host gets (acl first: later roles become unprivileged users)." },
  ],
  // Without recommends: the node exporter's recommended textfile collectors pull in smartmontools,
  // nvme-cli, ipmitool and SNMP on every droplet, and nvmf-autoconnect.service then fails without NVMe-oF.
  install: [{ name: "Install base packages", "ansible.builtin.apt": { name: "{{ common_packages }}", state: "present", install_recommends: false, update_cache: true, cache_valid_time: 3600 } }],
  configure: [
    {
      name: "Name every host of the deployment by its private address",
      "ansible.builtin.blockinfile": {
        path: "/etc/hosts", block: "{{ common_etc_hosts_block }}", marker: "# {mark} shop-multiregion hosts", owner: "root", group: "root", mode: "0644",
      },
    },
    // DigitalOcean's image runs cloud-init with manage_etc_hosts: it writes /etc/hosts anew from this
    // template on every boot, which would drop the block above after a reboot (peers stop resolving).
    { name: "Look for cloud-init's /etc/hosts template", "ansible.builtin.stat": { path: CLOUD_INIT_HOSTS_TEMPLATE }, register: "common_cloud_hosts_template" },
    {
      name: "Keep the names across reboots in cloud-init's /etc/hosts template",
      "ansible.builtin.blockinfile": {
        path: CLOUD_INIT_HOSTS_TEMPLATE, block: "{{ common_etc_hosts_block }}", marker: "## {mark} shop-multiregion hosts", owner: "root", group: "root", mode: "0644",
      },
      when: "common_cloud_hosts_template.stat.exists",
    },
  ],
  service: [started("Run the node exporter", "prometheus-node-exporter")],
  handlers: [],
};

/** Where the unit of Debian's etcd-server keeps the one-member etcd it starts with its default config. */
export const DEBIAN_DEFAULT_ETCD_DATA_DIR = "/var/lib/etcd/default";

/** `etcdctl member list` shows every member of the topology, each started (a member that has not
 * joined yet has no name). A one-member etcd with the package's default config never matches. */
const ETCD_MEMBERS_JOINED = "etcd_member_list.rc == 0 and "
  + "((etcd_member_list.stdout | from_json).members | map(attribute='name', default='') | sort) == (etcd_cluster_members | sort)";

/** This member over TLS, with the host's certificate. Member list and health need no etcd user (the
 * health check's read is refused once auth is on, which etcdctl counts as healthy: it went through raft). */
const ETCD_LOCAL = "https://127.0.0.1:{{ etcd_client_port }}";
const etcdTls = [PRODUCTION_TLS.caFile, PRODUCTION_TLS.certFile, PRODUCTION_TLS.keyFile] as const;
const etcdctl = (...args: string[]) => ({ argv: [...etcdctlArgv(ETCD_LOCAL, PRODUCTION_TLS), ...args] });

export const etcdRole: Role = {
  name: "etcd",
  description: "etcd 3.4 member of the DCS Patroni stores its leader key in.",
  inputs: [
    { name: "etcd_config_file", type: "path", default: ETCD_CONFIG_FILE, description: "Where the rendered etcd config goes." },
    { name: "etcd_data_dir", type: "path", default: "/var/lib/etcd/member", description: "This member's data directory (host_vars)." },
    { name: "etcd_client_port", type: "int", default: PORTS.etcdClient, description: "Client port, for the health check." },
    { name: "etcd_cluster_members", type: "list", default: [], description: "Names of every member of this host's etcd cluster (host_vars): the start waits for exactly these." },
    { name: "etcd_patroni_scopes", type: "list", default: [], description: "Patroni clusters whose DCS this etcd cluster is (host_vars): each gets an etcd user and role limited to /service/<scope>/." },
  ],
  install: [
    // Debian starts a service on install: etcd-server would start a one-member etcd with its default
    // config, which a health check would take for the cluster. Masked first, it cannot start.
    { name: "Check whether etcd is installed yet", "ansible.builtin.stat": { path: "/usr/bin/etcd" }, register: "etcd_binary" },
    {
      name: "Keep the package from starting a one-member etcd with its default config",
      "ansible.builtin.systemd": { name: "etcd", masked: true }, when: "not etcd_binary.stat.exists",
    },
    apt("Install etcd", ["etcd-server", "etcd-client"]),
  ],
  configure: [
    // A member that has never run with its config yet: whatever etcd runs here is the package's default
    // instance (an earlier run installed the package unmasked), so stop it and drop its data.
    { name: "Check whether this member has run with its config before", "ansible.builtin.stat": { path: "{{ etcd_data_dir }}/member" }, register: "etcd_member_data" },
    { name: "Stop the package's default etcd", "ansible.builtin.systemd": { name: "etcd", state: "stopped" }, when: "not etcd_member_data.stat.exists" },
    {
      name: "Remove the default etcd's data", "ansible.builtin.file": { path: DEBIAN_DEFAULT_ETCD_DATA_DIR, state: "absent" },
      when: "not etcd_member_data.stat.exists",
    },
    // The host's key is root:ssl-cert 0640 (pki role); etcd presents it to clients and peers. Group
    // membership counts from the next start: a running member is restarted (handler).
    { name: "Let etcd read the host's TLS key", "ansible.builtin.user": { name: "etcd", groups: [SSL_CERT_GROUP], append: true }, notify: "Restart etcd" },
    directory("Create the config directory", "/etc/etcd", "root", "0755"),
    directory("Create the data directory", "{{ etcd_data_dir }}", "etcd", "0700"),
    copyFile("Install the member config", `${HOST_FILES}/etcd.yml`, "{{ etcd_config_file }}", { mode: "0644", notify: "Restart etcd" }),
    copyFile("Point the service at the config", `${SHARED_FILES}/etcd/etcd.default`, "/etc/default/etcd", { mode: "0644", notify: "Restart etcd" }),
    copyFile("Install the script that turns on etcd's authentication", `${SHARED_FILES}/etcd/etcd-auth.sh`, ETCD_AUTH_SCRIPT, { mode: "0644" }),
  ],
  service: [
    { name: "Let systemd start etcd", "ansible.builtin.systemd": { name: "etcd", masked: false } },
    // All members at once (one task over every host): a new member waits for a quorum of its peers
    // before systemd counts it started (Type=notify), so one host after another would never get there.
    started("Start every member together, without waiting for the peers", "etcd", { no_block: true }),
    {
      name: "Wait until every member of the topology has joined the cluster",
      "ansible.builtin.command": etcdctl("member", "list", "--write-out=json"),
      register: "etcd_member_list", until: ETCD_MEMBERS_JOINED, retries: 45, delay: 2, changed_when: false,
    },
    {
      name: "Wait until the cluster has a quorum",
      "ansible.builtin.command": etcdctl("endpoint", "health"),
      register: "etcd_health", until: "etcd_health.rc == 0", retries: 30, delay: 2, changed_when: false,
    },
    {
      // Once per etcd cluster, on its first member: root, per Patroni cluster a role with read and write
      // on exactly /service/<scope>/ and a user with that role, then `auth enable`. The script changes
      // nothing that is already so (it prints a `changed:` line per change) and resets a Patroni user's
      // password that no longer matches Vault (rotation: README).
      name: "Turn on etcd's authentication: root, and a user per Patroni cluster limited to its keys",
      "ansible.builtin.command": { argv: ["/bin/sh", ETCD_AUTH_SCRIPT, ETCD_LOCAL, ...etcdTls, "{{ item }}"] },
      loop: "{{ etcd_patroni_scopes }}",
      environment: { [ETCD_AUTH_ENV.root]: "{{ vault_etcd_root_password }}", [ETCD_AUTH_ENV.patroni]: "{{ vault_etcd_patroni_password }}" },
      register: "etcd_auth", changed_when: "'changed:' in etcd_auth.stdout", no_log: true,
      when: "inventory_hostname == etcd_cluster_members[0]",
    },
  ],
  handlers: [{
    ...handler("Restart etcd", "etcd", "restarted"),
    // One member at a time, so a config change never costs the quorum; a new member already started
    // with its final config above.
    throttle: 1, when: "etcd_member_data.stat.exists",
  }],
};

export const haproxyRole: Role = {
  name: "haproxy",
  description: "HAProxy on app and worker hosts: 127.0.0.1:5000 to the Patroni primary, :5001 to replicas.",
  inputs: [{ name: "haproxy_config_file", type: "path", default: "/etc/haproxy/haproxy.cfg", description: "Where the rendered config goes." }],
  install: [apt("Install HAProxy", ["haproxy"])],
  configure: [copyFile("Install the config", `${HOST_FILES}/haproxy.cfg`, "{{ haproxy_config_file }}", { mode: "0644", validate: "haproxy -c -f %s", notify: "Reload haproxy" })],
  service: [started("Run HAProxy", "haproxy")],
  handlers: [handler("Reload haproxy", "haproxy", "reloaded")],
};
