// Prometheus, alert rules and Alertmanager configs, rendered from templates/prometheus and alertmanager.
import type { Host } from "../../lib/model/hosts";
import { PORTS } from "../../lib/model/ports";
import type { Topology } from "../../lib/model/types";
import { renderTemplate } from "../engine/templates";
import type { RenderEnv } from "../render-env";
import { alertmanagerArgsView, alertmanagerClusterTlsView, alertmanagerView, alertmanagerWebView, PROMETHEUS_WEB_CONFIG, prometheusWebView, alertRulesView, BLACKBOX_ADDRESS, prometheusView } from "../views/monitoring";

export function renderPrometheusConfig(t: Topology, env: RenderEnv): string {
  return renderTemplate("prometheus/prometheus.yml.hbs", prometheusView(t, env));
}

export function renderAlertRules(t: Topology): string {
  return renderTemplate("prometheus/shop.rules.yml.hbs", alertRulesView(t));
}

export function renderBlackboxDefaults(): string {
  return renderTemplate("prometheus/blackbox.default.hbs", { listen: BLACKBOX_ADDRESS });
}

/** /etc/default/prometheus: Prometheus on loopback (its port rule is `local`). */
export function renderPrometheusDefaults(): string {
  return renderTemplate("prometheus/prometheus.default.hbs", { listen: `127.0.0.1:${PORTS.prometheus}`, web_config: PROMETHEUS_WEB_CONFIG });
}

export function renderAlertmanagerConfig(t: Topology, env: RenderEnv): string {
  return renderTemplate("alertmanager/alertmanager.yml.hbs", alertmanagerView(t, env));
}

/** /etc/default/prometheus-alertmanager of one host: its cluster peers and the address it advertises
 * (`privateIpv4`, the one its certificate names: the deploy outputs' in production). */
export function renderAlertmanagerDefaults(t: Topology, host: Host, env: RenderEnv, privateIpv4: string): string {
  return renderTemplate("alertmanager/alertmanager.default.hbs", alertmanagerArgsView(t, host, env, privateIpv4));
}

/** Alertmanager's cluster TLS config (mutual TLS on the gossip port), the same on every host: the
 * alertmanager role writes it. */
export function renderAlertmanagerClusterTlsConfig(): string {
  return renderTemplate("alertmanager/cluster-tls.yml.hbs", alertmanagerClusterTlsView());
}

/** Alertmanager's web config (HTTPS, basic auth): the alertmanager role writes it with the password's
 * hash, which Ansible fills in at run time. */
export function renderAlertmanagerWebConfig(): string {
  return renderTemplate("alertmanager/web.yml.hbs", alertmanagerWebView());
}

/** Prometheus's web config (basic auth on its loopback API): the prometheus role fills the hash in. */
export function renderPrometheusWebConfig(): string {
  return renderTemplate("prometheus/web.yml.hbs", prometheusWebView());
}
