// Redis and Sentinel configuration of one host, rendered from templates/redis/.
import type { Host } from "../../lib/model/hosts";
import type { Topology } from "../../lib/model/types";
import { renderTemplate } from "../engine/templates";
import type { RenderEnv } from "../render-env";
import { REDIS_ACL_FILE, SENTINEL_ACL_FILE } from "../views/redis-acl";
import { redisView, sentinelView } from "../views/services";

export { REDIS_AUTH_FILE, SENTINEL_AUTH_FILE } from "../views/services";
export { REDIS_ACL_FILE, SENTINEL_ACL_FILE } from "../views/redis-acl";

export function renderRedisConfig(t: Topology, host: Host, env: RenderEnv): string {
  return renderTemplate("redis/redis.conf.hbs", { ...redisView(t, host, env), acl_file: REDIS_ACL_FILE });
}

export function renderSentinelConfig(t: Topology, host: Host, env: RenderEnv): string {
  return renderTemplate("redis/sentinel.conf.hbs", { ...sentinelView(t, host, env), acl_file: SENTINEL_ACL_FILE });
}
