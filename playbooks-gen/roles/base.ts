// Roles for every host (common), the DCS (etcd) and the app hosts' PostgreSQL router (haproxy).
import { PORTS } from "../../lib/model/ports";
import { apt, copyFile, directory, handler, HOST_FILES, SHARED_FILES, started, type Role } from "./role";

export const ETCD_CONFIG_FILE = "/etc/etcd/etcd.yml";

export const commonRole: Role = {
  name: "common",
  description: "Names every peer in /etc/hosts (configs address hosts by name) and runs the node exporter.",
  inputs: [
    { name: "common_etc_hosts_block", type: "str", default: "", description: "Lines `<private IP> <host name>` for every host of the deployment." },
    // acl: Ansible hands a module to an unprivileged become_user (postgres, shop) through setfacl when it
    // cannot pipe it; bare Debian 12 lacks it, and common runs before any role that becomes such a user.
    { name: "common_packages", type: "list", default: ["acl", "ca-certificates", "curl", "prometheus-node-exporter"], description: "Packages every host gets (acl first: later roles become unprivileged users)." },
  ],
  install: [{ name: "Install base packages", "ansible.builtin.apt": { name: "{{ common_packages }}", state: "present", update_cache: true, cache_valid_time: 3600 } }],
  configure: [{
    name: "Name every host of the deployment by its private address",
    "ansible.builtin.blockinfile": {
      path: "/etc/hosts", block: "{{ common_etc_hosts_block }}", marker: "# {mark} shop-multiregion hosts", owner: "root", group: "root", mode: "0644",
    },
  }],
  service: [started("Run the node exporter", "prometheus-node-exporter")],
  handlers: [],
};

export const etcdRole: Role = {
  name: "etcd",
  description: "etcd 3.4 member of the DCS Patroni stores its leader key in.",
  inputs: [
    { name: "etcd_config_file", type: "path", default: ETCD_CONFIG_FILE, description: "Where the rendered etcd config goes." },
    { name: "etcd_data_dir", type: "path", default: "/var/lib/etcd/member", description: "This member's data directory (host_vars)." },
    { name: "etcd_client_port", type: "int", default: PORTS.etcdClient, description: "Client port, for the health check." },
  ],
  install: [apt("Install etcd", ["etcd-server", "etcd-client"])],
  configure: [
    directory("Create the config directory", "/etc/etcd", "root", "0755"),
    directory("Create the data directory", "{{ etcd_data_dir }}", "etcd", "0700"),
    copyFile("Install the member config", `${HOST_FILES}/etcd.yml`, "{{ etcd_config_file }}", { mode: "0644", notify: "Restart etcd" }),
    copyFile("Point the service at the config", `${SHARED_FILES}/etcd/etcd.default`, "/etc/default/etcd", { mode: "0644", notify: "Restart etcd" }),
  ],
  service: [
    // On first boot a member waits for a quorum of peers, so starting must not block host by host.
    started("Start etcd without waiting for the peers", "etcd", { no_block: true }),
    {
      name: "Wait until the cluster is healthy",
      "ansible.builtin.command": { argv: ["etcdctl", "--endpoints=http://127.0.0.1:{{ etcd_client_port }}", "endpoint", "health"] },
      register: "etcd_health", until: "etcd_health.rc == 0", retries: 30, delay: 2, changed_when: false,
    },
  ],
  // One member at a time, so a config change never costs the quorum.
  handlers: [{ ...handler("Restart etcd", "etcd", "restarted"), throttle: 1 }],
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
