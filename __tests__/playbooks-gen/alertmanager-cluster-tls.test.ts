// Alertmanager's cluster gossip over mutual TLS, for real: three Debian prometheus-alertmanager 0.25
// processes on 127.0.83.1-3 with the flags the generator renders for the example's three Alertmanager
// hosts (an env that gives them these addresses) and the cluster TLS config the alertmanager role
// writes, with the TLS paths moved to certificates from a test CA made as the loopback lab makes its
// own (LabPki). They form one cluster and gossip a silence; an outsider with a certificate from another
// CA, or without TLS, does not get in; the same outsider with a certificate from the deployment CA does
// (the control). The rehearsal's handshake command runs against them too.
// Addresses 127.0.83.1-5 are this test's alone (ports 9093 and 9094 there), so it needs no lab lock.
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { hostsRunning } from "../../lib/model/hosts";
import { PORTS } from "../../lib/model/ports";
import { LabPki } from "../../lab/backends/loopback/pki";
import { gossipHandshakeScript, gossipHandshakeVerdict, refusalSilence } from "../../lab/backends/rehearsal/refusals";
import { generateTree } from "../../playbooks-gen/generate";
import { renderAlertmanagerDefaults } from "../../playbooks-gen/render/monitoring";
import { PRODUCTION_TLS, productionRenderEnv, type RenderEnv, type TlsFiles } from "../../playbooks-gen/render-env";
import { ALERTMANAGER_HOOK_TOKEN_FILE } from "../../playbooks-gen/views/failover";
import { ALERTMANAGER_CLUSTER_TLS_CONFIG, ALERTMANAGER_WEB_CONFIG } from "../../playbooks-gen/views/monitoring";
import { requireDebianPackages } from "../support/debian";
import { example, EXAMPLE_OUTPUTS, exampleOutputs } from "./fixtures";

const t = example();
const tree = generateTree(t, exampleOutputs(), EXAMPLE_OUTPUTS);
const members = hostsRunning(t, "alertmanager");
const ADDRESS = new Map(members.map((h, i) => [h.name, `127.0.83.${i + 1}`]));
const OUTSIDER = "127.0.83.4";
const PLAIN = "127.0.83.5";
/** The example's env with this test's addresses: what the generator renders for a lab of these hosts. */
const env: RenderEnv = { ...productionRenderEnv(t), addressOf: (n) => ADDRESS.get(n) ?? n, listenAddress: (h) => ADDRESS.get(h.name)! };
const gossipPort = PORTS.alertmanagerCluster;

type Task = Record<string, unknown>;
interface Status { cluster: { status: string; peers: Array<{ name: string; address: string }> } }

describe("Alertmanager's cluster gossip over mutual TLS (the generated flags and cluster TLS config)", () => {
  let root: string;
  const at = (...f: string[]) => path.join(root, ...f);
  const children = new Map<string, ChildProcess>();
  let pki: LabPki;
  let otherPki: LabPki;

  /** The cluster TLS config as the alertmanager role writes it, with the TLS paths moved. */
  function clusterTlsConfig(tls: TlsFiles): string {
    const tasks = yaml.load(tree["playbooks/roles/alertmanager/tasks/configure.yml"]) as Task[];
    const task = tasks.find((x) => (x["ansible.builtin.copy"] as Task | undefined)?.dest === ALERTMANAGER_CLUSTER_TLS_CONFIG);
    expect(task).toMatchObject({ "ansible.builtin.copy": { owner: "root", group: "prometheus", mode: "0640" }, notify: "Restart alertmanager" });
    const content = String((task!["ansible.builtin.copy"] as Task).content);
    return [[PRODUCTION_TLS.caFile, tls.caFile], [PRODUCTION_TLS.certFile, tls.certFile], [PRODUCTION_TLS.keyFile, tls.keyFile]]
      .reduce((s, [from, to]) => s.split(from).join(to), content);
  }

  /** The ARGS of a rendered /etc/default/prometheus-alertmanager, with the config paths moved. */
  function renderedArgs(text: string, dir: string): string[] {
    const args = /^ARGS="(.*)"$/m.exec(text)![1].split(" ");
    return args.map((a) => a.replace(`=${ALERTMANAGER_WEB_CONFIG}`, `=${path.join(dir, "web.yml")}`).replace(`=${ALERTMANAGER_CLUSTER_TLS_CONFIG}`, `=${path.join(dir, "cluster-tls.yml")}`));
  }

  /** One Alertmanager in its directory: the generated alertmanager.yml, on ip:9093, the rendered flags
   * (its web config here: HTTPS without a password, which the auth test covers, with `web`'s certificate). */
  function start(name: string, ip: string, tls: TlsFiles, clusterArgs: string[], web: TlsFiles = tls): void {
    const dir = at(name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "web.yml"), yaml.dump({ tls_server_config: { cert_file: web.certFile, key_file: web.keyFile } }));
    fs.writeFileSync(path.join(dir, "cluster-tls.yml"), clusterTlsConfig(tls));
    const out = fs.openSync(path.join(dir, "log"), "a");
    const child = spawn("/usr/bin/prometheus-alertmanager", [`--config.file=${at("alertmanager.yml")}`, `--storage.path=${path.join(dir, "data")}`,
      `--web.listen-address=${ip}:${PORTS.alertmanager}`, ...clusterArgs], { stdio: ["ignore", out, out] });
    fs.closeSync(out);
    children.set(name, child);
  }
  function stop(name: string): Promise<void> {
    const c = children.get(name);
    if (!c?.pid || c.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => { c.once("exit", () => resolve()); process.kill(c.pid!, "SIGTERM"); });
  }
  const log = (name: string) => fs.readFileSync(at(name, "log"), "utf8");

  function api(ip: string, p: string, body?: string): string {
    const data = body === undefined ? [] : ["-X", "POST", "-H", "Content-Type: application/json", "-d", body];
    try {
      return execFileSync("curl", ["-s", "--fail", "--max-time", "5", "--cacert", pki.caFile, ...data, `https://${ip}:${PORTS.alertmanager}${p}`], { encoding: "utf8" });
    } catch {
      return "";
    }
  }
  function status(ip: string): Status["cluster"] | null {
    const text = api(ip, "/api/v2/status");
    return text ? (JSON.parse(text) as Status).cluster : null;
  }
  const peers = (ip: string) => (status(ip)?.peers ?? []).map((p) => p.address).sort();

  async function until(what: string, ok: () => boolean, ms = 60_000, detail = () => ""): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (ok()) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`timed out after ${ms / 1000} s waiting for ${what}${detail() ? `: ${detail()}` : ""}`);
  }

  /** Resolves true when ip:port takes a TCP connection. */
  const listening = (ip: string, port: number) => new Promise<boolean>((resolve) => {
    const s = net.connect({ host: ip, port, timeout: 1000 }, () => { s.destroy(); resolve(true); });
    s.on("error", () => resolve(false));
    s.on("timeout", () => { s.destroy(); resolve(false); });
  });

  const memberAddresses = [...ADDRESS.values()].map((ip) => `${ip}:${gossipPort}`).sort();

  beforeAll(async () => {
    requireDebianPackages(["prometheus-alertmanager"]);
    for (const ip of [...ADDRESS.values(), OUTSIDER, PLAIN]) {
      for (const port of [PORTS.alertmanager, gossipPort]) {
        if (await listening(ip, port)) throw new Error(`${ip}:${port} is taken by another process; this test needs 127.0.83.1-5 on ports ${PORTS.alertmanager} and ${gossipPort}`);
      }
    }
    root = fs.mkdtempSync(path.join(os.tmpdir(), "am-cluster-tls-"));
    pki = new LabPki(at("pki"));
    otherPki = new LabPki(at("other-pki"), "another CA");
    fs.writeFileSync(at("hook-token"), "token\n");
    fs.writeFileSync(at("alertmanager.yml"), tree["files/alertmanager/alertmanager.yml"].split(ALERTMANAGER_HOOK_TOKEN_FILE).join(at("hook-token"))
      .split(PRODUCTION_TLS.caFile).join(pki.caFile));
    expect(members).toHaveLength(3);
    for (const h of members) {
      const ip = ADDRESS.get(h.name)!;
      const tls = pki.issue(at(h.name), h.name, [ip]);
      start(h.name, ip, tls, renderedArgs(renderAlertmanagerDefaults(t, h, env, ADDRESS.get(h.name)!), at(h.name)));
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all([...children.keys()].map(stop));
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it("renders the TLS config and advertises the host's private address", () => {
    const h = members[0];
    const args = renderedArgs(renderAlertmanagerDefaults(t, h, env, ADDRESS.get(h.name)!), "/x");
    expect(args).toEqual(expect.arrayContaining(["--cluster.tls-config=/x/cluster-tls.yml", `--cluster.advertise-address=${ADDRESS.get(h.name)}:${gossipPort}`,
      `--cluster.listen-address=${ADDRESS.get(h.name)}:${gossipPort}`]));
    // In the tree: the deploy outputs' private address, the one the pki role puts in the certificate.
    expect(tree[`files/${h.name}/alertmanager.default`]).toContain(`--cluster.advertise-address=${exampleOutputs().hosts[h.name].private_ipv4}:${gossipPort}`);
    expect(yaml.load(clusterTlsConfig(PRODUCTION_TLS))).toEqual({
      tls_server_config: { cert_file: PRODUCTION_TLS.certFile, key_file: PRODUCTION_TLS.keyFile, client_auth_type: "RequireAndVerifyClientCert", client_ca_file: PRODUCTION_TLS.caFile, min_version: "TLS12" },
      tls_client_config: { ca_file: PRODUCTION_TLS.caFile, cert_file: PRODUCTION_TLS.certFile, key_file: PRODUCTION_TLS.keyFile, min_version: "TLS12" },
    });
  });

  it("forms one cluster of three over TLS (every member ready, with the three advertised addresses)", async () => {
    const ready = () => [...ADDRESS.values()].every((ip) => status(ip)?.status === "ready" && peers(ip).join() === memberAddresses.join());
    await until("the three Alertmanagers to form one ready cluster", ready, 90_000,
      () => members.map((h) => `${h.name}: ${JSON.stringify(status(ADDRESS.get(h.name)!))} ${log(h.name).slice(-800)}`).join("; "));
    for (const h of members) expect([h.name, log(h.name)]).toEqual([h.name, expect.stringContaining("using TLS for gossip")]);
    // TLS gossip is TCP only: nothing listens for plain memberlist packets on UDP.
    const udp = execFileSync("ss", ["-H", "-lun"], { encoding: "utf8" });
    for (const ip of ADDRESS.values()) expect(udp).not.toContain(`${ip}:${gossipPort}`);
  }, 120_000);

  it("gossips: a silence created on one member appears on the other two", async () => {
    const [first, ...others] = [...ADDRESS.values()];
    const created = api(first, "/api/v2/silences", refusalSilence());
    const id = (JSON.parse(created) as { silenceID: string }).silenceID;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const has = (ip: string) => (JSON.parse(api(ip, "/api/v2/silences") || "[]") as Array<{ id: string }>).some((s) => s.id === id);
    await until("the silence on the other members", () => others.every(has), 30_000, () => others.filter((ip) => !has(ip)).join(", "));
  }, 60_000);

  it("takes the rehearsal's handshake from a deployment-CA certificate, refuses it without one or with another CA's", () => {
    const address = `${ADDRESS.get(members[0].name)}:${gossipPort}`;
    const handshake = (o: { certFile?: string; keyFile?: string }) =>
      gossipHandshakeVerdict(execFileSync("/bin/sh", ["-c", gossipHandshakeScript(address, { caFile: pki.caFile, ...o })], { encoding: "utf8" }));
    const own = pki.issue(at("client"), "client", ["127.0.0.1"]);
    const foreign = otherPki.issue(at("foreign-client"), "client", ["127.0.0.1"]);
    expect(handshake({})).toBe("bad certificate");
    expect(handshake({ certFile: foreign.certFile, keyFile: foreign.keyFile })).toBe("bad certificate");
    expect(handshake({ certFile: own.certFile, keyFile: own.keyFile })).toBe("handshake");
  }, 60_000);

  /** An outsider peering with the first member, with the generated cluster flags of its address. */
  function outsiderArgs(ip: string): string[] {
    const args = renderedArgs(renderAlertmanagerDefaults(t, members[0], env, ADDRESS.get(members[0].name)!), at(ip === PLAIN ? "plain" : "outsider"));
    return args.map((a) => a.split(`${ADDRESS.get(members[0].name)}:`).join(`${ip}:`)).filter((a) => !a.startsWith("--cluster.peer=")).concat(`--cluster.peer=${ADDRESS.get(members[0].name)}:${gossipPort}`);
  }

  /** The outsider `name` logs its failed join, and past its next attempt (0.25 retries every 10 s) and
   * memberlist's probes it still sees only itself, the members only the three; then it stops. */
  async function keptOut(name: string, ip: string, failure: RegExp): Promise<void> {
    await until(`${name}'s failed join`, () => failure.test(log(name)), 30_000, () => log(name).slice(-1500));
    await new Promise((r) => setTimeout(r, 12_000));
    expect(peers(ip)).toEqual([`${ip}:${gossipPort}`]);
    for (const member of ADDRESS.values()) expect([member, peers(member)]).toEqual([member, memberAddresses]);
    await stop(name);
  }

  it("keeps out an Alertmanager whose certificate comes from another CA (it trusts the deployment CA: the members refuse its certificate)", async () => {
    // Its own certificate from another CA; the deployment CA's certificate (public) to verify the members.
    const foreign = otherPki.issue(at("outsider"), "outsider", [OUTSIDER]);
    // Its API keeps a deployment-CA certificate, for this test's reads.
    start("outsider", OUTSIDER, { ...foreign, caFile: pki.caFile }, outsiderArgs(OUTSIDER), pki.issue(at("outsider-web"), "outsider", [OUTSIDER]));
    await keptOut("outsider", OUTSIDER, /failed to join cluster.*bad certificate/);
  }, 60_000);

  it("keeps out an Alertmanager gossiping without TLS", async () => {
    const args = outsiderArgs(PLAIN).filter((a) => !a.startsWith("--cluster.tls-config="));
    start("plain", PLAIN, pki.issue(at("plain"), "plain", [PLAIN]), args);
    await keptOut("plain", PLAIN, /failed to join cluster/);
  }, 60_000);

  it("takes the same outsider with a certificate from the deployment CA (control: the refusal above is the CA's)", async () => {
    fs.rmSync(at("outsider"), { recursive: true, force: true });
    start("outsider", OUTSIDER, pki.issue(at("outsider"), "outsider", [OUTSIDER]), outsiderArgs(OUTSIDER));
    const four = [...memberAddresses, `${OUTSIDER}:${gossipPort}`].sort();
    await until("the outsider in the cluster", () => [OUTSIDER, ...ADDRESS.values()].every((ip) => peers(ip).join() === four.join()), 60_000,
      () => [OUTSIDER, ...ADDRESS.values()].map((ip) => `${ip}: ${peers(ip).join(" ")}`).join("; "));
  }, 90_000);
});
