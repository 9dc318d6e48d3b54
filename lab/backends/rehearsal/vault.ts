// The rehearsal's Vault, read back with ansible-vault (the drills and checks need some of its secrets).
import * as yaml from "js-yaml";
import { redisUser, type RedisRole } from "../../../playbooks-gen/views/redis-acl";
import type { RedisAuth } from "../../clients/resp";
import type { RehearsalPaths } from "./plan";
import { runOk } from "./sys";

export function readVault(p: RehearsalPaths): Record<string, string> {
  return yaml.load(runOk(["ansible-vault", "view", p.vault, "--vault-password-file", p.vaultPassword])) as Record<string, string>;
}

/** One of the generated Redis/Sentinel users, with its password from the Vault. */
export function redisAuthFromVault(vault: Record<string, string>, role: RedisRole): RedisAuth {
  const u = redisUser(role);
  const password = vault[u.vault];
  if (!password) throw new Error(`the rehearsal's Vault has no ${u.vault} (the Redis user ${u.name}); refill it from vault.example.yml`);
  return { user: u.name, password };
}
