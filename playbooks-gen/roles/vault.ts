// Every secret the playbooks use. Values live in an Ansible Vault file kept outside the generated
// tree; vault.example.yml lists the names.
import { REDIS_USERS } from "../views/redis-acl";

export const VAULT_VARIABLES: ReadonlyArray<readonly [name: string, description: string]> = [
  ["vault_patroni_superuser_password", "PostgreSQL superuser (postgres) password, used by Patroni."],
  ["vault_patroni_replication_password", "Password of the replication user (replicator)."],
  ["vault_patroni_rewind_password", "Password of the pg_rewind user (rewind_user)."],
  ["vault_ca_key_passphrase", "Passphrase the deployment CA's key is encrypted with, on the controller (pki_ca_dir)."],
  ["vault_patroni_restapi_password", "Password for Patroni's REST API write endpoints (user patroni)."],
  ["vault_etcd_root_password", "Password of etcd's root user (the etcd role manages users and roles with it); no whitespace, e.g. `openssl rand -hex 24`."],
  ["vault_etcd_patroni_password", "Password of each Patroni cluster's etcd user patroni-<scope> (Patroni, patronictl, the failover hook); no whitespace."],
  ["vault_app_database_password", "Password of the app's database user."],
  ["vault_postgres_exporter_password", "Password of the postgres_exporter monitoring user."],
  // One per Redis/Sentinel user (app, replication, sentinel, exporter, admin).
  ...REDIS_USERS.map((u) => [u.vault, `Password of the Redis user ${u.name}: ${u.description}`] as const),
  ["vault_pgbackrest_s3_key", "Spaces access key id with access to the backup bucket only."],
  ["vault_pgbackrest_s3_key_secret", "Spaces secret key for that access key."],
  ["vault_pgbackrest_cipher_pass", "Passphrase pgBackRest encrypts the repository with (keep a copy offline)."],
  ["vault_app_session_secret", "The app's session signing secret."],
  ["vault_alertmanager_password", "Password of Alertmanager's and Prometheus's APIs (user shop; Prometheus, the checks and operators); the hosts keep only its bcrypt hash. At most 72 bytes."],
  ["vault_failover_hook_token", "Bearer token Alertmanager presents to the failover hook (any other caller gets 401); e.g. `openssl rand -hex 32`."],
  ["vault_failover_digitalocean_token", "standby-cluster mode: DigitalOcean token (droplet write scope) the failover hook powers the old region's database droplets off with."],
];
