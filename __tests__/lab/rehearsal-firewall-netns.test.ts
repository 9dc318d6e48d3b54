// The rehearsal's cloud firewalls in a real kernel, without the rehearsal: the rehearsal's own network
// (net.ts: one namespace per host of the bundled example with its public and VPC legs, region bridges
// routed as peered VPCs, the operator's namespace with the load balancers' legs) rebuilt in namespaces
// named shopfwtest-*, the rulesets rendered from the example's synthesized firewalls loaded into them,
// and real TCP listeners (node `net` servers) in every namespace. Proves, connection by connection:
// - every cross-host connection the generated configs make (read from the generated tree: Prometheus's
//   targets, etcd's peers, Patroni's DCS and members, HAProxy's servers and checks, Redis replication,
//   Sentinel, Alertmanager's cluster and Prometheus's alerting, the failover hook, the app's Sentinels),
//   the operator's SSH, the load balancer stand-in, the drills' harness and the hosts' way to the
//   mirror, the resolver and Spaces connect;
// - what the firewalls must stop is dropped (a connect times out; it is not refused), e.g. an app host
//   of another region to etcd's client port.
// The addresses are the rehearsal's plan (10.219.x VPCs, 203.0.113.x public side): the outbound rules
// name the VPC ranges, and these namespaces are isolated, so they clash with nothing (not even a
// running rehearsal: its namespaces are shoprh-*). Needs root (namespaces) and nftables.
import { spawn, type ChildProcess } from "child_process";
import * as readline from "readline";
import * as yaml from "js-yaml";
import * as fs from "fs";
import { hostsOf, parseDeployOutputs, parseTopology, PORTS, type Topology } from "../../lib/model";
import { generateTree } from "../../playbooks-gen/generate";
import { deployOutputs, planOf, OPERATOR_ADDRESS, SPACES_ADDRESS, PUBLIC_GATEWAY, type Plan, type HostPlan } from "../../lab/backends/rehearsal/plan";
import { makeFabric, makeHostNetwork, deleteNamespace } from "../../lab/backends/rehearsal/net";
import { applyRuleset, listedFirewall, rehearsalRulesets, withRehearsalAdmin, FIREWALL_TABLE } from "../../lab/backends/rehearsal/firewall";
import { intToIp } from "../../lib/model";
import { run, runAsync, runOk } from "../../lab/backends/rehearsal/sys";
import { tcpConnectScript, tcpConnectVerdict } from "../../lab/backends/rehearsal/refusals";
import { requireDebianPackages } from "../support/debian";
import { synthStacks } from "../support/synth";

const PREFIX = "shopfwtest";
const root = process.getuid?.() === 0;
const exampleDoc = yaml.load(fs.readFileSync("examples/topology.yaml", "utf8")) as Record<string, never>;
/** The topology as the rehearsal synthesizes it: the operator among the admin CIDRs. */
const t: Topology = parseTopology(yaml.dump(withRehearsalAdmin(exampleDoc)), "examples/topology.yaml (rehearsal copy)");
const base = planOf(t);
/** The rehearsal's plan with this suite's namespace names (bridges and veths live inside them). */
const plan: Plan = {
  ...base, fabricNs: `${PREFIX}-fabric`, operatorNs: `${PREFIX}-operator`,
  hosts: base.hosts.map((h): HostPlan => ({ ...h, netns: `${PREFIX}-${h.host.name}` })),
};
const hp = (name: string) => plan.hosts.find((h) => h.host.name === name)!;
const ip = (name: string) => hp(name).privateIpv4;

// A TCP listener on every port given, on every address; "ready" once all listen.
const LISTEN_JS = `const net=require("net");const ports=process.argv.slice(1).map(Number);let n=0;
for(const p of ports){net.createServer((s)=>{s.on("error",()=>{});s.end();}).listen(p,"0.0.0.0",()=>{if(++n===ports.length)console.log("ready")});}`;
// Connects to every host:port of argv[1] (JSON) at once: connected | refused | timeout | error.
const PROBE_JS = `const net=require("net");const list=JSON.parse(process.argv[1]);
Promise.all(list.map(([h,p])=>new Promise((res)=>{const s=net.connect({host:h,port:p});const t=setTimeout(()=>{s.destroy();res("timeout")},2500);
s.on("connect",()=>{clearTimeout(t);s.destroy();res("connected")});s.on("error",(e)=>{clearTimeout(t);res(e.code==="ECONNREFUSED"?"refused":e.code)})}))).then((r)=>console.log(JSON.stringify(r)));`;

// A UDP echo on argv[1]; "ready" once bound.
const UDP_ECHO_JS = `const s=require("dgram").createSocket("udp4");s.on("message",(m,r)=>s.send(m,r.port,r.address));s.bind(Number(process.argv[1]),"0.0.0.0",()=>console.log("ready"));`;
// One datagram to argv[1]:argv[2]: "answered" when the echo comes back within 2 s, else "no answer".
const UDP_PROBE_JS = `const s=require("dgram").createSocket("udp4");const t=setTimeout(()=>{console.log("no answer");s.close()},2000);
s.on("message",()=>{clearTimeout(t);console.log("answered");s.close()});s.send("x",Number(process.argv[2]),process.argv[1]);`;

const listeners: ChildProcess[] = [];

function listen(ns: string, ports: readonly number[], script = LISTEN_JS): Promise<void> {
  const child = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", script, ...ports.map(String)], { stdio: ["ignore", "pipe", "inherit"] });
  listeners.push(child);
  return new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).on("line", (l) => { if (l === "ready") resolve(); });
    child.once("exit", (code) => reject(new Error(`listener in ${ns} exited ${code}`)));
  });
}

/** Each connection from `ns`, attempted at once: what happened to each. */
function probe(ns: string, targets: ReadonlyArray<readonly [string, number]>): string[] {
  return JSON.parse(runOk(["ip", "netns", "exec", ns, process.execPath, "-e", PROBE_JS, JSON.stringify(targets)], { timeout: 30_000 }));
}

async function probeAsync(ns: string, targets: ReadonlyArray<readonly [string, number]>): Promise<string[]> {
  const r = await runAsync(["ip", "netns", "exec", ns, process.execPath, "-e", PROBE_JS, JSON.stringify(targets)], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`probe from ${ns}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

interface Conn { readonly from: string; readonly to: string; readonly port: number; readonly why: string }
const OPERATOR = "operator";
const nsOf = (from: string) => (from === OPERATOR ? plan.operatorNs : hp(from).netns);

/** Every cross-host TCP connection the generated tree's configs make, with the host names resolved to
 * private addresses as the hosts' /etc/hosts does. */
function treeConnections(): Conn[] {
  const tree = generateTree(t, parseDeployOutputs(deployOutputs(base), "outputs.json"), "outputs.json");
  const hosts = hostsOf(t);
  const names = new Set(hosts.map((h) => h.name));
  const running = (s: string) => hosts.filter((h) => (h.services as readonly string[]).includes(s)).map((h) => h.name);
  const out: Conn[] = [];
  const add = (froms: readonly string[], to: string, port: number, why: string) => {
    if (!names.has(to)) throw new Error(`${why}: ${to} is not a host of the topology`);
    for (const from of froms) if (from !== to) out.push({ from, to, port, why });
  };
  const targets = (text: string) => [...text.matchAll(/(?:https?:\/\/)?([a-z0-9-]+):(\d+)/g)].filter((m) => names.has(m[1])).map((m) => [m[1], Number(m[2])] as const);
  const file = (host: string, name: string) => tree[`files/${host}/${name}`] ?? "";
  // Prometheus (monitoring hosts): scrape and probe targets, Alertmanagers.
  for (const [to, port] of targets(tree["files/prometheus/prometheus.yml"])) add(running("prometheus"), to, port, "prometheus.yml");
  for (const h of hosts) {
    for (const [to, port] of targets(file(h.name, "etcd.yml"))) add([h.name], to, port, "etcd.yml initial-cluster");
    for (const [to, port] of targets(file(h.name, "patroni.yml"))) add([h.name], to, port, "patroni.yml (etcd3 hosts, connect addresses)");
    // Patroni's members: replication and the REST API of the others.
    if (file(h.name, "patroni.yml")) for (const o of running("patroni")) { add([h.name], o, PORTS.postgres, "replication"); add([h.name], o, PORTS.patroniApi, "Patroni members"); }
    for (const m of file(h.name, "haproxy.cfg").matchAll(/server \S+ ([a-z0-9-]+):(\d+) check port (\d+)/g)) {
      add([h.name], m[1], Number(m[2]), "haproxy.cfg server");
      add([h.name], m[1], Number(m[3]), "haproxy.cfg check");
    }
    for (const m of file(h.name, "redis.conf").matchAll(/^replicaof (\S+) (\d+)$/gm)) add([h.name], m[1], Number(m[2]), "redis.conf replicaof");
    if (file(h.name, "sentinel.conf")) {
      // Sentinel talks to every Redis (it finds the replicas) and to every other Sentinel.
      for (const m of file(h.name, "sentinel.conf").matchAll(/^sentinel monitor \S+ (\S+) (\d+)/gm)) add([h.name], m[1], Number(m[2]), "sentinel.conf monitor");
      for (const o of running("redis")) add([h.name], o, PORTS.redis, "Sentinel to the replicas");
      for (const o of running("sentinel")) add([h.name], o, PORTS.sentinel, "Sentinel peers");
    }
    for (const [to, port] of targets(file(h.name, "alertmanager.default"))) add([h.name], to, port, "alertmanager.default cluster peers");
  }
  // The app and the workers: the Sentinels of app_redis_sentinels, then whichever Redis is the primary.
  for (const group of ["app", "workers"]) {
    const members = hosts.filter((h) => (group === "app" ? h.tier === "app" : h.tier === "worker")).map((h) => h.name);
    for (const [to, port] of targets(tree[`inventory/group_vars/${group}.yml`])) add(members, to, port, `${group}.yml app_redis_sentinels`);
    for (const o of running("redis")) add(members, o, PORTS.redis, "the app's Redis primary");
  }
  // The failover hook: the lost region's Patroni APIs and its patronictl's etcd.
  const hookHosts = hosts.filter((h) => h.tier === "monitoring" && h.region !== t.regions.find((r) => r.role === "primary")!.slug).map((h) => h.name);
  for (const name of ["failover-hook.ini", "patronictl.yml"]) for (const [to, port] of targets(tree[`files/failover-hook/${name}`] ?? "")) add(hookHosts, to, port, `failover hook ${name}`);
  return out;
}

const d = root ? describe : describe.skip;
if (!root) console.warn("rehearsal-firewall-netns.test.ts skipped: it needs root (network namespaces and nftables); CI runs it as root");

d("the rehearsal's cloud firewalls in network namespaces", () => {
  let rulesets: Map<string, string>;
  const conns = treeConnections();

  beforeAll(async () => {
    requireDebianPackages(["iproute2", "nftables"]);
    cleanup();
    makeFabric(plan);
    for (const h of plan.hosts) {
      makeHostNetwork(plan, h);
      // What cloud-init does from the network metadata (networkConfig): addresses, default route, peered VPCs.
      const peered = plan.regions.filter((r) => r.slug !== h.host.region);
      runOk(["ip", "-n", h.netns, "-batch", "-"], { input: [
        `address add ${h.publicIpv4}/24 dev eth0`, "link set eth0 up", `address add ${h.privateIpv4}/${h.prefixLength} dev eth1`, "link set eth1 up",
        `route add default via ${PUBLIC_GATEWAY}`, ...peered.map((r) => `route add ${intToIp(r.vpc.base)}/${r.vpc.prefix} via ${h.regionGateway}`),
      ].join("\n") + "\n" });
    }
    rulesets = rehearsalRulesets(plan, synthStacks(t).outdir);
    for (const h of plan.hosts) applyRuleset(h.netns, rulesets.get(h.host.name)!);
    // Listeners: every port some connection below targets, on every host; the operator's services.
    const ports = new Map<string, Set<number>>(plan.hosts.map((h) => [h.host.name, new Set([PORTS.ssh, PORTS.nodeExporter])]));
    for (const c of conns) ports.get(c.to)!.add(c.port);
    for (const h of hostsOf(t).filter((x) => x.tier === "app")) ports.get(h.name)!.add(t.app.port);
    ports.get("pg-nyc1-1")!.add(PORTS.postgresExporter);
    ports.get("redis-nyc1-1")!.add(PORTS.redisExporter);
    await Promise.all([
      ...plan.hosts.map((h) => listen(h.netns, [...ports.get(h.host.name)!])),
      listen(plan.operatorNs, [443, 53, 8443]),
    ]);
  }, 120_000);

  afterAll(() => {
    for (const c of listeners) c.kill("SIGKILL");
    cleanup();
    expect(run(["ip", "netns", "list"]).stdout).not.toContain(`${PREFIX}-`);
  });

  it("loads every host's ruleset, and loading it again leaves the same table", () => {
    for (const h of plan.hosts) {
      const before = listedFirewall(h.netns);
      expect(before).toContain(`table inet ${FIREWALL_TABLE}`);
      applyRuleset(h.netns, rulesets.get(h.host.name)!);
      expect(listedFirewall(h.netns)).toBe(before);
    }
  });

  it("connects every cross-host connection the generated configs make", () => {
    expect(conns.length).toBeGreaterThan(150);
    // Every kind of connection the configs make is among them.
    const kinds = new Set(conns.map((c) => c.port));
    for (const p of [PORTS.etcdClient, PORTS.etcdPeer, PORTS.postgres, PORTS.patroniApi, PORTS.redis, PORTS.sentinel, PORTS.alertmanager, PORTS.alertmanagerCluster, PORTS.nodeExporter, PORTS.postgresExporter, PORTS.redisExporter, PORTS.haproxyStats, t.app.port]) expect(kinds).toContain(p);
    const failed: string[] = [];
    for (const from of [...new Set(conns.map((c) => c.from))]) {
      const mine = conns.filter((c) => c.from === from);
      const results = probe(nsOf(from), mine.map((c) => [ip(c.to), c.port] as const));
      mine.forEach((c, i) => { if (results[i] !== "connected") failed.push(`${c.from} -> ${c.to}:${c.port} (${c.why}): ${results[i]}`); });
    }
    expect(failed).toEqual([]);
    // SHOP_FW_LIST=FILE: the kinds of connection checked, one "tier -> tier:port (source)" a line.
    if (process.env.SHOP_FW_LIST) fs.writeFileSync(process.env.SHOP_FW_LIST, [...new Set(conns.map((c) => `${hp(c.from).host.tier} -> ${hp(c.to).host.tier}:${c.port} (${c.why})`))].sort().join("\n") + "\n");
  }, 300_000);

  it("lets the operator in: SSH on every host's public address, the load balancer stand-ins to their region's app hosts, the drills' probes", () => {
    const all = plan.hosts.map((h) => [h.publicIpv4, PORTS.ssh] as const);
    expect(probe(plan.operatorNs, all)).toEqual(all.map(() => "connected"));
    // From the operator's VPC legs: the load balancer's health checks and traffic, the drills' probes.
    const apps = hostsOf(t).filter((h) => h.tier === "app").map((h) => [ip(h.name), t.app.port] as const);
    const harness = [[ip("pg-nyc1-1"), PORTS.postgres], [ip("pg-ams3-1"), PORTS.patroniApi], [ip("etcd-nyc1-1"), PORTS.etcdClient], [ip("redis-ams3-1"), PORTS.redis], [ip("witness-lon1-1"), PORTS.sentinel]] as const;
    // The drills' writer on an app host's public address.
    const writer = [[hp("app-ams3-1").publicIpv4, t.app.port]] as const;
    expect(probe(plan.operatorNs, [...apps, ...harness, ...writer])).toEqual([...apps, ...harness, ...writer].map(() => "connected"));
    // Not SSH from the VPC legs (only the admin CIDRs), nor SSH or anything else on the public side.
    expect(probe(plan.operatorNs, [[ip("app-nyc1-1"), PORTS.ssh], [hp("pg-nyc1-1").publicIpv4, PORTS.postgres]])).toEqual(["timeout", "timeout"]);
  }, 60_000);

  it("lets every host out to the mirror, the resolver and Spaces, and nowhere else outside the VPCs", async () => {
    const results = await Promise.all(plan.hosts.map(async (h) => [h.host.name, await probeAsync(h.netns, [[OPERATOR_ADDRESS, 443], [OPERATOR_ADDRESS, 53], [SPACES_ADDRESS, 443], [OPERATOR_ADDRESS, 8443]])]));
    expect(results).toEqual(plan.hosts.map((h) => [h.host.name, ["connected", "connected", "connected", "timeout"]]));
  }, 120_000);

  it("drops what no rule admits (a connect times out, it is not refused): another region's app host to etcd, exporters and SSH", () => {
    const from = hp("app-ams3-1").netns;
    expect(probe(from, [
      [ip("etcd-nyc1-1"), PORTS.etcdClient], [ip("etcd-nyc1-1"), PORTS.etcdPeer], [ip("witness-lon1-1"), PORTS.etcdClient],
      [ip("pg-nyc1-1"), PORTS.postgresExporter], [ip("redis-nyc1-1"), PORTS.redisExporter], [ip("pg-nyc1-1"), PORTS.nodeExporter],
      [ip("pg-nyc1-1"), PORTS.ssh], [hp("etcd-nyc1-1").publicIpv4, PORTS.etcdClient],
    ])).toEqual(Array(8).fill("timeout"));
    // The same ports from the tiers that use them connect; PostgreSQL and Redis are the app's (HAProxy, ioredis).
    expect(probe(hp("pg-nyc1-1").netns, [[ip("etcd-nyc1-1"), PORTS.etcdClient]])).toEqual(["connected"]);
    expect(probe(hp("mon-ams3-1").netns, [[ip("pg-nyc1-1"), PORTS.nodeExporter], [ip("pg-nyc1-1"), PORTS.postgresExporter]])).toEqual(["connected", "connected"]);
    expect(probe(from, [[ip("pg-nyc1-1"), PORTS.postgres], [ip("redis-nyc1-1"), PORTS.redis]])).toEqual(["connected", "connected"]);
    // An admitted port with nothing listening is refused: the timeouts above are the firewall's.
    expect(probe(plan.operatorNs, [[ip("pg-nyc1-1"), 5999]])).toEqual(["refused"]);
  }, 60_000);

  it("carries no UDP to Alertmanager's cluster port, from anywhere: its gossip runs over TCP with mutual TLS", async () => {
    await listen(hp("witness-lon1-1").netns, [PORTS.alertmanagerCluster], UDP_ECHO_JS);
    const udp = (from: string) => runOk(["ip", "netns", "exec", hp(from).netns, process.execPath, "-e", UDP_PROBE_JS, ip("witness-lon1-1"), String(PORTS.alertmanagerCluster)]).trim();
    // The control: within the witness's own namespace the echo answers (the firewall filters what arrives from other hosts).
    expect(runOk(["ip", "netns", "exec", hp("witness-lon1-1").netns, process.execPath, "-e", UDP_PROBE_JS, "127.0.0.1", String(PORTS.alertmanagerCluster)]).trim()).toBe("answered");
    expect(udp("mon-nyc1-1")).toBe("no answer");
    expect(udp("mon-ams3-1")).toBe("no answer");
    expect(udp("app-ams3-1")).toBe("no answer");
  }, 30_000);

  it("tells check's drop from a refusal with the probe check runs on the hosts", () => {
    const verdict = (ns: string, to: string, port: number) => tcpConnectVerdict(run(["ip", "netns", "exec", ns, "sh", "-c", tcpConnectScript(to, port, 2)]).stdout);
    expect(verdict(hp("app-ams3-1").netns, ip("etcd-nyc1-1"), PORTS.etcdClient)).toBe("timeout");
    expect(verdict(hp("pg-nyc1-1").netns, ip("etcd-nyc1-1"), PORTS.etcdClient)).toBe("connected");
    expect(verdict(plan.operatorNs, ip("pg-nyc1-1"), 5999)).toBe("refused");
  }, 30_000);

  it("enforces the admin CIDRs as synthesized: the example's own (not the operator's) leave SSH closed to it", () => {
    const own = rehearsalRulesets(plan, synthStacks(parseTopology(yaml.dump(exampleDoc), "examples/topology.yaml")).outdir).get("etcd-ams3-1")!;
    const ns = hp("etcd-ams3-1").netns;
    try {
      applyRuleset(ns, own);
      expect(probe(plan.operatorNs, [[hp("etcd-ams3-1").publicIpv4, PORTS.ssh]])).toEqual(["timeout"]);
    } finally {
      applyRuleset(ns, rulesets.get("etcd-ams3-1")!);
    }
    expect(probe(plan.operatorNs, [[hp("etcd-ams3-1").publicIpv4, PORTS.ssh]])).toEqual(["connected"]);
  }, 60_000);

  it("takes the firewall away with the namespace", () => {
    const ns = `${PREFIX}-gone`;
    runOk(["ip", "netns", "add", ns]);
    applyRuleset(ns, rulesets.get("app-nyc1-1")!);
    expect(listedFirewall(ns)).not.toBeNull();
    deleteNamespace(ns);
    expect(run(["ip", "netns", "list"]).stdout).not.toContain(ns);
  });
});

function cleanup(): void {
  for (const ns of run(["ip", "netns", "list"]).stdout.split("\n").map((l) => l.split(/\s/)[0]).filter((n) => n.startsWith(`${PREFIX}-`))) deleteNamespace(ns);
}
