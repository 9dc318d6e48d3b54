// Views for the small system files: pgBackRest, service defaults, systemd drop-ins and the app's units.
import type { Host } from "../../lib/model/hosts";
import { PORTS } from "../../lib/model/ports";
import { PATRONI_RESTART_SECONDS } from "../../lib/model/timing";
import type { Topology } from "../../lib/model/types";
import type { RenderEnv } from "../render-env";
import { APP_DIR, APP_ENV_FILE, APP_USER } from "../roles/app";
import { ETCD_CONFIG_FILE } from "../roles/base";
import { REDIS_CONFIG_FILE, SENTINEL_CONFIG_FILE } from "../roles/redis";
import { pgbackrestStanza } from "./services";

export function pgbackrestView(t: Topology, host: Host, env: RenderEnv) {
  const paths = env.paths(host);
  return {
    bucket: t.backups.bucket,
    endpoint: `${t.backups.spacesRegion}.digitaloceanspaces.com`,
    spaces_region: t.backups.spacesRegion,
    stanza: pgbackrestStanza(t, host.region),
    log_dir: paths.logDir,
    spool_dir: "/var/spool/pgbackrest",
    data_dir: paths.pgDataDir,
    socket_dir: paths.pgSocketDir,
    port: PORTS.postgres,
  };
}

export const etcdDefaultsView = () => ({ config_file: ETCD_CONFIG_FILE });

export const createclusterView = (t: Topology) => ({ version: t.database.postgresVersion });

/** Drop-ins pointing Debian's redis units at the shop's write-once files. */
export function redisUnitOverrideView(sentinel: boolean) {
  return sentinel
    ? { unit: "redis-sentinel", sentinel, binary: "/usr/bin/redis-sentinel", config_file: SENTINEL_CONFIG_FILE }
    : { unit: "redis-server", sentinel, binary: "/usr/bin/redis-server", config_file: REDIS_CONFIG_FILE };
}

export function patroniUnitOverrideView() {
  return { restart_seconds: PATRONI_RESTART_SECONDS };
}

export const APP_UNITS = { "shop-app": "startCommand", "shop-worker": "workerCommand" } as const;

export function appUnitView(t: Topology, unit: keyof typeof APP_UNITS) {
  return {
    description: unit === "shop-app" ? "Shop web app (behind the region's load balancer)" : "Shop background worker",
    user: APP_USER,
    dir: APP_DIR,
    env_file: APP_ENV_FILE,
    command: `exec ${t.app[APP_UNITS[unit]]}`,
  };
}
