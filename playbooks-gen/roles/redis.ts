// Redis (primary + replicas across regions) and Sentinel (at least three, in three regions). Both
// files are written once: Sentinel rewrites its own file and, through CONFIG REWRITE, Redis's.
import { PORTS } from "../../lib/model/ports";
import { PRODUCTION_TLS } from "../render-env";
import {
  aclRulesInput, REDIS_ACL_FILE, redisAuthLines, redisTlsLines, redisUser, SENTINEL_ACL_FILE, sentinelAuthLines, usersOn, vaultAclFileLines, vaultPassword,
} from "../views/redis-acl";
import { REDIS_AUTH_FILE, SENTINEL_AUTH_FILE } from "../views/services";
import { SSL_CERT_GROUP } from "./pki";
import { apt, copyFile, directory, handler, HOST_FILES, secretFile, SHARED_FILES, started, type Role, type Task } from "./role";

export const REDIS_CONFIG_FILE = "/etc/redis/shop-redis.conf";

/** The config files are written once, so a host installed before the ACL users has no `aclfile`
 * line, and its include file no longer sets `requirepass`: without this task it would run with no
 * password at all. It adds the line where it is missing (and never touches a file that has it). */
function aclFileLine(what: string, configFile: string, aclFile: string, notify: string): Task {
  return {
    name: `Make ${what} load its users (also in a file written before the ACL users)`,
    // Quoted, as Redis's and Sentinel's CONFIG REWRITE write it: a rewrite then changes nothing here.
    "ansible.builtin.lineinfile": { path: configFile, regexp: "^aclfile ", line: `aclfile "{{ redis_config_dir }}/${aclFile}"` },
    notify,
  };
}
export const SENTINEL_CONFIG_FILE = "/etc/redis/shop-sentinel.conf";

/** Redis and Sentinel run as `redis` and present the host's certificate: its key is root:ssl-cert 0640. */
const readHostKey: Task = { name: "Let redis read the host's TLS key", "ansible.builtin.user": { name: "redis", groups: [SSL_CERT_GROUP], append: true } };

/** The TLS settings (see redisTlsLines) in a file written once: each line replaced where the file has
 * its directive (a file written before TLS has `port 6379`), added where it has none. The lines are
 * written as CONFIG REWRITE writes them, so Sentinel's rewrites change nothing here. */
function tlsSettings(what: string, configFile: string, port: number, notify: string): Task {
  return {
    name: `Make ${what} speak TLS only (also in a file written before TLS)`,
    "ansible.builtin.lineinfile": { path: configFile, regexp: "^{{ item.split(' ')[0] }} ", line: "{{ item }}" },
    loop: redisTlsLines(port, PRODUCTION_TLS),
    notify,
  };
}

export const redisRole: Role = {
  name: "redis",
  description: "Redis 7.0 with min-replicas-to-write; the initial primary is in the primary region, Sentinel owns it afterwards.",
  inputs: [
    { name: "redis_config_file", type: "path", default: REDIS_CONFIG_FILE, description: "The shop's redis.conf (written once; the unit is pointed at it)." },
    { name: "redis_config_dir", type: "path", default: "/etc/redis", description: "Directory of the auth include file (host_vars)." },
    ...usersOn("redis").map((u) => aclRulesInput("redis", u)),
  ],
  install: [apt("Install Redis and its exporter", ["redis-server", "prometheus-redis-exporter"])],
  configure: [
    secretFile("Write the Redis users from Vault", `{{ redis_config_dir }}/${REDIS_ACL_FILE}`, vaultAclFileLines("redis"),
      { owner: "redis", group: "redis", mode: "0640", notify: "Restart redis" }),
    secretFile("Write the replication user's password from Vault", `{{ redis_config_dir }}/${REDIS_AUTH_FILE}`, redisAuthLines(vaultPassword),
      { owner: "redis", group: "redis", mode: "0640", notify: "Restart redis" }),
    readHostKey,
    copyFile("Install redis.conf once", `${HOST_FILES}/redis.conf`, "{{ redis_config_file }}", { owner: "redis", group: "redis", mode: "0640", force: false }),
    aclFileLine("redis", "{{ redis_config_file }}", REDIS_ACL_FILE, "Restart redis"),
    tlsSettings("Redis", "{{ redis_config_file }}", PORTS.redis, "Restart redis"),
    directory("Create the unit drop-in directory", "/etc/systemd/system/redis-server.service.d", "root", "0755"),
    copyFile("Run redis-server with the shop's file", `${SHARED_FILES}/redis/redis-server.conf`, "/etc/systemd/system/redis-server.service.d/shop.conf", { mode: "0644", notify: "Restart redis" }),
    secretFile("Give the exporter its Redis user", "/etc/default/prometheus-redis-exporter", [
      // Redis speaks TLS only: rediss://, the server's certificate (it names localhost) checked against the CA.
      `REDIS_ADDR="rediss://localhost:${PORTS.redis}"`,
      `REDIS_EXPORTER_TLS_CA_CERT_FILE="${PRODUCTION_TLS.caFile}"`,
      `REDIS_USER="${redisUser("exporter").name}"`,
      `REDIS_PASSWORD="${vaultPassword(redisUser("exporter"))}"`,
      // Its user may not run CONFIG GET (it would reveal masterauth): skip the config metrics.
      "REDIS_EXPORTER_CONFIG_COMMAND=\"-\"",
    ], { mode: "0600", notify: "Restart redis exporter" }),
  ],
  service: [started("Run Redis", "redis-server"), started("Run the Redis exporter", "prometheus-redis-exporter")],
  handlers: [handler("Restart redis", "redis-server", "restarted"), handler("Restart redis exporter", "prometheus-redis-exporter", "restarted")],
};

export const sentinelRole: Role = {
  name: "redis_sentinel",
  description: "Redis Sentinel: promotes a Redis replica when a majority agrees the primary is gone.",
  inputs: [
    { name: "redis_sentinel_config_file", type: "path", default: SENTINEL_CONFIG_FILE, description: "The shop's sentinel.conf (written once; Sentinel rewrites it)." },
    { name: "redis_config_dir", type: "path", default: "/etc/redis", description: "Directory of the auth include file (host_vars)." },
    { name: "redis_sentinel_master_name", type: "str", default: "", description: "Name Sentinel monitors the primary under." },
    { name: "redis_sentinel_quorum", type: "int", default: 2, description: "Sentinels that must agree the primary is down." },
    ...usersOn("sentinel").map((u) => aclRulesInput("sentinel", u)),
  ],
  install: [
    {
      name: "Check that the quorum is a majority of the Sentinels",
      "ansible.builtin.assert": {
        that: ["redis_sentinel_quorum > (groups['sentinel'] | length) // 2", "redis_sentinel_quorum <= groups['sentinel'] | length"],
        fail_msg: "redis_sentinel_quorum must be a majority of the hosts in group sentinel",
      },
    },
    apt("Install Sentinel", ["redis-sentinel"]),
  ],
  configure: [
    secretFile("Write the Sentinel users from Vault", `{{ redis_config_dir }}/${SENTINEL_ACL_FILE}`, vaultAclFileLines("sentinel"),
      { owner: "redis", group: "redis", mode: "0640", notify: "Restart sentinel" }),
    secretFile("Write Sentinel's passwords (on Redis, on the other Sentinels) from Vault", `{{ redis_config_dir }}/${SENTINEL_AUTH_FILE}`,
      sentinelAuthLines("{{ redis_sentinel_master_name }}", vaultPassword), { owner: "redis", group: "redis", mode: "0640" }),
    readHostKey,
    copyFile("Install sentinel.conf once", `${HOST_FILES}/sentinel.conf`, "{{ redis_sentinel_config_file }}", { owner: "redis", group: "redis", mode: "0640", force: false }),
    aclFileLine("Sentinel", "{{ redis_sentinel_config_file }}", SENTINEL_ACL_FILE, "Restart sentinel"),
    tlsSettings("Sentinel", "{{ redis_sentinel_config_file }}", PORTS.sentinel, "Restart sentinel"),
    directory("Create the unit drop-in directory", "/etc/systemd/system/redis-sentinel.service.d", "root", "0755"),
    copyFile("Run redis-sentinel with the shop's file", `${SHARED_FILES}/redis/redis-sentinel.conf`, "/etc/systemd/system/redis-sentinel.service.d/shop.conf", { mode: "0644", notify: "Restart sentinel" }),
  ],
  service: [started("Run Sentinel", "redis-sentinel")],
  handlers: [handler("Restart sentinel", "redis-sentinel", "restarted")],
};
