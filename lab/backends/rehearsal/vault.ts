// The rehearsal's Vault, read back with ansible-vault (the drills and checks need some of its secrets).
import * as yaml from "js-yaml";
import type { RehearsalPaths } from "./plan";
import { runOk } from "./sys";

export function readVault(p: RehearsalPaths): Record<string, string> {
  return yaml.load(runOk(["ansible-vault", "view", p.vault, "--vault-password-file", p.vaultPassword])) as Record<string, string>;
}
