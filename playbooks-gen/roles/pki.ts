// One private CA per deployment and a certificate per host, with community.crypto. The CA's key sits
// on the controller (encrypted with a passphrase from Vault) in `pki_ca_dir`, outside the generated
// tree; each host makes its own key, which never leaves it, and a signing request the controller signs.
// Re-runs change nothing until a certificate is within `pki_renew_days` of its end; then it is re-issued.
import { PORTS } from "../../lib/model/ports";
import { PRODUCTION_TLS } from "../render-env";
import { redisCliTls, redisUser } from "../views/redis-acl";
import { directory, handler, type Role, type Task } from "./role";

/** Days a host certificate is valid, and how close to its end a run re-issues it (the alert fires then too). */
export const PKI_CERT_DAYS = 365;
export const PKI_RENEW_DAYS = 21;
/** Group of Debian's ssl-cert package: may read host keys under /etc/ssl/private. */
export const SSL_CERT_GROUP = "ssl-cert";

const CA_KEY = "{{ pki_ca_dir }}/ca.key";
const CA_CERT = "{{ pki_ca_dir }}/ca.crt";
const passphrase = "{{ vault_ca_key_passphrase }}";
/** Tasks that run once, on the controller, as the operator (not root). */
const onController = { delegate_to: "localhost", become: false, run_once: true };
/** ECDSA P-256: what every client here speaks (PostgreSQL, etcd, HAProxy, Patroni, libpq, Node). */
const keyType = { type: "ECC", curve: "secp256r1" };

const caTasks: Task[] = [
  { name: "Create the CA directory on the controller", "ansible.builtin.file": { path: "{{ pki_ca_dir }}", state: "directory", mode: "0700" }, ...onController },
  {
    name: "Create the CA key on the controller, encrypted with the Vault passphrase",
    "community.crypto.openssl_privatekey": { path: CA_KEY, passphrase, cipher: "auto", ...keyType, mode: "0600" },
    ...onController, no_log: true,
  },
  { name: "Look for the CA certificate", "ansible.builtin.stat": { path: CA_CERT }, register: "pki_ca_cert", ...onController },
  {
    // A pipe writes nothing: it only hands the request to the next task.
    name: "Make the CA's signing request",
    "community.crypto.openssl_csr_pipe": {
      privatekey_path: CA_KEY, privatekey_passphrase: passphrase, common_name: "{{ shop_deployment }} CA", use_common_name_for_san: false,
      basic_constraints: ["CA:TRUE"], basic_constraints_critical: true, key_usage: ["keyCertSign", "cRLSign"], key_usage_critical: true,
    },
    register: "pki_ca_csr", changed_when: false, when: "not pki_ca_cert.stat.exists", ...onController, no_log: true,
  },
  {
    name: "Sign the CA certificate with its own key",
    "community.crypto.x509_certificate": {
      path: CA_CERT, csr_content: "{{ pki_ca_csr.csr }}", privatekey_path: CA_KEY, privatekey_passphrase: passphrase,
      provider: "selfsigned", selfsigned_not_after: "+{{ pki_ca_days }}d", mode: "0644",
    },
    when: "not pki_ca_cert.stat.exists", ...onController, no_log: true,
  },
];

/** Handlers for a renewed certificate or a new CA (on a fresh host these services are not installed yet). */
const RELOAD = [
  "Reload Patroni, which passes the reload to PostgreSQL", "Reload HAProxy", "Make Redis re-read its TLS files", "Restart Sentinel for its new TLS files",
];
const reload = RELOAD;
const UPDATE_CA = "Update the system's trusted CAs";

const hostTasks: Task[] = [
  directory("Create the certificate directory", "/etc/ssl/shop", "root", "0755"),
  {
    name: "Install the CA certificate",
    "ansible.builtin.copy": { src: CA_CERT, dest: PRODUCTION_TLS.caFile, owner: "root", group: "root", mode: "0644" }, notify: reload,
  },
  {
    // System-wide too, for the clients that read only the system's store: the blackbox exporter's
    // probes of Patroni's REST API (Debian's module file has no CA of its own).
    name: "Trust the CA on this host",
    "ansible.builtin.copy": { src: CA_CERT, dest: "/usr/local/share/ca-certificates/{{ shop_deployment }}-ca.crt", owner: "root", group: "root", mode: "0644" },
    notify: UPDATE_CA,
  },
  {
    name: "Make this host's private key (it never leaves the host)",
    "community.crypto.openssl_privatekey": { path: PRODUCTION_TLS.keyFile, ...keyType, owner: "root", group: SSL_CERT_GROUP, mode: "0640" },
  },
  { name: "Look for this host's certificate", "ansible.builtin.stat": { path: PRODUCTION_TLS.certFile }, register: "pki_host_cert" },
  {
    name: "Check whether the certificate is valid for pki_renew_days more days",
    "community.crypto.x509_certificate_info": { path: PRODUCTION_TLS.certFile, valid_at: { renewal: "+{{ pki_renew_days }}d" } },
    register: "pki_host_cert_info", when: "pki_host_cert.stat.exists",
  },
  { name: "Read this host's certificate", "ansible.builtin.slurp": { src: PRODUCTION_TLS.certFile }, register: "pki_host_cert_current", when: "pki_host_cert.stat.exists" },
  {
    name: "Make this host's signing request",
    "community.crypto.openssl_csr_pipe": {
      privatekey_path: PRODUCTION_TLS.keyFile,
      // The name peers use (/etc/hosts), the private address, and loopback for local clients (the app
      // reaches PostgreSQL through HAProxy on 127.0.0.1, and node-postgres checks that name). No
      // CommonName: etcd refuses a client certificate with one on its JSON gateway (the CVE-2018-16886
      // fix), which Patroni and patronictl use; every client here checks the names in the SANs, which
      // are therefore critical (RFC 5280, an empty subject).
      subject_alt_name: ["DNS:{{ inventory_hostname }}", "IP:{{ shop_private_ipv4 }}", "DNS:localhost", "IP:127.0.0.1"], subject_alt_name_critical: true,
      key_usage: ["digitalSignature"], key_usage_critical: true, extended_key_usage: ["serverAuth", "clientAuth"],
    },
    register: "pki_csr", changed_when: false,
  },
  {
    // Given the current certificate, the pipe returns it unchanged while it matches the request; it
    // signs a new one when the key or names changed, or (force) when it ends within pki_renew_days.
    name: "Sign the certificate with the CA on the controller",
    "community.crypto.x509_certificate_pipe": {
      content: "{{ (pki_host_cert_current.content | b64decode) if pki_host_cert.stat.exists else omit }}",
      csr_content: "{{ pki_csr.csr }}", provider: "ownca", ownca_path: CA_CERT, ownca_privatekey_path: CA_KEY,
      ownca_privatekey_passphrase: passphrase, ownca_not_after: "+{{ pki_cert_days }}d",
      force: "{{ pki_host_cert.stat.exists and not pki_host_cert_info.valid_at.renewal }}",
    },
    delegate_to: "localhost", become: false, register: "pki_signed", no_log: true,
  },
  {
    name: "Install this host's certificate",
    "ansible.builtin.copy": { content: "{{ pki_signed.certificate }}", dest: PRODUCTION_TLS.certFile, owner: "root", group: "root", mode: "0644" }, notify: reload,
  },
];

/** node-exporter's textfile collector directory (Debian's default) and the metric the expiry alert reads. */
export const NODE_EXPORTER_TEXTFILE_DIR = "/var/lib/prometheus/node-exporter";
export const CERT_NOT_AFTER_METRIC = "shop_tls_certificate_not_after_seconds";
const EXPIRY_SCRIPT = "/usr/local/sbin/shop-tls-expiry";
const EXPIRY_UNIT = "shop-tls-expiry";

/** Writes when this host's certificate and the CA's end, for node-exporter; a timer runs it daily. */
const expiryScript = `#!/bin/sh
# Generated by shop-multiregion (pki role): when this host's TLS certificates end, as Unix time, for
# node-exporter's textfile collector. Prometheus alerts ${PKI_RENEW_DAYS} days before (TlsCertificateExpiresSoon).
set -eu
out=${NODE_EXPORTER_TEXTFILE_DIR}/shop_tls.prom
tmp="$out.$$"
{
  echo "# HELP ${CERT_NOT_AFTER_METRIC} When the certificate stops being valid (Unix time)."
  echo "# TYPE ${CERT_NOT_AFTER_METRIC} gauge"
  for f in ${PRODUCTION_TLS.certFile} ${PRODUCTION_TLS.caFile}; do
    end=$(openssl x509 -noout -enddate -in "$f" | cut -d= -f2)
    echo "${CERT_NOT_AFTER_METRIC}{file=\\"$f\\"} $(date -d "$end" +%s)"
  done
} > "$tmp"
mv "$tmp" "$out"
`;

const expiryTasks: Task[] = [
  {
    name: "Install the certificate expiry metric script",
    "ansible.builtin.copy": { content: expiryScript, dest: EXPIRY_SCRIPT, owner: "root", group: "root", mode: "0755" },
  },
  {
    name: "Install the certificate expiry metric service",
    "ansible.builtin.copy": {
      content: `[Unit]\nDescription=Write when this host's TLS certificates end, for node-exporter\n\n[Service]\nType=oneshot\nExecStart=${EXPIRY_SCRIPT}\n`,
      dest: `/etc/systemd/system/${EXPIRY_UNIT}.service`, owner: "root", group: "root", mode: "0644",
    },
  },
  {
    name: "Install the certificate expiry metric timer",
    "ansible.builtin.copy": {
      content: `[Unit]\nDescription=Daily TLS certificate expiry metric\n\n[Timer]\nOnBootSec=1min\nOnUnitActiveSec=1d\n\n[Install]\nWantedBy=timers.target\n`,
      dest: `/etc/systemd/system/${EXPIRY_UNIT}.timer`, owner: "root", group: "root", mode: "0644",
    },
  },
  {
    name: "Write the metric now: a renewal shows at once",
    "ansible.builtin.command": { argv: [EXPIRY_SCRIPT] },
    changed_when: false, when: "pki_signed.certificate != (pki_host_cert_current.content | default('') | b64decode)",
  },
  { name: "Run the certificate expiry metric timer", "ansible.builtin.systemd": { name: `${EXPIRY_UNIT}.timer`, state: "started", enabled: true, daemon_reload: true } },
];

export const pkiRole: Role = {
  name: "pki",
  description: "The deployment's private CA (on the controller, key encrypted with a Vault passphrase) and a certificate per host.",
  inputs: [
    { name: "pki_ca_dir", type: "path", default: "{{ inventory_dir }}/../../pki", description: "Controller directory of the CA key (encrypted) and certificate, outside the generated tree: keep it with your Vault file." },
    { name: "pki_ca_days", type: "int", default: 3650, description: "Days the CA certificate is valid." },
    { name: "pki_cert_days", type: "int", default: PKI_CERT_DAYS, description: "Days a host certificate is valid." },
    { name: "pki_renew_days", type: "int", default: PKI_RENEW_DAYS, description: "A run re-issues a host certificate that ends within this many days." },
  ],
  install: [],
  configure: [...caTasks, ...hostTasks],
  service: expiryTasks,
  // Patroni re-reads its REST API certificate on SIGHUP and passes the reload to PostgreSQL, which
  // re-reads its TLS files; HAProxy re-reads the CA. etcd reads its files at every handshake. Redis
  // re-reads them on CONFIG SET; Sentinel only when it starts.
  handlers: [
    { name: UPDATE_CA, "ansible.builtin.command": { argv: ["update-ca-certificates"] }, changed_when: true },
    { ...handler(RELOAD[0], "patroni", "reloaded"), when: "'postgres_cluster' in group_names and pki_host_cert.stat.exists" },
    { ...handler(RELOAD[1], "haproxy", "reloaded"), when: "'balancers' in group_names and pki_host_cert.stat.exists" },
    {
      // Redis 7.0 re-reads its certificate, key and CA on CONFIG SET of any TLS file (the same path
      // too): new connections get the new certificate, without a restart that would fail over.
      name: RELOAD[2],
      "ansible.builtin.command": {
        argv: [...redisCliTls("127.0.0.1", PORTS.redis), "--user", redisUser("admin").name,
          "CONFIG", "SET", "tls-cert-file", PRODUCTION_TLS.certFile, "tls-key-file", PRODUCTION_TLS.keyFile, "tls-ca-cert-file", PRODUCTION_TLS.caFile],
      },
      environment: { REDISCLI_AUTH: `{{ ${redisUser("admin").vault} }}` },
      register: "pki_redis_reload", failed_when: "pki_redis_reload.stdout != 'OK'", changed_when: true, no_log: true,
      when: "'redis' in group_names and pki_host_cert.stat.exists",
    },
    {
      // Sentinel has no CONFIG SET for them: a restart, one Sentinel at a time (the quorum stays).
      ...handler(RELOAD[3], "redis-sentinel", "restarted"), throttle: 1,
      when: "'sentinel' in group_names and pki_host_cert.stat.exists",
    },
  ],
};
