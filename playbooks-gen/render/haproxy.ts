// haproxy configuration of one host, rendered from templates/haproxy/haproxy.cfg.hbs.
import type { Host } from "../../lib/model/hosts";
import type { Topology } from "../../lib/model/types";
import { renderTemplate } from "../engine/templates";
import type { RenderEnv } from "../render-env";
import { haproxyView } from "../views/services";

export function renderHaproxyConfig(t: Topology, host: Host, env: RenderEnv): string {
  return renderTemplate("haproxy/haproxy.cfg.hbs", haproxyView(t, host, env));
}
