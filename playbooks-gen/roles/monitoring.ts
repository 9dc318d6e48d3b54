// Prometheus (with the blackbox exporter for the app's health path) and Alertmanager.
import { PORTS } from "../../lib/model/ports";
import { renderAlertmanagerClusterTlsConfig, renderAlertmanagerWebConfig, renderPrometheusWebConfig } from "../render/monitoring";
import { PRODUCTION_TLS } from "../render-env";
import { ALERTMANAGER_HOOK_TOKEN_FILE } from "../views/failover";
import {
  ALERTMANAGER_CLUSTER_TLS_CONFIG, ALERTMANAGER_HASH_FACT, ALERTMANAGER_PASSWORD_FILE, ALERTMANAGER_PASSWORD_VAULT, ALERTMANAGER_USER, ALERTMANAGER_WEB_CONFIG, PROMETHEUS_HASH_FACT,
  PROMETHEUS_RULES_DIR, PROMETHEUS_WEB_CONFIG,
} from "../views/monitoring";
import { SSL_CERT_GROUP } from "./pki";
import { apt, copyFile, directory, handler, HOST_FILES, secretFile, SHARED_FILES, started, type Role, type Task } from "./role";

const password = `{{ ${ALERTMANAGER_PASSWORD_VAULT} }}`;

/** A bcrypt hash is salted, so hashing the password again changes the web config at every run. Keep
 * the stored hash while the Vault password still verifies against it (hashed again with the stored
 * salt and cost, on the controller); hash anew, with a new salt, only when it does not (first run, or
 * the password was rotated). `current` is the slurped web config. */
export function hashExpression(current: string): string {
  return [
    `{%- set stored = ((${current}.content | default('') | b64decode | from_yaml) or {}).get('basic_auth_users', {}).get('${ALERTMANAGER_USER}', '') -%}`,
    "{%- set bcrypt = stored is match('[$]2[aby][$][0-9][0-9][$]') -%}",
    `{%- if bcrypt and (${ALERTMANAGER_PASSWORD_VAULT} | password_hash('bcrypt', salt=stored[7:29], rounds=stored[4:6] | int, ident=stored[1:3])) == stored -%}`,
    "{{ stored }}",
    `{%- else -%}{{ ${ALERTMANAGER_PASSWORD_VAULT} | password_hash('bcrypt', rounds=12) }}{%- endif -%}`,
  ].join("\n");
}

/** A web config (exporter-toolkit's --web.config.file) with the password's bcrypt hash, kept stable. */
function hashedWebConfig(o: { service: "Alertmanager" | "Prometheus"; file: string; fact: string; what: string; content: string }): Task[] {
  const prefix = o.service.toLowerCase();
  const [current, stat] = [`${prefix}_web_current`, `${prefix}_web_stat`];
  return [
    { name: `Look for ${o.service}'s web config`, "ansible.builtin.stat": { path: o.file }, register: stat },
    { name: `Read ${o.service}'s stored password hash`, "ansible.builtin.slurp": { src: o.file }, register: current, when: `${stat}.stat.exists`, no_log: true },
    {
      name: `Keep ${o.service}'s stored hash while the Vault password verifies against it, else hash it anew`,
      "ansible.builtin.set_fact": { [o.fact]: hashExpression(current) },
      no_log: true,
    },
    {
      // Without python3-passlib on the controller, Ansible's bcrypt gives "*0", which no password matches.
      name: `Check that the controller made a bcrypt hash for ${o.service}`,
      "ansible.builtin.assert": {
        that: [`${o.fact} is match('[$]2[aby][$][0-9][0-9][$][./A-Za-z0-9]{53}$')`],
        fail_msg: `Ansible on the controller made no bcrypt hash for ${o.service}'s web config; install python3-passlib there (apt install python3-passlib).`,
        quiet: true,
      },
    },
    // Read at every request: a new password (or certificate) needs no restart.
    secretFile(`Write ${o.service}'s web config (${o.what})`, o.file, o.content.trimEnd().split("\n"), { owner: "root", group: "prometheus", mode: "0640" }),
  ];
}

/** Alertmanager's web config: HTTPS with the host's certificate and basic auth. */
const webConfigTasks: Task[] = [
  { name: "Let Alertmanager read the host's TLS key", "ansible.builtin.user": { name: "prometheus", groups: [SSL_CERT_GROUP], append: true }, notify: "Restart alertmanager" },
  ...hashedWebConfig({ service: "Alertmanager", file: ALERTMANAGER_WEB_CONFIG, fact: ALERTMANAGER_HASH_FACT, what: "HTTPS, basic auth", content: renderAlertmanagerWebConfig() }),
];

/** The cluster's gossip over mutual TLS: the config naming the host's certificate and key (root:prometheus
 * 0640; no checker for it in 0.25: amtool and promtool know no cluster TLS config, and Alertmanager reads
 * it only at start, exiting on an error), then the flags (peers, the private address it advertises). */
const clusterTlsTasks: Task[] = [
  {
    name: "Install Alertmanager's cluster TLS config (the gossip over mutual TLS with the deployment CA)",
    "ansible.builtin.copy": { content: renderAlertmanagerClusterTlsConfig(), dest: ALERTMANAGER_CLUSTER_TLS_CONFIG, owner: "root", group: "prometheus", mode: "0640" },
    notify: "Restart alertmanager",
  },
  copyFile("Join the Alertmanager cluster", `${HOST_FILES}/alertmanager.default`, "/etc/default/prometheus-alertmanager", { mode: "0644", notify: "Restart alertmanager" }),
];

/** The same password on Prometheus's loopback-only API (no TLS: it never leaves the host). */
const prometheusWebTasks = hashedWebConfig({ service: "Prometheus", file: PROMETHEUS_WEB_CONFIG, fact: PROMETHEUS_HASH_FACT, what: "basic auth", content: renderPrometheusWebConfig() });

/** Converge-time proof: a service answers with the password (the restart a new web config flag needs runs first). */
function readyCheck(service: string, url: string, extra: Record<string, unknown>): Task[] {
  const register = `${service.toLowerCase()}_ready`;
  return [
    { name: `Apply a pending ${service} restart before checking it`, "ansible.builtin.meta": "flush_handlers" },
    {
      name: `Wait for ${service} to answer with the password`,
      "ansible.builtin.uri": { url, ...extra, url_username: ALERTMANAGER_USER, url_password: password, force_basic_auth: true, status_code: 200 },
      register, until: `${register}.status == 200`, retries: 30, delay: 2, no_log: true,
    },
  ];
}

export const prometheusRole: Role = {
  name: "prometheus",
  description: "Prometheus 2.42 scraping every exporter and Patroni, with the failover alert rules.",
  inputs: [{ name: "prometheus_rules_dir", type: "path", default: PROMETHEUS_RULES_DIR, description: "Directory of the alert rule files." }],
  install: [apt("Install Prometheus and the blackbox exporter", ["prometheus", "prometheus-blackbox-exporter"])],
  configure: [
    // etcd's metrics take a client certificate from the deployment CA: Prometheus presents the host's,
    // whose key is root:ssl-cert 0640. Groups count from the next start: a running Prometheus restarts.
    { name: "Let Prometheus read the host's TLS key (etcd's metrics)", "ansible.builtin.user": { name: "prometheus", groups: [SSL_CERT_GROUP], append: true }, notify: "Restart prometheus" },
    directory("Create the rules directory", "{{ prometheus_rules_dir }}", "root", "0755"),
    // Rules first: the config check loads them.
    copyFile("Install the alert rules", `${SHARED_FILES}/prometheus/shop.rules.yml`, "{{ prometheus_rules_dir }}/shop.yml", { mode: "0644", validate: "promtool check rules %s", notify: "Reload prometheus" }),
    // Before the config that names it (promtool checks that the file exists); read at every request.
    secretFile("Write the password Prometheus presents to Alertmanager", ALERTMANAGER_PASSWORD_FILE, [password], { owner: "root", group: "prometheus", mode: "0640" }),
    copyFile("Install prometheus.yml", `${SHARED_FILES}/prometheus/prometheus.yml`, "/etc/prometheus/prometheus.yml", { mode: "0644", validate: "promtool check config %s", notify: "Reload prometheus" }),
    ...prometheusWebTasks,
    copyFile("Keep Prometheus on loopback, behind its web config", `${SHARED_FILES}/prometheus/prometheus.default`, "/etc/default/prometheus", { mode: "0644", notify: "Restart prometheus" }),
    copyFile("Keep the blackbox exporter on loopback", `${SHARED_FILES}/prometheus/blackbox.default`, "/etc/default/prometheus-blackbox-exporter", { mode: "0644", notify: "Restart blackbox exporter" }),
  ],
  service: [
    started("Run Prometheus", "prometheus"), started("Run the blackbox exporter", "prometheus-blackbox-exporter"),
    ...readyCheck("Prometheus", `http://127.0.0.1:${PORTS.prometheus}/-/ready`, {}),
  ],
  handlers: [
    handler("Reload prometheus", "prometheus", "reloaded"), handler("Restart prometheus", "prometheus", "restarted"),
    handler("Restart blackbox exporter", "prometheus-blackbox-exporter", "restarted"),
  ],
};

export const alertmanagerRole: Role = {
  name: "alertmanager",
  description: "Alertmanager 0.25 cluster (monitoring hosts and the witness), its API over HTTPS with basic auth; critical database alerts go to the failover webhook.",
  inputs: [{ name: "alertmanager_config_file", type: "path", default: "/etc/prometheus/alertmanager.yml", description: "Where the rendered config goes." }],
  install: [apt("Install Alertmanager", ["prometheus-alertmanager"])],
  configure: [
    // Before the config that names it: the failover hook refuses a webhook without this token.
    secretFile("Write the token Alertmanager presents to the failover hook", ALERTMANAGER_HOOK_TOKEN_FILE, ["{{ vault_failover_hook_token }}"], {
      owner: "root", group: "prometheus", mode: "0640", notify: "Reload alertmanager",
    }),
    ...webConfigTasks,
    copyFile("Install alertmanager.yml", `${SHARED_FILES}/alertmanager/alertmanager.yml`, "{{ alertmanager_config_file }}", { mode: "0644", validate: "amtool check-config %s", notify: "Reload alertmanager" }),
    ...clusterTlsTasks,
  ],
  service: [
    started("Run Alertmanager", "prometheus-alertmanager"),
    ...readyCheck("Alertmanager", `https://127.0.0.1:${PORTS.alertmanager}/api/v2/status`, { ca_path: PRODUCTION_TLS.caFile }),
  ],
  handlers: [handler("Reload alertmanager", "prometheus-alertmanager", "reloaded"), handler("Restart alertmanager", "prometheus-alertmanager", "restarted")],
};
