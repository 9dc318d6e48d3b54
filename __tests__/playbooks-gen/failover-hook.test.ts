// The failover hook, run for real with python3 (and fed by a real Alertmanager with the generated
// config in one test): patronictl is a stub that logs its calls, the
// DigitalOcean API is a local server, the lost region's Patroni APIs are addresses nobody serves.
import { spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as tls from "tls";
import type { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import type { Topology } from "../../lib/model/types";
import { renderFailoverHookConfig, renderFailoverHookScript } from "../../playbooks-gen/render/failover";
import { PRODUCTION_TLS, productionRenderEnv, type RenderEnv } from "../../playbooks-gen/render-env";
import * as yaml from "js-yaml";
import { generateTree } from "../../playbooks-gen/generate";
import { ALERTMANAGER_HOOK_TOKEN_FILE } from "../../playbooks-gen/views/failover";
import { killAll, procsOfChildren } from "../../lab/proc";
import { requireDebianPackages } from "../support/debian";
import * as https from "https";
import { LabPki } from "../../lab/backends/loopback/pki";
import { postToHook } from "../../lab/backends/loopback/failover-hook";
import { example, EXAMPLE_OUTPUTS, exampleOutputs, standbyExample } from "./fixtures";

const LOST = "127.0.77.201:18008"; // nobody listens here: the lost region
const ALIVE = "127.0.77.202"; // a node of the "lost" region that still answers
/** What Alertmanager presents (production: vault_failover_hook_token). */
const HOOK_TOKEN = "stand-in-webhook-token";
/** The hook's host (production: the surviving region's monitoring host, every Alertmanager posts to it). */
const HOOK_ADDRESS = "127.0.77.1";

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("failover hook", () => {
  let dir: string;
  let hook: ChildProcess | undefined;
  /** The deployment's CA the hook verifies Patroni's certificates against. */
  let pki: LabPki;
  const servers: Array<http.Server | https.Server> = [];
  const callLog = () => path.join(dir, "calls.log");
  const calls = () => (fs.existsSync(callLog()) ? fs.readFileSync(callLog(), "utf8").trim().split("\n") : []);

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "hook-"));
    pki = new LabPki(path.join(dir, "pki"));
  });
  afterEach(async () => {
    hook?.kill("SIGKILL");
    if (hook) await until("the hook to exit", () => hook!.exitCode !== null || hook!.signalCode !== null, 5000);
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A local server; with `ca`, HTTPS with a certificate for `host` from that CA (a Patroni REST API). */
  async function listen(handler: http.RequestListener, host = "127.0.0.1", port = 0, ca?: LabPki): Promise<number> {
    const tls = ca?.issue(path.join(dir, `tls-${host}-${servers.length}`), host, [host]);
    const server = tls ? https.createServer({ cert: fs.readFileSync(tls.certFile), key: fs.readFileSync(tls.keyFile) }, handler) : http.createServer(handler);
    servers.push(server);
    await new Promise<void>((r) => server.listen(port, host, r));
    return (server.address() as AddressInfo).port;
  }

  /** Starts the hook with the rendered settings, pointed at the stubs; returns its webhook URL. */
  async function startHook(t: Topology, lostNodes: string, roles: string[], fence = { droplets: [41, 42], ends: "completed" }): Promise<string> {
    // The DigitalOcean API queues a power-off per droplet; each action completes on its second poll
    // unless the test says how the actions end.
    const polls = new Map<string, number>();
    const api = await listen((req, res) => {
      fs.appendFileSync(callLog(), `FENCE ${req.method} ${req.url} ${req.headers.authorization}\n`);
      const action = /^\/v2\/actions\/(\d+)$/.exec(req.url ?? "");
      if (action) {
        const n = (polls.get(action[1]) ?? 0) + 1;
        polls.set(action[1], n);
        res.writeHead(200).end(JSON.stringify({ action: { id: Number(action[1]), status: n < 2 ? "in-progress" : fence.ends } }));
      } else {
        res.writeHead(202).end(JSON.stringify({ actions: fence.droplets.map((id) => ({ id, status: "in-progress", type: "power_off" })) }));
      }
    });
    fs.writeFileSync(path.join(dir, "patronictl"), `#!/bin/sh\necho "$*" | sed 's/^-c [^ ]* //' >> ${callLog()}\n[ "$3" = list ] && sleep 0.3 && echo '${JSON.stringify(roles.map((Role) => ({ Role })))}'\nexit 0\n`, { mode: 0o755 });
    const port = 20000 + (process.pid % 20000);
    // Listen address, settings directory and API come from the RenderEnv, as in the lab.
    // The hook serves HTTPS with its host's certificate from the deployment CA (here the test's).
    const own = pki.issue(path.join(dir, "tls-hook"), "mon-ams3-1", [HOOK_ADDRESS]);
    const env: RenderEnv = { ...productionRenderEnv(t), tls: () => ({ ...own, caFile: pki.caFile }), failoverHook: { listen: `${HOOK_ADDRESS}:${port}`, dir, apiUrl: `http://127.0.0.1:${api}` } };
    fs.writeFileSync(path.join(dir, "digitalocean-token"), "stand-in-token\n");
    fs.writeFileSync(path.join(dir, "webhook-token"), `${HOOK_TOKEN}\n`);
    const ini = renderFailoverHookConfig(t, env)
      .replace(/^interval_seconds = .*$/m, "interval_seconds = 0")
      .replace(/^patronictl = .*$/m, `patronictl = ${path.join(dir, "patronictl")}`)
      .replace(/^lost_region_nodes = .*$/m, `lost_region_nodes = ${lostNodes}`);
    if (t.database.mode === "standby-cluster") expect(ini).toContain(`token_file = ${path.join(dir, "digitalocean-token")}`);
    fs.writeFileSync(path.join(dir, "hook.ini"), ini);
    fs.writeFileSync(path.join(dir, "hook.py"), renderFailoverHookScript());
    hook = spawn("/usr/bin/python3", [path.join(dir, "hook.py"), path.join(dir, "hook.ini")], { stdio: ["ignore", "pipe", "pipe"] });
    return `https://${HOOK_ADDRESS}:${port}/failover`;
  }

  /** A POST to the hook as Alertmanager's webhook sends it, verified against `ca` (default the deployment's). */
  const hookPost = (url: string, body: string, headers: Record<string, string>, ca = pki.caFile) => postToHook(url, body, headers, ca);

  async function postAlert(url: string, alertname: string): Promise<void> {
    const body = JSON.stringify({ alerts: [{ status: "firing", labels: { alertname, severity: "critical", component: "database" } }] });
    await until("the hook to accept the alert", async () => {
      try {
        return (await hookPost(url, body, { Authorization: `Bearer ${HOOK_TOKEN}` })).status === 200;
      } catch {
        return false;
      }
    }, 10_000);
  }

  const FENCE_CALL = "FENCE POST /v2/droplets/actions?tag_name=shop-production-pg-nyc1 Bearer stand-in-token";

  it("fences the old region through the DigitalOcean API, waits for the power-offs, then promotes the standby cluster", async () => {
    const url = await startHook(standbyExample(), LOST, ["Standby Leader"]);
    await postAlert(url, "DatabaseRegionDown");
    await until("the promotion", () => calls().some((c) => c.startsWith("edit-config")), 15_000);
    const polls = (id: number) => Array(2).fill(`FENCE GET /v2/actions/${id} Bearer stand-in-token`);
    expect(calls()).toEqual([
      "list --format json", "list --format json", "list --format json",
      FENCE_CALL,
      // Both actions polled until completed (order within a round: by id), and only then the promotion.
      ...[polls(41)[0], polls(42)[0], polls(41)[1], polls(42)[1]],
      "edit-config --force --set standby_cluster=null",
    ]);
  });

  it.each([
    ["a power-off errors", { droplets: [41], ends: "errored" }, "power_off action 41 ended errored"],
    ["no droplet carries the tag", { droplets: [], ends: "completed" }, "no droplet carries the tag shop-production-pg-nyc1"],
  ])("does not promote when %s", async (_case, fence, reason) => {
    const url = await startHook(standbyExample(), LOST, ["Standby Leader"], fence);
    let output = "";
    hook!.stdout!.on("data", (d) => { output += String(d); });
    await postAlert(url, "DatabaseRegionDown");
    await until("the hook to stop", () => output.includes("failover stopped"), 15_000);
    expect(output).toContain(reason);
    expect(calls()).toContain(FENCE_CALL);
    expect(calls().some((c) => c.startsWith("edit-config"))).toBe(false);
  });

  it("refuses a caller without Alertmanager's bearer token with 401, logs it and does nothing", async () => {
    const url = await startHook(example(), LOST, ["Replica"]);
    let output = "";
    hook!.stdout!.on("data", (d) => { output += String(d); });
    const body = JSON.stringify({ alerts: [{ status: "firing", labels: { alertname: "PatroniNoLeader", severity: "critical", component: "database" } }] });
    const post = async (headers: Record<string, string>) => {
      let res: { status: number; authenticate?: string } | null = null;
      await until("the hook to answer", async () => {
        res = await hookPost(url, body, headers).catch(() => null);
        return res !== null;
      }, 10_000);
      return res!;
    };
    const none = await post({});
    expect([none.status, none.authenticate]).toEqual([401, 'Bearer realm="shop-failover-hook"']);
    expect((await post({ Authorization: "Bearer not-the-token" })).status).toBe(401);
    expect((await post({ Authorization: `Basic ${HOOK_TOKEN}` })).status).toBe(401);
    await until("the refusals in the log", () => (output.match(/refused a POST from 127\.[\d.]+: no valid bearer token \(401\)/g) ?? []).length === 3, 5000);
    await new Promise((r) => setTimeout(r, 500));
    expect(calls()).toEqual([]);
    // Alertmanager's POST, with the token, is taken.
    expect((await post({ Authorization: `Bearer ${HOOK_TOKEN}` })).status).toBe(200);
    await until("the change", () => calls().some((c) => c.startsWith("edit-config")), 15_000);
  });

  it("serves HTTPS only: plain HTTP and a stalled handshake get nothing and do not stop it; a client trusting another CA refuses it", async () => {
    const url = await startHook(example(), LOST, ["Replica"]);
    let output = "";
    hook!.stdout!.on("data", (d) => { output += String(d); });
    const body = JSON.stringify({ alerts: [] });
    await until("the hook to answer", () => hookPost(url, body, {}).then(() => true, () => false), 10_000);
    // Plain HTTP: the handshake fails, the connection is dropped without an HTTP answer, one log line.
    const plain = await fetch(url.replace("https://", "http://"), { method: "POST", body }).then((r) => `HTTP ${r.status}`, (e: Error) => `failed: ${e.message}`);
    expect(plain).toMatch(/^failed/);
    await until("the dropped connection in the log", () => /dropped a connection from 127\.[\d.]+/.test(output), 5000);
    // A connection that never sends its ClientHello holds one thread; the hook keeps answering others.
    const port = Number(new URL(url).port);
    const stalled = net.connect(port, HOOK_ADDRESS);
    await new Promise((r) => stalled.once("connect", r));
    try {
      expect((await hookPost(url, body, {})).status).toBe(401);
    } finally {
      stalled.destroy();
    }
    // Alertmanager verifies the hook against the deployment CA: with another CA it sends nothing.
    const other = new LabPki(path.join(dir, "other-ca"), "another CA");
    await expect(hookPost(url, body, { Authorization: `Bearer ${HOOK_TOKEN}` }, other.caFile)).rejects.toThrow(/self.signed|unable to verify|certificate/i);
    await new Promise((r) => setTimeout(r, 300));
    expect(calls()).toEqual([]);
  });

  it("takes the alert from a real Alertmanager running the generated alertmanager.yml (HTTPS verified against the CA, the bearer token)", async () => {
    requireDebianPackages(["prometheus-alertmanager"]);
    const url = await startHook(example(), LOST, ["Replica"]);
    const tree = generateTree(example(), exampleOutputs(), EXAMPLE_OUTPUTS);
    const generated = tree["files/alertmanager/alertmanager.yml"];
    const am = yaml.load(generated) as { receivers: Array<{ name: string; webhook_configs?: Array<{ url: string }> }> };
    const productionUrl = am.receivers.find((r) => r.name === "database-failover")!.webhook_configs![0].url;
    // Production's URL, CA and token file, swapped for this test's hook (its address and port), CA and token.
    fs.writeFileSync(path.join(dir, "am-token"), `${HOOK_TOKEN}\n`);
    const config = generated.split(JSON.stringify(productionUrl)).join(JSON.stringify(url))
      .split(JSON.stringify(PRODUCTION_TLS.caFile)).join(JSON.stringify(pki.caFile))
      .split(JSON.stringify(ALERTMANAGER_HOOK_TOKEN_FILE)).join(JSON.stringify(path.join(dir, "am-token")));
    expect(config).not.toContain(productionUrl);
    fs.writeFileSync(path.join(dir, "alertmanager.yml"), config);
    const api = `127.0.77.1:${20000 + ((process.pid + 7) % 20000)}`;
    const alertmanager = spawn("/usr/bin/prometheus-alertmanager", [`--config.file=${path.join(dir, "alertmanager.yml")}`, `--storage.path=${path.join(dir, "am-data")}`,
      `--web.listen-address=${api}`, "--cluster.listen-address="], { stdio: "ignore" });
    let output = "";
    hook!.stdout!.on("data", (d) => { output += String(d); });
    try {
      const alert = JSON.stringify([{ labels: { alertname: "PatroniNoLeader", severity: "critical", component: "database", scope: "shop" } }]);
      await until("Alertmanager to take the alert", () => fetch(`http://${api}/api/v2/alerts`, { method: "POST", body: alert, headers: { "Content-Type": "application/json" } }).then((r) => r.ok, () => false), 20_000);
      await until("the hook to be triggered by Alertmanager", () => output.includes("triggered by PatroniNoLeader"), 20_000);
      // The log names the Alertmanager that delivered (which member of the cluster sent it).
      expect(output).toMatch(/triggered by PatroniNoLeader \(Alertmanager at 127\.[\d.]+\): confirming that nyc1 is lost/);
      await until("the change", () => calls().some((c) => c.startsWith("edit-config")), 15_000);
      expect(output).not.toContain("refused a POST");
    } finally {
      // It writes its storage on SIGTERM: exited before afterEach removes the directory.
      const running = procsOfChildren([alertmanager]);
      await killAll(running, "SIGTERM").catch(() => killAll(running));
    }
  }, 60_000);

  it("serves a renewed certificate without a restart (the pki role rewrites it in place)", async () => {
    const url = await startHook(example(), LOST, ["Replica"]);
    let output = "";
    hook!.stdout!.on("data", (d) => { output += String(d); });
    const { hostname, port } = new URL(url);
    const serial = () => new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: hostname, port: Number(port), ca: fs.readFileSync(pki.caFile) }, () => {
        resolve(socket.getPeerCertificate().serialNumber);
        socket.destroy();
      });
      socket.on("error", reject);
    });
    let before = "";
    await until("the hook to serve TLS", async () => { before = await serial().catch(() => ""); return before !== ""; }, 10_000);
    // Re-issued in place, as the pki role's renewal does; the next connection gets the new one.
    await new Promise((r) => setTimeout(r, 20)); // a later modification time than the first pair's
    pki.issue(path.join(dir, "tls-hook"), "mon-ams3-1", [HOOK_ADDRESS]);
    const after = await serial();
    expect(after).not.toBe(before);
    expect(output).toMatch(/re-read .*host\.crt \(renewed\)/);
    expect((await hookPost(url, JSON.stringify({ alerts: [] }), {})).status).toBe(401);
  });

  it("refuses to start without a token (fails closed)", async () => {
    await startHook(example(), LOST, ["Replica"]);
    await until("the first hook to exit", async () => { hook!.kill("SIGKILL"); return hook!.exitCode !== null || hook!.signalCode !== null; }, 5000);
    fs.writeFileSync(path.join(dir, "webhook-token"), "\n");
    hook = spawn("/usr/bin/python3", [path.join(dir, "hook.py"), path.join(dir, "hook.ini")], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    hook.stderr!.on("data", (d) => { err += String(d); });
    await until("the hook to exit", () => hook!.exitCode !== null, 10_000);
    expect(hook.exitCode).not.toBe(0);
    expect(err).toContain("webhook-token is empty");
  });

  it("turns synchronous mode off in stretched mode once the leader is confirmed gone twice", async () => {
    const url = await startHook(example(), LOST, ["Replica"]);
    let output = "";
    hook!.stdout!.on("data", (d) => { output += String(d); });
    await postAlert(url, "PatroniNoLeader");
    await until("the change", () => output.includes("applied "), 15_000);
    expect(calls()).toEqual(["list --format json", "list --format json", "edit-config --force --set synchronous_mode=false"]);
    // Each step names how long its patronictl call took (the stub's list sleeps 0.3 s).
    const listed = [...output.matchAll(/^confirmation [12]\/2 \(patronictl list (\d+\.\d) s\)$/gm)].map((m) => Number(m[1]));
    expect(listed).toHaveLength(2);
    for (const seconds of listed) expect(seconds).toBeGreaterThanOrEqual(0.3);
    expect(output).toMatch(/^applied synchronous_mode=false: Patroni promotes the new primary on its next loop \(patronictl edit-config \d+\.\d s\)$/m);
  });

  it.each([
    ["stretched", example, "playbooks/region-failover.yml -e region_lost=nyc1"],
    ["standby-cluster", standbyExample, "playbooks/promote-region.yml -e promote_region=ams3"],
  ])("with crossRegionPromotion manual (%s) confirms, changes nothing and names the command an operator runs", async (_mode, base, command) => {
    const t = base();
    const url = await startHook({ ...t, database: { ...t.database, crossRegionPromotion: "manual" } }, LOST, [t.database.mode === "stretched" ? "Replica" : "Standby Leader"]);
    let output = "";
    hook!.stdout!.on("data", (d) => { output += String(d); });
    await postAlert(url, "PatroniNoLeader");
    await until("the hook's verdict", () => output.includes("promotion is manual"), 15_000);
    expect(output).toContain(`nyc1 is lost (confirmed); promotion is manual: run ansible-playbook -i inventory/hosts.yml ${command}`);
    // The same confirmations as an automatic promotion; no fence, no change to the DCS.
    expect(calls()).toEqual(Array(t.database.mode === "stretched" ? 2 : 3).fill("list --format json"));
  });

  it("does nothing while a node of the primary region still answers", async () => {
    const alivePort = await listen((_req, res) => res.writeHead(503).end(), ALIVE, 0, pki);
    const url = await startHook(example(), `${LOST},${ALIVE}:${alivePort}`, ["Replica"]);
    let output = "";
    hook!.stdout!.on("data", (d) => { output += String(d); });
    await postAlert(url, "PatroniNoLeader");
    await until("the hook's verdict", () => output.includes("not confirmed"), 10_000);
    expect(output).toContain(`not confirmed: ${ALIVE}:${alivePort} still answer`);
    expect(calls()).toEqual([]);
  });

  it("counts a node whose certificate comes from another CA as answering: a TLS failure never confirms a region lost", async () => {
    const rogue = new LabPki(path.join(dir, "rogue"), "another CA");
    const port = await listen((_req, res) => res.writeHead(200).end(), ALIVE, 0, rogue);
    const url = await startHook(example(), `${ALIVE}:${port}`, ["Replica"]);
    let output = "";
    hook!.stdout!.on("data", (d) => { output += String(d); });
    await postAlert(url, "PatroniNoLeader");
    await until("the hook's verdict", () => output.includes("not confirmed"), 10_000);
    expect(output).toMatch(new RegExp(`${ALIVE}:${port} answers with a certificate that does not verify: .*CERTIFICATE_VERIFY_FAILED`));
    expect(calls()).toEqual([]);
  });
});
