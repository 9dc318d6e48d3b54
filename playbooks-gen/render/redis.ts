// Redis and Sentinel configuration of one host, rendered from templates/redis/.
import type { Host } from "../../lib/model/hosts";
import type { Topology } from "../../lib/model/types";
import { renderTemplate } from "../engine/templates";
import type { RenderEnv } from "../render-env";
import { REDIS_ACL_FILE, redisTlsLines, SENTINEL_ACL_FILE } from "../views/redis-acl";
import { redisView, sentinelView } from "../views/services";

export { REDIS_AUTH_FILE, SENTINEL_AUTH_FILE } from "../views/services";
export { REDIS_ACL_FILE, SENTINEL_ACL_FILE } from "../views/redis-acl";

export function renderRedisConfig(t: Topology, host: Host, env: RenderEnv): string {
  const view = redisView(t, host, env);
  return renderTemplate("redis/redis.conf.hbs", { ...view, acl_file: REDIS_ACL_FILE, tls_lines: redisTlsLines(view.port, env.tls(host)) });
}

export function renderSentinelConfig(t: Topology, host: Host, env: RenderEnv): string {
  const view = sentinelView(t, host, env);
  return renderTemplate("redis/sentinel.conf.hbs", { ...view, acl_file: SENTINEL_ACL_FILE, tls_lines: redisTlsLines(view.port, env.tls(host)) });
}
