// pgbackrest.conf of one PostgreSQL host, rendered from templates/pgbackrest/.
import type { Host } from "../../lib/model/hosts";
import type { Topology } from "../../lib/model/types";
import { renderTemplate } from "../engine/templates";
import type { RenderEnv } from "../render-env";
import { pgbackrestView } from "../views/system";

export function renderPgbackrestConfig(t: Topology, host: Host, env: RenderEnv): string {
  return renderTemplate("pgbackrest/pgbackrest.conf.hbs", pgbackrestView(t, host, env));
}
