// Redis and Sentinel users: one per role, each with only the commands its client sends. The same
// table writes production's ACL files (password hashes from Vault, at run time), the lab's (random
// passwords) and the shop-app suite's, so every one of them runs against the rules a deploy gets.
import { createHash } from "crypto";
import { PRODUCTION_TLS, type TlsFiles } from "../render-env";

export type RedisRole = "app" | "replication" | "sentinel" | "exporter" | "admin";

export interface RedisUser {
  readonly role: RedisRole;
  /** ACL user name, on Redis and (where it has rules there) on Sentinel. */
  readonly name: string;
  /** The Vault variable holding its password. */
  readonly vault: string;
  readonly description: string;
  /** ACL rules on the Redis servers (after `on <password>`). */
  readonly redis: string;
  /** ACL rules on the Sentinels; absent: the user does not exist there. */
  readonly sentinel?: string;
}

export const REDIS_USERS: readonly RedisUser[] = [
  {
    role: "app", name: "app", vault: "vault_redis_app_password",
    description: "Redis and Sentinel user of the app and workers (data commands; asks Sentinel for the primary).",
    // (A new user has no channels: Redis 7's acl-pubsub-default is resetchannels.)
    // The keyspace is the app's; what it may not do is administer the server: no CONFIG, ACL,
    // REPLICAOF, SHUTDOWN, FLUSHALL, KEYS, DEBUG, MONITOR, CLIENT KILL/PAUSE (@admin, @dangerous).
    // INFO (dangerous since 7.0) is ioredis's ready check.
    redis: "~* &* +@all -@admin -@dangerous +info",
    // ioredis: the primary's and the Sentinels' addresses, the replicas, and +switch-master events.
    sentinel: "&+switch-master -@all +ping +sentinel|get-master-addr-by-name +sentinel|sentinels +sentinel|replicas +sentinel|slaves +subscribe",
  },
  {
    role: "replication", name: "replica", vault: "vault_redis_replication_password",
    description: "masteruser of the Redis replicas (PSYNC, REPLCONF, PING only).",
    redis: "-@all +psync +replconf +ping",
  },
  {
    role: "sentinel", name: "sentinel", vault: "vault_redis_sentinel_password",
    description: "Sentinel's user on Redis (the commands the Redis documentation lists for Sentinel) and between Sentinels.",
    redis: "&* -@all +multi +slaveof +ping +exec +subscribe +config|rewrite +role +publish +info +client|setname +client|kill +script|kill",
    // Sentinels call each other (hello, is-master-down-by-addr, failover votes) as this user.
    sentinel: "~* &* +@all",
  },
  {
    role: "exporter", name: "exporter", vault: "vault_redis_exporter_password",
    description: "prometheus-redis-exporter's user (INFO, SLOWLOG, LATENCY; no data, no CONFIG).",
    // No CONFIG GET: it answers masterauth, the replication user's password, and that user may PSYNC a
    // copy of every key. The exporter skips its config metrics (REDIS_EXPORTER_CONFIG_COMMAND=-).
    redis: "-@all +ping +info +slowlog|get +slowlog|len +latency|latest +latency|histogram +client|setname +select +cluster|info",
  },
  {
    role: "admin", name: "admin", vault: "vault_redis_admin_password",
    description: "Operators (and the drills' failback): every command on Redis and Sentinel.",
    redis: "~* &* +@all",
    sentinel: "~* &* +@all",
  },
];

export function redisUser(role: RedisRole): RedisUser {
  const u = REDIS_USERS.find((x) => x.role === role);
  if (!u) throw new Error(`no Redis user for role ${role}`);
  return u;
}

/** ACL file name (in the host's config dir) of Redis and of Sentinel. */
export const REDIS_ACL_FILE = "redis-users.acl";
export const SENTINEL_ACL_FILE = "sentinel-users.acl";

/** An ACL file password: `#` and the SHA-256 of the password (Redis stores nothing else). */
export function aclPasswordHash(password: string): string {
  return `#${createHash("sha256").update(password).digest("hex")}`;
}

/** The lines of an ACL file; `hashOf(user)` gives the `#<sha256>` word (production: a Jinja
 * expression over the Vault variable; the lab: the hash of its random password). The `default`
 * user, which every unauthenticated connection is, is off and may run nothing. */
export function aclFileLines(service: "redis" | "sentinel", hashOf: (u: RedisUser) => string, rulesOf: (u: RedisUser, rules: string) => string = (_, r) => r): string[] {
  const lines = ["user default off resetpass resetkeys resetchannels -@all"];
  for (const u of usersOn(service)) lines.push(`user ${u.name} on ${hashOf(u)} ${rulesOf(u, rulesOn(service, u))}`);
  return lines;
}

/** The users that exist on Redis or on Sentinel. */
export function usersOn(service: "redis" | "sentinel"): RedisUser[] {
  return REDIS_USERS.filter((u) => (service === "redis" ? u.redis : u.sentinel) !== undefined);
}

function rulesOn(service: "redis" | "sentinel", u: RedisUser): string {
  const rules = service === "redis" ? u.redis : u.sentinel;
  if (rules === undefined) throw new Error(`the Redis user ${u.name} has no rules on ${service}`);
  return rules;
}

/** The role input (defaults/main.yml) that carries a user's rules on Redis or Sentinel: the playbooks'
 * ACL file refers to it, so an operator can see and override each user's rules. */
export function aclRulesInput(service: "redis" | "sentinel", u: RedisUser) {
  return {
    name: `${service === "redis" ? "redis" : "redis_sentinel"}_acl_${u.role}_rules`,
    type: "str" as const,
    default: rulesOn(service, u),
    description: `ACL rules of the ${u.name} user on ${service === "redis" ? "Redis" : "Sentinel"}: ${u.description}`,
  };
}

/** Production's ACL file lines: the hash of the Vault password, the rules from the role input. */
export function vaultAclFileLines(service: "redis" | "sentinel"): string[] {
  return aclFileLines(service, vaultHash, (u) => `{{ ${aclRulesInput(service, u).name} }}`);
}

/** Production's hash word: Ansible hashes the Vault value when it writes the file. */
export const vaultHash = (u: RedisUser) => `#{{ ${u.vault} | hash('sha256') }}`;

/** Redis's auth include: replicas authenticate to their primary as the replication user. */
export function redisAuthLines(password: (u: RedisUser) => string): string[] {
  const r = redisUser("replication");
  return [`masteruser ${r.name}`, `masterauth "${password(r)}"`];
}

/** Sentinel's auth include: its user on Redis, and on the other Sentinels (the same user). */
export function sentinelAuthLines(masterName: string, password: (u: RedisUser) => string): string[] {
  const s = redisUser("sentinel");
  return [
    `sentinel auth-user ${masterName} ${s.name}`, `sentinel auth-pass ${masterName} "${password(s)}"`,
    `sentinel sentinel-user ${s.name}`, `sentinel sentinel-pass "${password(s)}"`,
  ];
}

/** Production's password: the Vault variable, filled in by Ansible. */
export const vaultPassword = (u: RedisUser) => `{{ ${u.vault} }}`;

/** Who must show a certificate to Redis and Sentinel: `optional` verifies any certificate a client
 * presents against the deployment CA (one from another CA fails the handshake) and lets a client
 * without one log in with its ACL user. Every client already proves itself with an ACL password;
 * `yes` would also need a deployment certificate on every operator's and controller's machine that
 * runs redis-cli or a drill. Servers (replicas, Sentinels) present their host's certificate anyway. */
export const REDIS_TLS_AUTH_CLIENTS = "optional";

/** Redis's and Sentinel's TLS settings, each line as Redis's CONFIG REWRITE writes it (strings
 * quoted), so the playbooks can keep them in files Sentinel rewrites: TLS on the service port, no
 * plain-text listener, replication and Sentinel's own connections over TLS, TLS 1.2 or later. */
export function redisTlsLines(port: number, tls: TlsFiles): string[] {
  return [
    "port 0",
    `tls-port ${port}`,
    `tls-cert-file "${tls.certFile}"`,
    `tls-key-file "${tls.keyFile}"`,
    `tls-ca-cert-file "${tls.caFile}"`,
    `tls-auth-clients ${REDIS_TLS_AUTH_CLIENTS}`,
    "tls-replication yes",
    `tls-protocols "TLSv1.2 TLSv1.3"`,
  ];
}

/** redis-cli on a deployed host over TLS, verified against the deployment CA, at `host:port`. Log in
 * with `--user` and the password in REDISCLI_AUTH (never on the command line). */
export function redisCliTls(host: string, port: number): string[] {
  return ["redis-cli", "--tls", "--cacert", PRODUCTION_TLS.caFile, "-h", host, "-p", String(port)];
}
