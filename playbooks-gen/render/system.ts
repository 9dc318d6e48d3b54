// Small system files: service defaults, systemd drop-ins and the app's units (templates/system, app).
import type { Topology } from "../../lib/model/types";
import { renderTemplate } from "../engine/templates";
import { appUnitView, APP_UNITS, createclusterView, etcdDefaultsView, patroniUnitOverrideView, redisUnitOverrideView } from "../views/system";

export function renderEtcdDefaults(): string {
  return renderTemplate("system/etcd.default.hbs", etcdDefaultsView());
}

export function renderCreateclusterConf(t: Topology): string {
  return renderTemplate("system/createcluster.conf.hbs", createclusterView(t));
}

export function renderRedisUnitOverride(sentinel: boolean): string {
  return renderTemplate("system/unit-override.conf.hbs", redisUnitOverrideView(sentinel));
}

export function renderPatroniUnitOverride(): string {
  return renderTemplate("system/patroni-unit.conf.hbs", patroniUnitOverrideView());
}

export function renderAppUnit(t: Topology, unit: keyof typeof APP_UNITS): string {
  return renderTemplate("app/unit.service.hbs", appUnitView(t, unit));
}
