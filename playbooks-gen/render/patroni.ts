// patroni configuration of one host, rendered from templates/patroni/patroni.yml.hbs.
import type { Host } from "../../lib/model/hosts";
import type { Topology } from "../../lib/model/types";
import { renderTemplate } from "../engine/templates";
import type { RenderEnv } from "../render-env";
import { patroniView } from "../views/services";

export function renderPatroniConfig(t: Topology, host: Host, env: RenderEnv): string {
  return renderTemplate("patroni/patroni.yml.hbs", patroniView(t, host, env));
}
