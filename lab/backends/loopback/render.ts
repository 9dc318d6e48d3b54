// Writes each lab host's configuration with the generator's own renderers, plus the secret files and
// environment that production gets from Ansible Vault (random per lab, never in the rendered files).
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { Host, Topology } from "../../../lib/model";
import { execFileSync } from "child_process";
import { PORTS } from "../../../lib/model";
import { renderEtcdAuthScript, renderEtcdConfig } from "../../../playbooks-gen/render/etcd";
import { etcdClusterOf } from "../../../playbooks-gen/views/clusters";
import { ETCD_AUTH_ENV, etcdScopesOf, patroniEtcdEnvironment } from "../../../playbooks-gen/views/etcd-auth";
import { renderHaproxyConfig } from "../../../playbooks-gen/render/haproxy";
import { renderPatroniConfig } from "../../../playbooks-gen/render/patroni";
import { REDIS_AUTH_FILE, SENTINEL_AUTH_FILE, renderRedisConfig, renderSentinelConfig } from "../../../playbooks-gen/render/redis";
import { sentinelMasterName } from "../../../playbooks-gen/views/clusters";
import {
  aclFileLines, aclPasswordHash, REDIS_ACL_FILE, REDIS_USERS, redisAuthLines, redisUser, SENTINEL_ACL_FILE, sentinelAuthLines, type RedisRole,
} from "../../../playbooks-gen/views/redis-acl";
import type { RedisAuth } from "../../clients/resp";
import type { LabEnv } from "./env";

export interface Secrets {
  readonly superuser: string;
  readonly replication: string;
  readonly rewind: string;
  readonly restapi: string;
  /** etcd's root and the Patroni clusters' etcd users (production: vault_etcd_root_password, vault_etcd_patroni_password). */
  readonly etcdRoot: string;
  readonly etcdPatroni: string;
  /** One password per Redis/Sentinel user, as production's Vault has one variable per user. */
  readonly redis: Readonly<Record<RedisRole, string>>;
}

export function newSecrets(): Secrets {
  const pw = () => randomBytes(12).toString("hex");
  const redis = Object.fromEntries(REDIS_USERS.map((u) => [u.role, pw()])) as Record<RedisRole, string>;
  return { superuser: pw(), replication: pw(), rewind: pw(), restapi: pw(), etcdRoot: pw(), etcdPatroni: pw(), redis };
}

/** How the lab's clients log in to Redis or Sentinel as one of the generated users. */
export function redisAuth(s: Secrets, role: RedisRole): RedisAuth {
  return { user: redisUser(role).name, password: s.redis[role] };
}

/** Patroni takes its passwords from the environment (production: a root-only environment file). */
export function patroniEnvironment(s: Secrets): Record<string, string> {
  return {
    PATRONI_SUPERUSER_PASSWORD: s.superuser,
    PATRONI_REPLICATION_PASSWORD: s.replication,
    PATRONI_REWIND_PASSWORD: s.rewind,
    PATRONI_RESTAPI_USERNAME: "patroni",
    PATRONI_RESTAPI_PASSWORD: s.restapi,
    ...patroniEtcdEnvironment(s.etcdPatroni),
  };
}

/** What the etcd auth script (templates/etcd/etcd-auth.sh) reads its passwords from. */
export function etcdAuthEnvironment(s: Secrets): Record<string, string> {
  return { [ETCD_AUTH_ENV.root]: s.etcdRoot, [ETCD_AUTH_ENV.patroni]: s.etcdPatroni };
}

export const CONFIG_FILES = {
  etcd: "etcd.yml",
  patroni: "patroni.yml",
  haproxy: "haproxy.cfg",
  redis: "redis.conf",
  sentinel: "sentinel.conf",
} as const;

const lines = (l: readonly string[]) => `${l.join("\n")}\n`;

function write(file: string, text: string, mode = 0o644): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode });
}

/** Renders every lab service of `host` into its config dir and creates its other directories. */
export function renderHost(t: Topology, host: Host, env: LabEnv, secrets: Secrets): void {
  const p = env.paths(host);
  for (const dir of [p.configDir, p.logDir, p.runDir]) fs.mkdirSync(dir, { recursive: true });
  const conf = (name: string) => path.join(p.configDir, name);
  if (host.services.includes("etcd")) write(conf(CONFIG_FILES.etcd), renderEtcdConfig(t, host, env));
  if (host.services.includes("patroni")) {
    write(conf(CONFIG_FILES.patroni), renderPatroniConfig(t, host, env));
    fs.mkdirSync(p.pgSocketDir, { recursive: true });
  }
  if (host.services.includes("haproxy")) write(conf(CONFIG_FILES.haproxy), renderHaproxyConfig(t, host, env));
  if (host.services.includes("redis") || host.services.includes("sentinel")) fs.mkdirSync(p.redisDataDir, { recursive: true });
  if (host.services.includes("redis")) {
    write(conf(CONFIG_FILES.redis), renderRedisConfig(t, host, env));
    write(conf(REDIS_ACL_FILE), lines(aclFileLines("redis", (u) => aclPasswordHash(secrets.redis[u.role]))), 0o600);
    write(conf(REDIS_AUTH_FILE), lines(redisAuthLines((u) => secrets.redis[u.role])), 0o600);
  }
  if (host.services.includes("sentinel")) {
    write(conf(CONFIG_FILES.sentinel), renderSentinelConfig(t, host, env));
    write(conf(SENTINEL_ACL_FILE), lines(aclFileLines("sentinel", (u) => aclPasswordHash(secrets.redis[u.role]))), 0o600);
    write(conf(SENTINEL_AUTH_FILE), lines(sentinelAuthLines(sentinelMasterName(t), (u) => secrets.redis[u.role])), 0o600);
  }
}

/** Turns on etcd's authentication as the playbooks' etcd role does: the same script (root, a user and
 * role per Patroni cluster limited to its keys, `auth enable`), run once per etcd cluster against its
 * first member with that member's certificate. Returns the script's `changed:` lines. */
export function enableEtcdAuth(t: Topology, env: LabEnv, secrets: Secrets): string[] {
  const script = path.join(env.root, "etcd-auth.sh");
  write(script, renderEtcdAuthScript(), 0o700);
  const firsts = new Map<string, Host>();
  for (const h of env.hosts.filter((x) => x.services.includes("etcd"))) {
    const first = etcdClusterOf(t, h.region)[0];
    firsts.set(first.name, env.hosts.find((x) => x.name === first.name) ?? first);
  }
  const changes: string[] = [];
  for (const first of firsts.values()) {
    const tls = env.tls(first);
    const out = execFileSync("/bin/sh", [script, `https://${env.addressOf(first.name)}:${PORTS.etcdClient}`, tls.caFile, tls.certFile, tls.keyFile, ...etcdScopesOf(t, first.region)], {
      env: { ...process.env, ...etcdAuthEnvironment(secrets) }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000,
    });
    changes.push(...out.split("\n").filter((l) => l.startsWith("changed: ")));
  }
  return changes;
}
