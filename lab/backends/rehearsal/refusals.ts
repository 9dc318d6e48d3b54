// `check`'s proofs that PostgreSQL and Patroni's REST API refuse what they must, tried from another
// region's app host (a droplet a peered VPC lets through to the database's ports): plain text,
// the superuser over TCP, state changes without a certificate from the CA or without the password,
// and a certificate from another CA. And that Alertmanager's API takes no alert or silence without
// its password, and its cluster port no TLS handshake without a client certificate from the deployment
// CA, tried from another region's Alertmanager host (the witness). And that the cloud
// firewalls drop what their tiers do not use (checkFirewallRefusals).
import { failoverHookHostOf, hostsRunning, PORTS, type Topology } from "../../../lib/model";
import { primaryRegion } from "../../../playbooks-gen/views/clusters";
import { APP_DIR } from "../../../playbooks-gen/roles/app";
import { PRODUCTION_TLS } from "../../../playbooks-gen/render-env";
import { etcdPatroniPrefix, etcdPatroniUser, etcdScopesOf } from "../../../playbooks-gen/views/etcd-auth";
import { ALERTMANAGER_PASSWORD_VAULT, ALERTMANAGER_USER } from "../../../playbooks-gen/views/monitoring";
import { execOn } from "./hosts";
import { FIREWALL_TABLE, listedFirewall } from "./firewall";
import type { Plan } from "./plan";
import type { CheckItem } from "./check";

const sh = (host: string, script: string, timeoutMs = 30_000) => execOn(host, ["/bin/sh", "-c", script], { timeoutMs });
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** One login with the app's pg client on `from`; resolves to the server's error ("" when it logged in). */
async function pgLogin(from: string, opts: { host: string; user: string; password: string; tls: boolean }): Promise<string> {
  const ssl = opts.tls ? `{ca:require("fs").readFileSync(${JSON.stringify(PRODUCTION_TLS.caFile)}),checkServerIdentity:()=>undefined}` : "false";
  const js = `const {Client}=require(${JSON.stringify(`${APP_DIR}/node_modules/pg`)});` +
    `const c=new Client({host:${JSON.stringify(opts.host)},port:${PORTS.postgres},user:${JSON.stringify(opts.user)},password:process.env.PW,database:"postgres",ssl:${ssl},connectionTimeoutMillis:5000});` +
    `c.connect().then(()=>c.end()).then(()=>console.log("logged in")).catch(e=>console.log("refused: "+e.message))`;
  const r = await sh(from, `PW=${q(opts.password)} exec node -e ${q(js)}`);
  return (r.stdout + r.stderr).trim();
}

/** curl against a Patroni REST API from `from`; resolves to the HTTP status ("000": no HTTP answer). */
async function patroniCall(from: string, url: string, curlArgs: string): Promise<string> {
  const r = await sh(from, `curl -s -o /dev/null -w '%{http_code}' --max-time 5 ${curlArgs} ${q(url)}; true`);
  return r.stdout.trim() || "000";
}

export async function checkDatabaseRefusals(t: Topology, vault: Record<string, string>, privateIp: ReadonlyMap<string, string>): Promise<CheckItem[]> {
  const items: CheckItem[] = [];
  const add = (name: string, ok: boolean, detail: string) => items.push({ name, ok, detail });
  const home = primaryRegion(t);
  const node = hostsRunning(t, "patroni").find((h) => h.region === home);
  const from = hostsRunning(t, "app").find((h) => h.region !== home);
  if (!node || !from) return items;
  const ip = privateIp.get(node.name)!;
  const via = `(from ${from.name})`;

  // PostgreSQL: TLS or nothing; the superuser never over TCP; the app's user over TLS is fine (control).
  const plain = await pgLogin(from.name, { host: ip, user: "shop", password: vault.vault_app_database_password ?? "", tls: false });
  add(`PostgreSQL on ${node.name} refuses a plain-text login ${via}`, /no encryption/.test(plain), plain);
  const tlsLogin = await pgLogin(from.name, { host: ip, user: "shop", password: vault.vault_app_database_password ?? "", tls: true });
  add(`PostgreSQL on ${node.name} takes the app's user over TLS ${via}`, tlsLogin === "logged in", tlsLogin);
  const superuser = await pgLogin(from.name, { host: ip, user: "postgres", password: vault.vault_patroni_superuser_password ?? "", tls: true });
  add(`PostgreSQL on ${node.name} refuses the superuser over TCP, even with TLS and its password ${via}`, /rejects connection/.test(superuser), superuser);

  // Patroni's REST API: HTTPS only; state changes need a client certificate from the CA and the password.
  const api = (p: string) => `https://${ip}:${PORTS.patroniApi}${p}`;
  const ca = `--cacert ${PRODUCTION_TLS.caFile}`;
  const ownCert = `${ca} --cert ${PRODUCTION_TLS.certFile} --key ${PRODUCTION_TLS.keyFile}`;
  const http = await patroniCall(from.name, `http://${ip}:${PORTS.patroniApi}/health`, "");
  add(`Patroni on ${node.name} answers no plain HTTP ${via}`, http === "000", `HTTP ${http}`);
  const health = await patroniCall(from.name, api("/health"), ca);
  add(`Patroni on ${node.name} serves GET /health over verified TLS ${via}`, health === "200", `HTTP ${health}`);
  for (const endpoint of ["/switchover", "/restart"]) {
    const body = endpoint === "/switchover" ? `-d '{"leader":"${node.name}"}'` : "-d '{}'";
    const noCert = await patroniCall(from.name, api(endpoint), `${ca} -X POST ${body}`);
    add(`Patroni on ${node.name} refuses POST ${endpoint} without a client certificate ${via}`, noCert === "403", `HTTP ${noCert}`);
    const noPassword = await patroniCall(from.name, api(endpoint), `${ownCert} -X POST ${body}`);
    add(`Patroni on ${node.name} refuses POST ${endpoint} with the CA's certificate but no password ${via}`, noPassword === "401", `HTTP ${noPassword}`);
  }
  // A certificate from another CA: made on the spot on the app host, refused in the TLS handshake.
  const rogue = "/tmp/shop-refusal-rogue";
  await sh(from.name, `mkdir -p ${rogue} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ${rogue}/key.pem -out ${rogue}/cert.pem -days 1 -subj /CN=${from.name} 2>/dev/null`);
  const foreign = await patroniCall(from.name, api("/restart"), `${ca} --cert ${rogue}/cert.pem --key ${rogue}/key.pem -X POST -d '{}'`);
  await sh(from.name, `rm -rf ${rogue}`);
  add(`Patroni on ${node.name} refuses a client certificate from another CA ${via}`, foreign === "000", `HTTP ${foreign}`);
  return items;
}

/** A write (`put`) or a read (`range`) of `key` through etcd's JSON gateway at `endpoint`, as a shell
 * script and its stdin; the script prints the body, then the HTTP status on its last line ("000": no
 * HTTP answer). `tls` is curl's TLS arguments. With `login`, it first authenticates as that user (the
 * password reaches curl on stdin, never on a command line) and sends the token. Exported for the test
 * that runs the same scripts against a real etcd with TLS and RBAC. */
export function etcdGatewayRequest(endpoint: string, tls: string, op: "put" | "range", key: string, login?: { user: string; password: string }): { script: string; input: string } {
  const b64 = (v: string) => Buffer.from(v).toString("base64");
  const body = JSON.stringify(op === "put" ? { key: b64(key), value: b64("shop refusal check") } : { key: b64(key), range_end: b64(`${key.slice(0, -1)}${String.fromCharCode(key.charCodeAt(key.length - 1) + 1)}`), keys_only: true, limit: 1 });
  const curl = `curl -s --max-time 5 ${tls}`;
  const token = login
    ? `token=$(${curl} -X POST --data-binary @- ${q(`${endpoint}/v3/auth/authenticate`)} | python3 -c 'import json,sys; print(json.load(sys.stdin).get("token", ""))' 2>/dev/null); `
    : "token=; ";
  return {
    script: `${token}set --; [ -n "$token" ] && set -- -H "Authorization: $token"; ${curl} -w '\n%{http_code}' "$@" -X POST -d ${q(body)} ${q(`${endpoint}/v3/kv/${op}`)}; true`,
    input: login ? JSON.stringify({ name: login.user, password: login.password }) : "",
  };
}

/** etcd's answer to etcdGatewayRequest: the HTTP status and the body. */
export function etcdGatewayAnswer(stdout: string): { status: string; body: string } {
  const lines = stdout.trimEnd().split("\n");
  return { status: lines.pop()?.trim() || "000", body: lines.join("\n").trim() };
}

/** etcd refuses what it must, tried from another region's monitoring host (the firewall lets it reach
 * 2379: Prometheus scrapes etcd) and from another region's app host (it has a deployment certificate
 * but no etcd user; the firewall keeps it off 2379 too): plain HTTP; TLS without a client certificate;
 * a certificate from another CA; a certificate from the deployment CA without an etcd user; and the
 * Patroni user writing outside its own prefix (while it reads its own: the login works). */
export async function checkEtcdRefusals(t: Topology, vault: Record<string, string>, privateIp: ReadonlyMap<string, string>): Promise<CheckItem[]> {
  const items: CheckItem[] = [];
  const add = (name: string, ok: boolean, detail: string) => items.push({ name, ok, detail });
  const home = primaryRegion(t);
  const member = hostsRunning(t, "etcd").find((h) => h.region === home);
  const from = hostsRunning(t, "prometheus").find((h) => h.region !== home);
  const app = hostsRunning(t, "app").find((h) => h.region !== home);
  if (!member || !from) return items;
  const endpoint = `https://${privateIp.get(member.name)}:${PORTS.etcdClient}`;
  const scope = etcdScopesOf(t, member.region)[0];
  const ca = `--cacert ${PRODUCTION_TLS.caFile}`;
  const ownCert = `${ca} --cert ${PRODUCTION_TLS.certFile} --key ${PRODUCTION_TLS.keyFile}`;
  const call = async (host: string, r: { script: string; input: string }) => {
    const ran = await execOn(host, ["/bin/sh", "-c", r.script], { timeoutMs: 30_000, input: r.input });
    return etcdGatewayAnswer(ran.stdout);
  };
  const show = (a: { status: string; body: string }) => `HTTP ${a.status}${a.body ? ` ${a.body.slice(0, 160)}` : ""}`;
  const via = `(from ${from.name})`;
  const probeKey = "/shop-refusal-check";

  const plain = await call(from.name, etcdGatewayRequest(endpoint.replace("https://", "http://"), "", "put", probeKey));
  add(`etcd on ${member.name} answers no plain HTTP ${via}`, plain.status !== "200", show(plain));
  const noCert = await call(from.name, etcdGatewayRequest(endpoint, ca, "put", probeKey));
  add(`etcd on ${member.name} refuses TLS without a client certificate ${via}`, noCert.status === "000", show(noCert));
  const rogue = "/tmp/shop-etcd-refusal-rogue";
  await sh(from.name, `mkdir -p ${rogue} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ${rogue}/key.pem -out ${rogue}/cert.pem -days 1 -subj / -addext subjectAltName=critical,DNS:${from.name} 2>/dev/null`);
  const foreign = await call(from.name, etcdGatewayRequest(endpoint, `${ca} --cert ${rogue}/cert.pem --key ${rogue}/key.pem`, "put", probeKey));
  await sh(from.name, `rm -rf ${rogue}`);
  add(`etcd on ${member.name} refuses a client certificate from another CA ${via}`, foreign.status === "000", show(foreign));
  const anonymous = await call(from.name, etcdGatewayRequest(endpoint, ownCert, "put", probeKey));
  add(`etcd on ${member.name} refuses a write with the deployment CA's certificate but no etcd user ${via}`,
    /permission denied|user name is empty/.test(anonymous.body), show(anonymous));
  if (app) {
    const fromApp = await call(app.name, etcdGatewayRequest(endpoint, ownCert, "put", `${etcdPatroniPrefix(scope)}leader`));
    add(`etcd on ${member.name} takes no write from an app host (${app.name}), even with its deployment certificate`, fromApp.status !== "200", show(fromApp));
  }
  const patroni = { user: etcdPatroniUser(scope), password: vault.vault_etcd_patroni_password ?? "" };
  const own = await call(from.name, etcdGatewayRequest(endpoint, ownCert, "range", etcdPatroniPrefix(scope), patroni));
  add(`etcd: ${patroni.user} reads its own prefix ${etcdPatroniPrefix(scope)} ${via}`, own.status === "200", show(own));
  for (const key of [probeKey, `${etcdPatroniPrefix(`${scope}-other`)}leader`]) {
    const outside = await call(from.name, etcdGatewayRequest(endpoint, ownCert, "put", key, patroni));
    add(`etcd refuses ${patroni.user} a write outside its prefix (${key}) ${via}`, /permission denied/.test(outside.body), show(outside));
  }
  return items;
}

/** One request to Alertmanager's API over HTTPS verified with `caFile`, as a shell command and its
 * stdin: prints the HTTP status ("000": no HTTP answer). The password reaches curl as its config on
 * stdin, never on a command line. Exported for the test that runs it against a real Alertmanager. */
export function alertmanagerRequest(url: string, o: { caFile: string; user?: string; password?: string; method?: "GET" | "POST"; body?: string }): { script: string; input: string } {
  const quoted = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  const input = o.user !== undefined ? `user = ${quoted(`${o.user}:${o.password ?? ""}`)}\n` : "";
  const data = o.body !== undefined ? ` -H 'Content-Type: application/json' -d ${q(o.body)}` : "";
  return { script: `curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert ${q(o.caFile)} -K - -X ${o.method ?? "GET"}${data} ${q(url)}; true`, input };
}

/** What the refusal checks post: an alert and a silence, valid as the API wants them. */
export const REFUSAL_ALERT = JSON.stringify([{ labels: { alertname: "ShopRefusalCheck", severity: "none" } }]);
export function refusalSilence(now = new Date()): string {
  return JSON.stringify({
    matchers: [{ name: "alertname", value: "ShopRefusalCheck", isRegex: false, isEqual: true }],
    startsAt: now.toISOString(), endsAt: new Date(now.getTime() + 60_000).toISOString(), createdBy: "refusal check", comment: "must be refused",
  });
}

export async function checkAlertmanagerRefusals(t: Topology, vault: Record<string, string>): Promise<CheckItem[]> {
  const items: CheckItem[] = [];
  const add = (name: string, ok: boolean, detail: string) => items.push({ name, ok, detail });
  const am = hostsRunning(t, "alertmanager");
  const target = am.find((h) => h.region === primaryRegion(t) && h.tier === "monitoring") ?? am[0];
  // Another region's Alertmanager host: one every firewall lets through to 9093.
  const from = target && (am.find((h) => h.region !== target.region && h.tier === "witness") ?? am.find((h) => h.region !== target.region));
  if (!target || !from) return items;
  const via = `(from ${from.name})`;
  // By name, as Prometheus reaches it: the certificate names the host.
  const api = (p: string) => `https://${target.name}:${PORTS.alertmanager}${p}`;
  const call = async (url: string, o: Omit<Parameters<typeof alertmanagerRequest>[1], "caFile"> = {}) => {
    const r = alertmanagerRequest(url, { caFile: PRODUCTION_TLS.caFile, ...o });
    const ran = await execOn(from.name, ["/bin/sh", "-c", r.script], { timeoutMs: 30_000, input: r.input });
    return ran.stdout.trim() || "000";
  };
  const password = vault[ALERTMANAGER_PASSWORD_VAULT] ?? "";
  const plain = await call(`http://${target.name}:${PORTS.alertmanager}/api/v2/status`);
  add(`Alertmanager on ${target.name} answers no plain HTTP ${via}`, plain === "400" || plain === "000", `HTTP ${plain}`);
  const alert = await call(api("/api/v2/alerts"), { method: "POST", body: REFUSAL_ALERT });
  add(`Alertmanager on ${target.name} refuses an unauthenticated POST /api/v2/alerts ${via}`, alert === "401", `HTTP ${alert}`);
  const silence = await call(api("/api/v2/silences"), { method: "POST", body: refusalSilence() });
  add(`Alertmanager on ${target.name} refuses an unauthenticated POST /api/v2/silences ${via}`, silence === "401", `HTTP ${silence}`);
  const wrong = await call(api("/api/v2/silences"), { method: "POST", body: refusalSilence(), user: ALERTMANAGER_USER, password: `${password}-wrong` });
  add(`Alertmanager on ${target.name} refuses POST /api/v2/silences with a wrong password ${via}`, wrong === "401", `HTTP ${wrong}`);
  const ok = await call(api("/api/v2/status"), { user: ALERTMANAGER_USER, password });
  add(`Alertmanager on ${target.name} answers GET /api/v2/status over verified HTTPS with the password ${via}`, ok === "200", `HTTP ${ok}`);

  // The cluster's gossip port: mutual TLS. No client certificate, or one from another CA (made on the
  // spot), is refused in the handshake; the host's own certificate from the deployment CA is taken (control).
  const gossip = async (o: { certFile?: string; keyFile?: string }) => {
    const ran = await sh(from.name, gossipHandshakeScript(`${target.name}:${PORTS.alertmanagerCluster}`, { caFile: PRODUCTION_TLS.caFile, ...o }));
    return gossipHandshakeVerdict(ran.stdout + ran.stderr);
  };
  const cluster = `Alertmanager's cluster port on ${target.name} (:${PORTS.alertmanagerCluster})`;
  const none = await gossip({});
  add(`${cluster} refuses a TLS client without a certificate ${via}`, none === "bad certificate", none);
  const rogue = "/tmp/shop-refusal-gossip-rogue";
  await sh(from.name, `mkdir -p ${rogue} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ${rogue}/key.pem -out ${rogue}/cert.pem -days 1 -subj /CN=${from.name} -addext subjectAltName=DNS:${from.name} 2>/dev/null`);
  const foreign = await gossip({ certFile: `${rogue}/cert.pem`, keyFile: `${rogue}/key.pem` });
  await sh(from.name, `rm -rf ${rogue}`);
  add(`${cluster} refuses a client certificate from another CA ${via}`, foreign === "bad certificate", foreign);
  const own = await gossip({ certFile: PRODUCTION_TLS.certFile, keyFile: PRODUCTION_TLS.keyFile });
  add(`${cluster} takes a client certificate from the deployment CA ${via}`, own === "handshake", own);
  return items;
}

/** A TLS handshake with Alertmanager's cluster port (`address` host:port), verifying the server against
 * `caFile`, presenting the client certificate if given; openssl reads for a second after the handshake,
 * so a TLS 1.3 server's refusal of the client certificate (an alert after the client's Finished) is
 * seen. Exported for the test that runs it against real Alertmanagers. */
export function gossipHandshakeScript(address: string, o: { caFile: string; certFile?: string; keyFile?: string }): string {
  const cert = o.certFile ? ` -cert ${q(o.certFile)} -key ${q(o.keyFile ?? "")}` : "";
  return `sleep 1 | timeout 10 openssl s_client -connect ${q(address)} -CAfile ${q(o.caFile)} -verify_return_error${cert} 2>&1; echo "rc=$?"`;
}

/** "handshake" (verified both ways), "bad certificate" (the server refused the client's), "timeout",
 * else openssl's last lines. */
export function gossipHandshakeVerdict(output: string): string {
  const rc = /rc=(\d+)\s*$/.exec(output)?.[1];
  if (/alert (bad certificate|certificate required)/.test(output)) return "bad certificate";
  if (rc === "0" && /Verify return code: 0 \(ok\)/.test(output)) return "handshake";
  if (rc === "124") return "timeout";
  return output.trim().split("\n").slice(-3).join(" | ");
}

/** A TCP connect from `from` to ip:port, bounded: "connected", "refused" or "timeout" (the firewall's
 * drop: no answer at all), else the shell's message. */
export async function tcpConnect(from: string, ip: string, port: number, seconds = 4): Promise<string> {
  const r = await sh(from, tcpConnectScript(ip, port, seconds));
  return tcpConnectVerdict(r.stdout + r.stderr);
}

/** The shell command tcpConnect runs on the host (bash's /dev/tcp, bounded by coreutils' timeout). */
export function tcpConnectScript(ip: string, port: number, seconds = 4): string {
  return `timeout ${seconds} bash -c 'exec 3<>/dev/tcp/${ip}/${port}' 2>&1; echo "rc=$?"`;
}

export function tcpConnectVerdict(output: string): string {
  const rc = /rc=(\d+)/.exec(output)?.[1];
  return rc === "0" ? "connected" : rc === "124" ? "timeout" : /refused/i.test(output) ? "refused" : output.trim();
}

/** The synthesized cloud firewalls at work (firewall.ts): every host has its table; from an app host of
 * another region, etcd's client port, the exporters and SSH of the primary region are dropped (a
 * timeout, not a refusal); the tiers that use those ports connect, and the app's PostgreSQL and Redis
 * ports stay open to it (HAProxy and the app reach the primary wherever it is). */
export async function checkFirewallRefusals(t: Topology, plan: Plan, loaded: boolean): Promise<CheckItem[]> {
  if (!loaded) return [{ name: "cloud firewalls: not loaded (up --no-firewall), their scoping is unproven on this rehearsal", ok: true, detail: "skipped" }];
  const items: CheckItem[] = [];
  const add = (name: string, ok: boolean, detail: string) => items.push({ name, ok, detail });
  const missing = plan.hosts.filter((h) => listedFirewall(h.netns) === null).map((h) => h.host.name);
  add(`cloud firewalls: the synthesized firewall is loaded on all ${plan.hosts.length} hosts`, missing.length === 0, missing.length ? `no table inet ${FIREWALL_TABLE} in the namespaces of ${missing.join(", ")}` : `table inet ${FIREWALL_TABLE} in every host's namespace`);
  const home = primaryRegion(t);
  const ip = (name: string) => plan.hosts.find((h) => h.host.name === name)!.privateIpv4;
  const first = (service: Parameters<typeof hostsRunning>[1], region: (r: string) => boolean, tier?: string) => hostsRunning(t, service).find((h) => region(h.region) && (!tier || h.tier === tier));
  const app = first("app", (r) => r !== home);
  const etcd = first("etcd", (r) => r === home, "etcd") ?? first("etcd", (r) => r === home);
  const pg = first("patroni", (r) => r === home);
  const redis = first("redis", (r) => r === home);
  const mon = first("prometheus", (r) => r !== home) ?? first("prometheus", () => true);
  const expect = async (from: string | undefined, to: string | undefined, port: number, what: string, want: "connected" | "timeout") => {
    if (!from || !to) return;
    const got = await tcpConnect(from, ip(to), port);
    add(`cloud firewalls: ${what} on ${to} (:${port}) from ${from} ${want === "timeout" ? "is dropped" : "connects"}`, got === want, got);
  };
  await expect(app?.name, etcd?.name, PORTS.etcdClient, "etcd's client port", "timeout");
  await expect(app?.name, pg?.name, PORTS.postgresExporter, "the PostgreSQL exporter", "timeout");
  await expect(app?.name, redis?.name, PORTS.redisExporter, "the Redis exporter", "timeout");
  await expect(app?.name, pg?.name, PORTS.ssh, "SSH", "timeout");
  await expect(pg?.name, etcd?.name, PORTS.etcdClient, "etcd's client port", "connected");
  await expect(app?.name, pg?.name, PORTS.postgres, "PostgreSQL (the app's HAProxy)", "connected");
  await expect(app?.name, redis?.name, PORTS.redis, "Redis (the app)", "connected");
  await expect(mon?.name, pg?.name, PORTS.nodeExporter, "node exporter (Prometheus's scrape)", "connected");
  // The failover hook's port: open to the Alertmanagers (the check's HTTPS POSTs), closed to the rest.
  await expect(app?.name, failoverHookHostOf(t)?.name, PORTS.failoverHook, "the failover hook", "timeout");
  return items;
}
