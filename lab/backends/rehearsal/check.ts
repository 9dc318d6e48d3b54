// `check`: the converged shop is healthy, judged from the hosts themselves (each probe runs on a host,
// as an operator would with SSH): etcd, Patroni and replication, HAProxy's routing from every app
// host, Redis and Sentinel, Prometheus's targets and alerts, Alertmanager's cluster and its refusals, the app, the
// workers, the failover hook, and systemd on every host.
import * as path from "path";
import { hostsRunning, loadTopology, PORTS, type Topology } from "../../../lib/model";
import { primaryRegion, sentinelMasterName } from "../../../playbooks-gen/views/clusters";
import { FAILOVER_HOOK_USER, failoverHookNeeded, failoverWebhookUrl } from "../../../playbooks-gen/views/failover";
import { APP_ENV_FILE, APP_DIR } from "../../../playbooks-gen/roles/app";
import { PATRONI_CONFIG_FILE, PATRONI_ENV_FILE } from "../../../playbooks-gen/roles/patroni";
import { etcdctlArgv } from "../../../playbooks-gen/views/etcd-auth";
import { RehearsalError } from "./errors";
import { execOn } from "./hosts";
import { EDGE_ADDRESS, EDGE_PORT, planOf, type RehearsalPaths } from "./plan";
import { run as runHere } from "./sys";
import { readState } from "./rehearsal";
import { mergeReport } from "./report";
import { checkAlertmanagerRefusals, checkDatabaseRefusals, checkEtcdRefusals, checkFirewallRefusals } from "./refusals";
import { checkRedisRefusals } from "./redis-refusals";
import { PRODUCTION_TLS, productionRenderEnv } from "../../../playbooks-gen/render-env";
import { ALERTMANAGER_PASSWORD_VAULT, ALERTMANAGER_USER } from "../../../playbooks-gen/views/monitoring";
import { readVault, redisAuthFromVault } from "./vault";
import { redisCliTls, type RedisRole } from "../../../playbooks-gen/views/redis-acl";
import type { CliOptions } from "./cli";

export interface CheckItem { readonly name: string; readonly ok: boolean; readonly detail: string }

const sh = (host: string, script: string, timeoutMs = 30_000) => execOn(host, ["/bin/sh", "-c", script], { timeoutMs });
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** A query through one of the app host's HAProxy ports, with the app's own credentials and pg client. */
function viaHaproxy(host: string, port: number) {
  // The environment file is systemd's format, not a shell's (an unquoted `&` in the URL's query would
  // end a shell assignment): read DATABASE_URL from it as systemd does.
  const readUrl = `const l=require("fs").readFileSync(${JSON.stringify(APP_ENV_FILE)},"utf8").split("\\n").find(x=>x.startsWith("DATABASE_URL="));const v=l.slice(13).trim().replace(/^"(.*)"$/,"$1");`;
  const js = `${readUrl}const {Client}=require(${JSON.stringify(`${APP_DIR}/node_modules/pg`)});const u=new URL(v);u.port=${port};` +
    `const c=new Client({connectionString:u.toString(),connectionTimeoutMillis:3000});c.connect().then(()=>c.query("select host(inet_server_addr()) a, pg_is_in_recovery() r")).then(x=>{console.log(JSON.stringify(x.rows[0]));return c.end()}).catch(e=>{console.error(e.message);process.exit(1)})`;
  return sh(host, `exec node -e ${q(js)}`);
}

export async function checkShop(t: Topology, vault: Record<string, string>): Promise<CheckItem[]> {
  const plan = planOf(t);
  const items: CheckItem[] = [];
  const add = (name: string, ok: boolean, detail: string) => items.push({ name, ok, detail });
  const privateIp = new Map(plan.hosts.map((h) => [h.host.name, h.privateIpv4]));
  const nameOf = new Map(plan.hosts.map((h) => [h.privateIpv4, h.host.name]));

  // etcd: every member healthy, and the members are the topology's.
  const etcd = hostsRunning(t, "etcd");
  for (const h of etcd) {
    // Over TLS with the host's certificate (etcd takes nothing else); these two need no etcd user.
    const etcdctl = `ETCDCTL_API=3 ${etcdctlArgv(`https://127.0.0.1:${PORTS.etcdClient}`, PRODUCTION_TLS).join(" ")} --command-timeout=5s`;
    const r = await sh(h.name, `${etcdctl} member list -w json && ${etcdctl} endpoint health`);
    let names: string[] = [];
    try {
      names = (JSON.parse(r.stdout.split("\n")[0]).members ?? []).map((m: { name: string }) => m.name).sort();
    } catch { /* reported below */ }
    const want = etcd.filter((e) => t.database.mode !== "standby-cluster" || e.region === h.region).map((e) => e.name).sort();
    add(`etcd ${h.name} healthy, members ${want.join(", ")}`, r.code === 0 && /is healthy/.test(r.stdout + r.stderr) && names.join() === want.join(), r.code === 0 ? `members ${names.join(", ")}` : r.stderr.trim());
  }

  // Patroni: one leader, in the primary region; every replica streaming from it; a synchronous standby.
  const pg = hostsRunning(t, "patroni");
  // With Patroni's environment: the etcd user's password (PATRONI_ETCD3_PASSWORD) is in it.
  const list = await sh(pg[0].name, `set -a; . ${PATRONI_ENV_FILE}; patronictl -c ${PATRONI_CONFIG_FILE} list -f json`);
  let leader: string | null = null;
  try {
    const members = JSON.parse(list.stdout) as Array<{ Member: string; Role: string; State: string }>;
    const leaders = members.filter((m) => /leader/i.test(m.Role));
    leader = leaders.length === 1 ? leaders[0].Member : null;
    add("Patroni: exactly one leader", leaders.length === 1, members.map((m) => `${m.Member} ${m.Role} ${m.State}`).join("; "));
  } catch {
    add("Patroni: exactly one leader", false, (list.stderr || list.stdout).trim());
  }
  const home = primaryRegion(t);
  add(`Patroni: the leader is in the primary region ${home}`, !!leader && pg.find((h) => h.name === leader)?.region === home, `leader ${leader}`);
  if (leader) {
    const repl = await sh(leader, `runuser -u postgres -- psql -XAtc "select application_name, state, sync_state from pg_stat_replication"`);
    const rows = repl.stdout.trim().split("\n").filter(Boolean).map((l) => l.split("|"));
    for (const h of pg.filter((h) => h.name !== leader && (t.database.mode !== "standby-cluster" || h.region === home))) {
      const row = rows.find((r) => r[0] === h.name);
      add(`replication: ${h.name} streams from ${leader}`, row?.[1] === "streaming", row ? `${row[1]} (${row[2]})` : `not in pg_stat_replication (${repl.stderr.trim() || "no row"})`);
    }
    if (t.database.synchronousMode) {
      const sync = rows.filter((r) => r[2] === "sync").map((r) => r[0]);
      add("replication: a synchronous standby in the primary region", sync.some((n) => pg.find((h) => h.name === n)?.region === home), `sync: ${sync.join(", ") || "none"}`);
    }
  }

  // HAProxy on every app host: :5000 reaches the leader, :5001 a replica.
  for (const h of hostsRunning(t, "app")) {
    for (const [port, wantReplica] of [[PORTS.haproxyPrimary, false], [PORTS.haproxyReplicas, true]] as const) {
      const r = await viaHaproxy(h.name, port);
      let row: { a: string; r: boolean } | null = null;
      try {
        row = JSON.parse(r.stdout.trim());
      } catch { /* reported below */ }
      const node = row ? nameOf.get(row.a) ?? row.a : null;
      const ok = !!row && row.r === wantReplica && (wantReplica ? node !== leader : node === leader);
      add(`HAProxy on ${h.name}: :${port} reaches ${wantReplica ? "a replica" : "the leader"}`, ok, row ? `${node} (in recovery: ${row.r})` : r.stderr.trim());
    }
  }

  // Redis: one primary with its replicas; every Sentinel names it.
  const redis = hostsRunning(t, "redis");
  // redis-cli on the host itself over TLS (verified against the CA; the certificate names 127.0.0.1) as
  // one of the generated ACL users; the password in the environment, not on the command line.
  const cli = (role: RedisRole, port: number) => {
    const a = redisAuthFromVault(vault, role);
    return `REDISCLI_AUTH=${q(a.password)} ${redisCliTls("127.0.0.1", port).join(" ")} --user ${q(a.user)}`;
  };
  const roles = await Promise.all(redis.map(async (h) => ({ h, out: (await sh(h.name, `${cli("exporter", PORTS.redis)} info replication`)).stdout })));
  const primaries = roles.filter((r) => /role:master/.test(r.out));
  const connected = Number(/connected_slaves:(\d+)/.exec(primaries[0]?.out ?? "")?.[1] ?? -1);
  add("Redis: one primary with every replica connected", primaries.length === 1 && connected === redis.length - 1, `primaries ${primaries.map((r) => r.h.name).join(", ") || "none"}, connected replicas ${connected}`);
  const primaryIp = primaries[0] ? privateIp.get(primaries[0].h.name) : undefined;
  for (const h of hostsRunning(t, "sentinel")) {
    const r = await sh(h.name, `${cli("app", PORTS.sentinel)} sentinel get-master-addr-by-name ${sentinelMasterName(t)}`);
    const named = r.stdout.trim().split("\n")[0];
    add(`Sentinel on ${h.name} names the primary`, !!primaries[0] && (named === primaryIp || named === primaries[0].h.name), `names ${named || r.stderr.trim()}`);
  }
  // Refusals, from another host (a Redis/Sentinel host of another region, which has redis-cli): no
  // plain text, no certificate from another CA, no command without a user, and the app's user may not
  // reconfigure or fail over the Sentinels.
  const sentinels = hostsRunning(t, "sentinel");
  const target = sentinels.find((h) => h.region === home) ?? sentinels[0];
  const from = target && [...redis, ...sentinels].find((h) => h.region !== target.region && h.name !== primaries[0]?.h.name);
  if (from && target) items.push(...await checkRedisRefusals(t, vault, from.name, primaryIp, { name: target.name, ip: privateIp.get(target.name)! }));

  // PostgreSQL and Patroni's REST API refuse plain text, the superuser over TCP and foreign certificates.
  items.push(...await checkDatabaseRefusals(t, vault, privateIp));
  // etcd refuses plain text, clients without a certificate from the CA, hosts without an etcd user, and
  // the Patroni user outside its prefix.
  items.push(...await checkEtcdRefusals(t, vault, privateIp));

  // Prometheus's and Alertmanager's APIs answer only with the password (as curl's config on stdin).
  const monitoringApi = (host: string, url: string) => execOn(host, ["/bin/sh", "-c", `curl -sf --cacert ${PRODUCTION_TLS.caFile} -K - ${q(url)}`],
    { timeoutMs: 30_000, input: `user = "${ALERTMANAGER_USER}:${vault[ALERTMANAGER_PASSWORD_VAULT] ?? ""}"\n` });

  // Prometheus: every target up (the blackbox probes of the app hosts included), no alert firing.
  for (const h of hostsRunning(t, "prometheus")) {
    const targets = await monitoringApi(h.name, `http://127.0.0.1:${PORTS.prometheus}/api/v1/targets?state=active`);
    try {
      const active = JSON.parse(targets.stdout).data.activeTargets as Array<{ health: string; scrapeUrl: string; labels: Record<string, string>; lastError: string }>;
      const down = active.filter((x) => x.health !== "up");
      add(`Prometheus on ${h.name}: every target up`, active.length > 0 && down.length === 0, down.length ? down.map((x) => `${x.labels.job} ${x.labels.instance}: ${x.health} ${x.lastError}`).join("; ") : `${active.length} targets up`);
      const probed = hostsRunning(t, "app").filter((a) => !active.some((x) => (x.labels.instance ?? "").includes(a.name) || (x.scrapeUrl ?? "").includes(a.name)));
      add(`Prometheus on ${h.name}: probes every app host`, probed.length === 0, probed.length ? `not probed: ${probed.map((a) => a.name).join(", ")}` : "all app hosts probed");
    } catch {
      add(`Prometheus on ${h.name}: every target up`, false, targets.stderr.trim() || "no answer");
    }
    const alerts = await monitoringApi(h.name, `http://127.0.0.1:${PORTS.prometheus}/api/v1/alerts`);
    try {
      const firing = (JSON.parse(alerts.stdout).data.alerts as Array<{ state: string; labels: Record<string, string> }>).filter((a) => a.state === "firing");
      add(`Prometheus on ${h.name}: no alert firing`, firing.length === 0, firing.map((a) => `${a.labels.alertname} ${a.labels.instance ?? a.labels.region ?? ""}`).join("; ") || "none");
    } catch {
      add(`Prometheus on ${h.name}: no alert firing`, false, alerts.stderr.trim() || "no answer");
    }
  }
  const am = hostsRunning(t, "alertmanager");
  for (const h of am) {
    // HTTPS with basic auth; 127.0.0.1 is in the host's certificate.
    const r = await monitoringApi(h.name, `https://127.0.0.1:${PORTS.alertmanager}/api/v2/status`);
    let peers = -1;
    try {
      peers = JSON.parse(r.stdout).cluster.peers.length;
    } catch { /* reported */ }
    add(`Alertmanager on ${h.name}: ${am.length} peers joined`, peers === am.length, `peers ${peers}`);
  }
  // Alertmanager's API takes no alert or silence without its password, from another region.
  items.push(...await checkAlertmanagerRefusals(t, vault));

  // The app on every app host, the workers, the failover hook.
  for (const h of hostsRunning(t, "app")) {
    const r = await sh(h.name, `curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:${t.app.port}${t.app.healthPath}`);
    add(`app on ${h.name}: ${t.app.healthPath} answers 200`, r.stdout.trim() === "200", `HTTP ${r.stdout.trim() || r.stderr.trim()}`);
  }
  // Customers' way in: the Cloudflare stand-in sends them to the first pool, the primary region's.
  const edge = runHere(["ip", "netns", "exec", plan.operatorNs, "curl", "-s", "-o", "/dev/null", "-m", "5", "-w", "%{http_code} %header{cf-pool}", "-H", `host: ${t.domain.hostname}`, `http://${EDGE_ADDRESS}:${EDGE_PORT}${t.app.healthPath}`]).stdout.trim();
  add(`customers: ${t.app.healthPath} through the edge stand-ins answers 200 from ${primaryRegion(t)}`, edge === `200 ${primaryRegion(t)}`, edge ? `HTTP ${edge.replace(" ", " from pool ")}` : "no answer");
  for (const h of hostsRunning(t, "worker")) {
    const r = await sh(h.name, "systemctl is-active shop-worker");
    add(`worker on ${h.name} running`, r.stdout.trim() === "active", r.stdout.trim());
  }
  if (failoverHookNeeded(t)) {
    const units = await Promise.all(plan.hosts.map(async (h) => ({ h: h.host.name, state: (await sh(h.host.name, "systemctl is-active shop-failover-hook 2>/dev/null; true")).stdout.trim() })));
    const running = units.filter((u) => u.state === "active").map((u) => u.h);
    add("the failover hook is running", running.length > 0, running.length ? `on ${running.join(", ")}` : "on no host");
    const url = failoverWebhookUrl(t, productionRenderEnv(t));
    const post = (extra: string) => `curl -s -o /dev/null -m 5 -w '%{http_code}' ${extra} -X POST -H 'Content-Type: application/json' -d '{"alerts":[]}' ${url}`;
    add(`the failover hook runs on one host, the one every Alertmanager posts to (${url})`, running.length === 1 && url.includes(`//${running[0]}:`), `running on ${running.join(", ") || "no host"}`);
    for (const h of running) {
      // From every Alertmanager's host, by the webhook's URL: HTTPS verified against the deployment CA
      // (through the cloud firewall from the other regions); without Alertmanager's token, 401, logged.
      for (const am of hostsRunning(t, "alertmanager")) {
        const r = await sh(am.name, post(`--cacert ${PRODUCTION_TLS.caFile}`));
        add(`the failover hook on ${h} answers ${am.name}'s Alertmanager over HTTPS, and refuses it without the token (401)`, r.stdout.trim() === "401", `HTTP ${r.stdout.trim() || r.stderr.trim()}`);
      }
      const logged = await sh(h, "journalctl -u shop-failover-hook -o cat --no-pager -n 50 | grep -c 'refused a POST' || true");
      add(`the failover hook on ${h} logs the refusals`, Number(logged.stdout.trim()) > 0, `${logged.stdout.trim()} refusals logged`);
      // Plain HTTP gets no service (the handshake fails; the hook logs one line and keeps serving).
      const plain = await sh(h, post("").replace("https://", "http://"));
      add(`the failover hook on ${h} serves no plain HTTP`, plain.stdout.trim() === "000", `HTTP ${plain.stdout.trim() || plain.stderr.trim()}`);
      const user = await sh(h, "ps -o user:32= -p \"$(systemctl show -p MainPID --value shop-failover-hook)\"");
      add(`the failover hook on ${h} runs as ${FAILOVER_HOOK_USER}`, user.stdout.trim() === FAILOVER_HOOK_USER, `user ${user.stdout.trim() || user.stderr.trim()}`);
    }
  }

  // systemd on every host.
  for (const h of plan.hosts) {
    const r = await sh(h.host.name, "systemctl is-system-running; systemctl --failed --no-legend --plain | cut -d' ' -f1 | tr '\\n' ' '");
    const [state, failed] = r.stdout.split("\n");
    add(`systemd on ${h.host.name}: running`, state.trim() === "running", `${state.trim()}${failed?.trim() ? ` (failed: ${failed.trim()})` : ""}`);
  }
  return items;
}

export async function run(o: CliOptions, p: RehearsalPaths, log: (l: string) => void): Promise<number> {
  if (!readState(p)) throw new RehearsalError("no rehearsal is up: run `npm run rehearse -- up` and `converge` first");
  const t = loadTopology(p.topology);
  const items = await checkShop(t, readVault(p));
  items.push(...await checkFirewallRefusals(t, planOf(t), readState(p)?.firewall !== false));
  for (const i of items) log(`${i.ok ? "ok  " : "FAIL"} ${i.name} — ${i.detail}`);
  const failed = items.filter((i) => !i.ok);
  mergeReport(o.report ?? path.join(p.root, "report.json"), { check: { passed: failed.length === 0, items } });
  log(failed.length ? `check: FAIL (${failed.length} of ${items.length})` : `check: PASS (${items.length} items)`);
  return failed.length ? 3 : 0;
}
