// etcd's users and roles: who may read and write Patroni's keys. One source for the playbooks' etcd
// role, the loopback lab and the tests: they all run the same script (templates/etcd/etcd-auth.sh.hbs)
// with the same names, so what the lab and the tests prove is what production turns on.
import { hostsRunning } from "../../lib/model/hosts";
import { patroniScope } from "../../lib/model/naming";
import type { Topology } from "../../lib/model/types";
import type { TlsFiles } from "../render-env";
import { etcdClusterOf } from "./clusters";

/** etcd's administrator: the etcd role turns auth on and manages users with it; nothing else uses it. */
export const ETCD_ROOT_USER = "root";
/** Where the playbooks install the script on every etcd member. */
export const ETCD_AUTH_SCRIPT = "/usr/local/sbin/shop-etcd-auth";

/** The etcd user (and role) of one Patroni cluster: read and write of its own keys only. */
export const etcdPatroniUser = (scope: string): string => `patroni-${scope}`;
/** Patroni keeps every key of a cluster under `<namespace><scope>/` (namespace /service/ in patroni.yml). */
export const etcdPatroniPrefix = (scope: string): string => `/service/${scope}/`;

/** Scopes of the Patroni clusters whose DCS is the etcd cluster `region` belongs to (one today: each
 * Patroni cluster has an etcd cluster of its own in both modes; the script takes any number). */
export function etcdScopesOf(t: Topology, region: string): string[] {
  const members = new Set(etcdClusterOf(t, region).map((h) => h.name));
  const scopes = hostsRunning(t, "patroni")
    .filter((h) => etcdClusterOf(t, h.region).some((m) => members.has(m.name)))
    .map((h) => patroniScope(t, h.region));
  return [...new Set(scopes)];
}

/** Environment the script reads its passwords from (never its arguments: those show in `ps`). */
export const ETCD_AUTH_ENV = { root: "ETCD_ROOT_PASSWORD", patroni: "ETCD_PATRONI_PASSWORD" } as const;

export function etcdAuthScriptView() {
  return { root_user: ETCD_ROOT_USER, user_prefix: etcdPatroniUser(""), root_env: ETCD_AUTH_ENV.root, patroni_env: ETCD_AUTH_ENV.patroni };
}

/** What Patroni and patronictl read the etcd user's password from. Patroni 3.0.2 takes
 * PATRONI_ETCD3_PASSWORD only when another PATRONI_ETCD3_* setting of its list is in the environment
 * too (else it leaves the etcd3 section alone and would take the variable for a bootstrap user
 * "ETCD3"): PATRONI_ETCD3_PROTOCOL=https, the same as patroni.yml, is that setting. */
export function patroniEtcdEnvironment(password: string): Record<string, string> {
  return { PATRONI_ETCD3_PROTOCOL: "https", PATRONI_ETCD3_PASSWORD: password };
}

/** The same as `NAME=value` lines of an environment file (Ansible fills the Vault variable in). */
export const PATRONI_ETCD_ENV_LINES: readonly string[] = Object.entries(patroniEtcdEnvironment("{{ vault_etcd_patroni_password }}")).map(([k, v]) => `${k}=${v}`);

/** etcdctl against `endpoint` over TLS, presenting `tls`'s certificate (no etcd user: member list and
 * endpoint health need none; add ETCDCTL_USER in the environment for anything else). */
export function etcdctlArgv(endpoint: string, tls: TlsFiles): string[] {
  return ["etcdctl", `--endpoints=${endpoint}`, `--cacert=${tls.caFile}`, `--cert=${tls.certFile}`, `--key=${tls.keyFile}`];
}
