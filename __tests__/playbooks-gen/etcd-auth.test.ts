// etcd with the generated TLS config and the generated auth script, for real: the example topology's
// three members from their rendered etcd.yml (on 127.0.78.x, clear of the lab's and boot.test's
// addresses), the script the etcd role runs (shop-etcd-auth) applied twice, and then what the
// rehearsal's refusal checks send (the same scripts, here with local certificate paths). Run under
// `flock /tmp/shop-lab.lock` like every suite that starts servers.
import { spawn, spawnSync, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { hostsOf, hostsRunning, type Host } from "../../lib/model/hosts";
import { generateTree } from "../../playbooks-gen/generate";
import { renderEtcdAuthScript, renderEtcdConfig } from "../../playbooks-gen/render/etcd";
import type { RenderEnv, TlsFiles } from "../../playbooks-gen/render-env";
import { ETCD_AUTH_ENV, ETCD_AUTH_SCRIPT, etcdPatroniPrefix, etcdPatroniUser, etcdScopesOf } from "../../playbooks-gen/views/etcd-auth";
import { LabPki } from "../../lab/backends/loopback/pki";
import { etcdGatewayAnswer, etcdGatewayRequest } from "../../lab/backends/rehearsal/refusals";
import { killAll, procsOfChildren } from "../../lab/proc";
import { requireDebianPackages } from "../support/debian";
import { example, EXAMPLE_OUTPUTS, exampleOutputs } from "./fixtures";

const t = example();
const hosts = hostsOf(t);
const address = (name: string) => `127.0.78.${2 + hosts.findIndex((h) => h.name === name)}`;
const etcdHosts = hostsRunning(t, "etcd");
const scope = etcdScopesOf(t, etcdHosts[0].region)[0];
const ROOT_PASSWORD = "root-Pw.1";
const PATRONI_PASSWORD = "patroni-Pw.1";

describe("etcd with TLS, client certificates and RBAC from the generated config and auth script", () => {
  let root: string;
  let env: RenderEnv;
  let script: string;
  let client: TlsFiles;
  let rogue: TlsFiles;
  const members: ChildProcess[] = [];
  const endpoint = () => `https://${address(etcdHosts[0].name)}:2379`;
  const curlTls = (f: Partial<TlsFiles>) => [f.caFile && `--cacert ${f.caFile}`, f.certFile && `--cert ${f.certFile}`, f.keyFile && `--key ${f.keyFile}`].filter(Boolean).join(" ");

  function runAuth(password = PATRONI_PASSWORD) {
    const tls = env.tls(etcdHosts[0]);
    return spawnSync("/bin/sh", [script, endpoint(), tls.caFile, tls.certFile, tls.keyFile, scope], {
      encoding: "utf8", timeout: 60_000, env: { ...process.env, [ETCD_AUTH_ENV.root]: ROOT_PASSWORD, [ETCD_AUTH_ENV.patroni]: password },
    });
  }

  function gateway(r: { script: string; input: string }) {
    const ran = spawnSync("/bin/sh", ["-c", r.script], { input: r.input, encoding: "utf8", timeout: 30_000 });
    return etcdGatewayAnswer(ran.stdout);
  }

  function etcdctl(tls: Partial<TlsFiles>, args: readonly string[], user?: string) {
    const flags = [tls.caFile && `--cacert=${tls.caFile}`, tls.certFile && `--cert=${tls.certFile}`, tls.keyFile && `--key=${tls.keyFile}`].filter((f): f is string => !!f);
    const r = spawnSync("etcdctl", [`--endpoints=${endpoint()}`, ...flags, "--dial-timeout=3s", "--command-timeout=5s", ...args], {
      encoding: "utf8", timeout: 30_000, env: { ...process.env, ETCDCTL_API: "3", ...(user ? { ETCDCTL_USER: user } : {}) },
    });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  }

  beforeAll(async () => {
    requireDebianPackages(["etcd-server", "etcd-client"]);
    root = fs.mkdtempSync(path.join(os.tmpdir(), "etcd-auth-"));
    const dir = (h: Host) => path.join(root, h.name);
    env = {
      addressOf: address, listenAddress: (h) => address(h.name), localAddress: (h) => address(h.name),
      paths: (h) => ({ configDir: dir(h), pgDataDir: dir(h), pgSocketDir: dir(h), etcdDataDir: path.join(dir(h), "etcd"), redisDataDir: dir(h), logDir: dir(h), runDir: dir(h) }),
      postgresBinDir: "/usr/lib/postgresql/15/bin", clientNetworks: ["127.0.0.0/8"], superuserNetworks: [],
      tls: (h) => ({ caFile: path.join(root, "pki", "ca.crt"), certFile: path.join(dir(h), "tls", "host.crt"), keyFile: path.join(dir(h), "tls", "host.key") }),
    };
    const pki = new LabPki(path.join(root, "pki"));
    for (const h of etcdHosts) pki.issue(path.dirname(env.tls(h).certFile), h.name, [address(h.name)]);
    // Another host of the deployment (its certificate from the same CA, no etcd user), and one from another CA.
    client = pki.issue(path.join(root, "client"), "app-nyc1-1", ["127.0.78.1"]);
    rogue = new LabPki(path.join(root, "other-pki"), "another CA").issue(path.join(root, "rogue"), "app-nyc1-1", ["127.0.78.1"]);
    script = path.join(root, "shop-etcd-auth");
    fs.writeFileSync(script, renderEtcdAuthScript());
    for (const h of etcdHosts) {
      const config = path.join(dir(h), "etcd.yml");
      fs.writeFileSync(config, renderEtcdConfig(t, h, env));
      const log = fs.openSync(path.join(dir(h), "etcd.log"), "w");
      members.push(spawn("etcd", ["--config-file", config], { stdio: ["ignore", log, log] }));
    }
    const deadline = Date.now() + 30_000;
    while (etcdctl(env.tls(etcdHosts[0]), ["endpoint", "health"]).status !== 0) {
      if (Date.now() > deadline) throw new Error("etcd did not become healthy within 30 s");
      await new Promise((r) => setTimeout(r, 250));
    }
  }, 60_000);

  afterAll(async () => {
    await killAll(procsOfChildren(members));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("the etcd role runs this script on each cluster's first member, the passwords from Vault in its environment, never logged", () => {
    const tree = generateTree(t, exampleOutputs(), EXAMPLE_OUTPUTS);
    expect(tree["files/etcd/etcd-auth.sh"]).toContain(renderEtcdAuthScript());
    const tasks = yaml.load(tree["playbooks/roles/etcd/tasks/service.yml"]) as Array<Record<string, unknown>>;
    const task = tasks.find((x) => (x["ansible.builtin.command"] as { argv?: string[] } | undefined)?.argv?.[1] === ETCD_AUTH_SCRIPT);
    expect(task).toMatchObject({
      no_log: true, when: "inventory_hostname == etcd_cluster_members[0]", loop: "{{ etcd_patroni_scopes }}",
      environment: { [ETCD_AUTH_ENV.root]: "{{ vault_etcd_root_password }}", [ETCD_AUTH_ENV.patroni]: "{{ vault_etcd_patroni_password }}" },
    });
    const vars = yaml.load(tree[`inventory/host_vars/${etcdHosts[0].name}.yml`]) as { etcd_patroni_scopes: string[] };
    expect(vars.etcd_patroni_scopes).toEqual([scope]);
  });

  it("turns authentication on with root and the Patroni user, then changes nothing on a second run", () => {
    const first = runAuth();
    expect([first.status, first.stderr.split("\n").filter((l) => !l.includes('"level"') && l.trim())]).toEqual([0, []]);
    expect(first.stdout).toContain("changed: authentication enabled");
    expect(first.stdout).toContain(`changed: role ${etcdPatroniUser(scope)} may read and write ${etcdPatroniPrefix(scope)}`);
    const again = runAuth();
    expect([again.status, again.stdout]).toEqual([0, ""]);
    expect(etcdctl(env.tls(etcdHosts[0]), ["role", "get", etcdPatroniUser(scope)], `root:${ROOT_PASSWORD}`).out)
      .toBe(`Role ${etcdPatroniUser(scope)}\nKV Read:\n\t[${etcdPatroniPrefix(scope)}, /service/${scope}0) (prefix ${etcdPatroniPrefix(scope)})\nKV Write:\n\t[${etcdPatroniPrefix(scope)}, /service/${scope}0) (prefix ${etcdPatroniPrefix(scope)})\n`);
  });

  it("refuses plain HTTP", () => {
    const plain = gateway(etcdGatewayRequest(endpoint().replace("https://", "http://"), "", "put", "/x"));
    expect(plain.status).not.toBe("200");
    expect(plain.body).not.toContain("header");
  });

  it("refuses TLS without a client certificate, and a client certificate from another CA", () => {
    expect(gateway(etcdGatewayRequest(endpoint(), curlTls({ caFile: client.caFile }), "put", "/x")).status).toBe("000");
    expect(gateway(etcdGatewayRequest(endpoint(), curlTls({ caFile: client.caFile, certFile: rogue.certFile, keyFile: rogue.keyFile }), "put", "/x")).status).toBe("000");
    expect(etcdctl({ caFile: client.caFile }, ["get", "/x"]).status).not.toBe(0);
    expect(etcdctl({ caFile: client.caFile, certFile: rogue.certFile, keyFile: rogue.keyFile }, ["get", "/x"]).status).not.toBe(0);
  });

  it("refuses writes from a host of the deployment without an etcd user (gateway and gRPC), and root's login with a wrong password", () => {
    const anonymous = gateway(etcdGatewayRequest(endpoint(), curlTls(client), "put", `${etcdPatroniPrefix(scope)}leader`));
    expect(anonymous.body).toMatch(/user name is empty|permission denied/);
    expect(etcdctl(client, ["put", `${etcdPatroniPrefix(scope)}leader`, "evil"]).out).toMatch(/permission denied|user name is empty/);
    expect(etcdctl(client, ["put", "/x", "evil"], `root:${ROOT_PASSWORD}-wrong`).out).toMatch(/authentication failed/);
  });

  it("lets the Patroni user write its own prefix and nothing else", () => {
    const patroni = { user: etcdPatroniUser(scope), password: PATRONI_PASSWORD };
    const own = gateway(etcdGatewayRequest(endpoint(), curlTls(client), "put", `${etcdPatroniPrefix(scope)}shop-test`, patroni));
    expect([own.status, own.body]).toEqual(["200", expect.stringContaining('"revision"')]);
    expect(gateway(etcdGatewayRequest(endpoint(), curlTls(client), "range", etcdPatroniPrefix(scope), patroni)).status).toBe("200");
    for (const key of ["/x", `${etcdPatroniPrefix(`${scope}-other`)}leader`, `/service/${scope}`]) {
      const outside = gateway(etcdGatewayRequest(endpoint(), curlTls(client), "put", key, patroni));
      expect([key, outside.body]).toEqual([key, expect.stringMatching(/permission denied/)]);
    }
  });

  it("sets a rotated Patroni password (Vault changed) and takes the new one only", () => {
    const rotated = runAuth("patroni-Pw.2");
    expect([rotated.status, rotated.stdout]).toEqual([0, `changed: password of user ${etcdPatroniUser(scope)}\n`]);
    const key = `${etcdPatroniPrefix(scope)}shop-test`;
    expect(gateway(etcdGatewayRequest(endpoint(), curlTls(client), "put", key, { user: etcdPatroniUser(scope), password: "patroni-Pw.2" })).status).toBe("200");
    expect(gateway(etcdGatewayRequest(endpoint(), curlTls(client), "put", key, { user: etcdPatroniUser(scope), password: PATRONI_PASSWORD })).body).toMatch(/user name is empty|permission denied/);
  });

  it("stops with a clear message when root's password in Vault no longer matches", () => {
    const tls = env.tls(etcdHosts[0]);
    const r = spawnSync("/bin/sh", [script, endpoint(), tls.caFile, tls.certFile, tls.keyFile, scope], {
      encoding: "utf8", timeout: 60_000, env: { ...process.env, [ETCD_AUTH_ENV.root]: "not-the-password", [ETCD_AUTH_ENV.patroni]: PATRONI_PASSWORD },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("etcd refused root with the password in ETCD_ROOT_PASSWORD");
  });
});
