// Prometheus (with the blackbox exporter for the app's health path) and Alertmanager.
import { ALERTMANAGER_HOOK_TOKEN_FILE } from "../views/failover";
import { PROMETHEUS_RULES_DIR } from "../views/monitoring";
import { apt, copyFile, directory, handler, HOST_FILES, secretFile, SHARED_FILES, started, type Role } from "./role";

export const prometheusRole: Role = {
  name: "prometheus",
  description: "Prometheus 2.42 scraping every exporter and Patroni, with the failover alert rules.",
  inputs: [{ name: "prometheus_rules_dir", type: "path", default: PROMETHEUS_RULES_DIR, description: "Directory of the alert rule files." }],
  install: [apt("Install Prometheus and the blackbox exporter", ["prometheus", "prometheus-blackbox-exporter"])],
  configure: [
    directory("Create the rules directory", "{{ prometheus_rules_dir }}", "root", "0755"),
    // Rules first: the config check loads them.
    copyFile("Install the alert rules", `${SHARED_FILES}/prometheus/shop.rules.yml`, "{{ prometheus_rules_dir }}/shop.yml", { mode: "0644", validate: "promtool check rules %s", notify: "Reload prometheus" }),
    copyFile("Install prometheus.yml", `${SHARED_FILES}/prometheus/prometheus.yml`, "/etc/prometheus/prometheus.yml", { mode: "0644", validate: "promtool check config %s", notify: "Reload prometheus" }),
    copyFile("Keep Prometheus on loopback", `${SHARED_FILES}/prometheus/prometheus.default`, "/etc/default/prometheus", { mode: "0644", notify: "Restart prometheus" }),
    copyFile("Keep the blackbox exporter on loopback", `${SHARED_FILES}/prometheus/blackbox.default`, "/etc/default/prometheus-blackbox-exporter", { mode: "0644", notify: "Restart blackbox exporter" }),
  ],
  service: [started("Run Prometheus", "prometheus"), started("Run the blackbox exporter", "prometheus-blackbox-exporter")],
  handlers: [
    handler("Reload prometheus", "prometheus", "reloaded"), handler("Restart prometheus", "prometheus", "restarted"),
    handler("Restart blackbox exporter", "prometheus-blackbox-exporter", "restarted"),
  ],
};

export const alertmanagerRole: Role = {
  name: "alertmanager",
  description: "Alertmanager 0.25 cluster (monitoring hosts and the witness); critical database alerts go to the failover webhook.",
  inputs: [{ name: "alertmanager_config_file", type: "path", default: "/etc/prometheus/alertmanager.yml", description: "Where the rendered config goes." }],
  install: [apt("Install Alertmanager", ["prometheus-alertmanager"])],
  configure: [
    // Before the config that names it: the failover hook refuses a webhook without this token.
    secretFile("Write the token Alertmanager presents to the failover hook", ALERTMANAGER_HOOK_TOKEN_FILE, ["{{ vault_failover_hook_token }}"], {
      owner: "root", group: "prometheus", mode: "0640", notify: "Reload alertmanager",
    }),
    copyFile("Install alertmanager.yml", `${SHARED_FILES}/alertmanager/alertmanager.yml`, "{{ alertmanager_config_file }}", { mode: "0644", validate: "amtool check-config %s", notify: "Reload alertmanager" }),
    copyFile("Join the Alertmanager cluster", `${HOST_FILES}/alertmanager.default`, "/etc/default/prometheus-alertmanager", { mode: "0644", notify: "Restart alertmanager" }),
  ],
  service: [started("Run Alertmanager", "prometheus-alertmanager")],
  handlers: [handler("Reload alertmanager", "prometheus-alertmanager", "reloaded"), handler("Restart alertmanager", "prometheus-alertmanager", "restarted")],
};
