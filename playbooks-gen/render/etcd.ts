// etcd configuration of one host, rendered from templates/etcd/etcd.yml.hbs.
import type { Host } from "../../lib/model/hosts";
import type { Topology } from "../../lib/model/types";
import { renderTemplate } from "../engine/templates";
import type { RenderEnv } from "../render-env";
import { etcdAuthScriptView } from "../views/etcd-auth";
import { etcdView } from "../views/services";

export function renderEtcdConfig(t: Topology, host: Host, env: RenderEnv): string {
  return renderTemplate("etcd/etcd.yml.hbs", etcdView(t, host, env));
}

/** The script that turns on etcd's authentication (users, roles, `auth enable`), idempotently. */
export function renderEtcdAuthScript(): string {
  return renderTemplate("etcd/etcd-auth.sh.hbs", etcdAuthScriptView());
}
