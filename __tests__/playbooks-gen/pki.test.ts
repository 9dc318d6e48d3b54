// The pki role run for real by ansible-playbook (community.crypto, connection local), with its host
// paths moved into a temporary directory: the controller's CA is made once with its key encrypted, a
// host gets a key and a certificate with its names, a second run changes nothing, and a certificate
// ending within pki_renew_days is re-issued.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { generateTree } from "../../playbooks-gen/generate";
import { PRODUCTION_TLS } from "../../playbooks-gen/render-env";
import { CERT_NOT_AFTER_METRIC, NODE_EXPORTER_TEXTFILE_DIR, PKI_RENEW_DAYS } from "../../playbooks-gen/roles/pki";
import * as yaml from "js-yaml";
import { example, EXAMPLE_OUTPUTS, exampleOutputs } from "./fixtures";

const tree = generateTree(example(), exampleOutputs(), EXAMPLE_OUTPUTS);

describe("the pki role", () => {
  let root: string;
  const tls = (f: string) => path.join(root, "host", path.basename(f));
  const ca = () => path.join(root, "controller", "ca.crt");

  function run(extra: Record<string, unknown> = {}): { changed: number; out: string } {
    // Not the service phase: it installs the expiry timer on this machine (tested below, on its own).
    const r = spawnSync("ansible-playbook", ["-i", "inventory.yml", "play.yml", "--skip-tags", "pki_service", "-e", JSON.stringify(extra)], {
      cwd: root, encoding: "utf8", timeout: 180_000, env: { ...process.env, ANSIBLE_ROLES_PATH: path.join(root, "roles"), ANSIBLE_NOCOLOR: "1" },
    });
    const out = `${r.stdout}${r.stderr}`;
    if (r.status !== 0) throw new Error(`ansible-playbook exited ${r.status}:\n${out}`);
    return { changed: Number(/testhost\s+:.*changed=(\d+)/.exec(out)?.[1]), out };
  }
  const serial = () => execFileSync("openssl", ["x509", "-noout", "-serial", "-in", tls(PRODUCTION_TLS.certFile)], { encoding: "utf8" }).trim();

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pki-"));
    for (const [file, text] of Object.entries(tree)) {
      if (!file.startsWith("playbooks/roles/pki/")) continue;
      const dest = path.join(root, "roles", file.slice("playbooks/roles/".length));
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      // The host's TLS paths and the system's trust store, under the test's directory instead of /etc and
      // /usr/local/share; the trust store's update is a no-op here.
      fs.writeFileSync(dest, [PRODUCTION_TLS.caFile, PRODUCTION_TLS.certFile, PRODUCTION_TLS.keyFile]
        .reduce((s, f) => s.split(f).join(tls(f)), text).split("/etc/ssl/shop").join(path.join(root, "host"))
        .split("/usr/local/share/ca-certificates").join(path.join(root, "trust")).split("update-ca-certificates").join("/bin/true"));
    }
    fs.writeFileSync(path.join(root, "inventory.yml"), JSON.stringify({
      all: {
        hosts: { testhost: { ansible_connection: "local", ansible_python_interpreter: "/usr/bin/python3", shop_private_ipv4: "10.100.0.7" } },
        vars: { shop_deployment: "shop-test", pki_ca_dir: path.join(root, "controller"), vault_ca_key_passphrase: "stand-in passphrase" },
      },
    }));
    fs.writeFileSync(path.join(root, "play.yml"), "- hosts: all\n  gather_facts: false\n  roles: [pki]\n");
    fs.mkdirSync(path.join(root, "trust"));
  });

  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it("makes the CA on the controller with its key encrypted, and a host certificate the CA verifies", () => {
    run();
    expect(fs.readFileSync(path.join(root, "controller", "ca.key"), "utf8")).toMatch(/ENCRYPTED/);
    expect(fs.statSync(path.join(root, "controller", "ca.key")).mode & 0o777).toBe(0o600);
    expect(execFileSync("openssl", ["verify", "-CAfile", ca(), tls(PRODUCTION_TLS.certFile)], { encoding: "utf8" })).toMatch(/: OK/);
    expect(fs.readFileSync(tls(PRODUCTION_TLS.caFile), "utf8")).toBe(fs.readFileSync(ca(), "utf8"));
    expect(fs.readFileSync(path.join(root, "trust", "shop-test-ca.crt"), "utf8")).toBe(fs.readFileSync(ca(), "utf8"));
    const text = execFileSync("openssl", ["x509", "-noout", "-text", "-in", tls(PRODUCTION_TLS.certFile)], { encoding: "utf8" });
    expect(text).toMatch(/DNS:testhost, IP Address:10.100.0.7, DNS:localhost, IP Address:127.0.0.1/);
    expect(text).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
    const key = fs.statSync(tls(PRODUCTION_TLS.keyFile));
    expect([key.mode & 0o777, key.gid]).toEqual([0o640, Number(execFileSync("getent", ["group", "ssl-cert"], { encoding: "utf8" }).split(":")[2])]);
  }, 200_000);

  it("changes nothing on a second run", () => {
    const before = serial();
    expect(run().changed).toBe(0);
    expect(serial()).toBe(before);
  }, 200_000);

  it("re-issues a certificate that ends within pki_renew_days, then settles again", () => {
    const before = serial();
    // A 365-day certificate ends within 400 days: this run finds it due and signs a new one.
    const renewal = run({ pki_renew_days: 400 });
    expect(renewal.changed).toBeGreaterThan(0);
    expect(serial()).not.toBe(before);
    const renewed = serial();
    expect(run().changed).toBe(0);
    expect(serial()).toBe(renewed);
  }, 400_000);

  it("writes the certificates' ends for node-exporter with the script its timer runs", () => {
    const tasks = yaml.load(tree["playbooks/roles/pki/tasks/service.yml"]) as Array<Record<string, Record<string, string>>>;
    const script = tasks.find((x) => x.name as unknown as string === "Install the certificate expiry metric script")!["ansible.builtin.copy"].content;
    const file = path.join(root, "expiry.sh");
    fs.writeFileSync(file, [PRODUCTION_TLS.caFile, PRODUCTION_TLS.certFile].reduce((s, f) => s.split(f).join(tls(f)), script)
      .split(NODE_EXPORTER_TEXTFILE_DIR).join(root), { mode: 0o755 });
    execFileSync(file);
    const end = (f: string) => Math.round(new Date(execFileSync("openssl", ["x509", "-noout", "-enddate", "-in", f], { encoding: "utf8" }).split("=")[1]).getTime() / 1000);
    expect(fs.readFileSync(path.join(root, "shop_tls.prom"), "utf8").split("\n").filter((l) => l.startsWith("shop_"))).toEqual([
      `${CERT_NOT_AFTER_METRIC}{file="${tls(PRODUCTION_TLS.certFile)}"} ${end(tls(PRODUCTION_TLS.certFile))}`,
      `${CERT_NOT_AFTER_METRIC}{file="${tls(PRODUCTION_TLS.caFile)}"} ${end(tls(PRODUCTION_TLS.caFile))}`,
    ]);
  });
});

describe("the certificate expiry alert", () => {
  it("fires for a certificate that ends within pki_renew_days, not for one that ends later (promtool test rules)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tls-alert-"));
    try {
      fs.writeFileSync(path.join(dir, "rules.yml"), tree["files/prometheus/shop.rules.yml"]);
      const series = (file: string, days: number) => ({ series: `${CERT_NOT_AFTER_METRIC}{file="${file}",instance="pg-nyc1-1:9100"}`, values: `${days * 86400}x10` });
      fs.writeFileSync(path.join(dir, "test.yml"), yaml.dump({
        rule_files: ["rules.yml"],
        evaluation_interval: "1m",
        tests: [{
          interval: "1m",
          input_series: [series(PRODUCTION_TLS.certFile, PKI_RENEW_DAYS - 1), series(PRODUCTION_TLS.caFile, PKI_RENEW_DAYS + 1)],
          alert_rule_test: [{
            eval_time: "5m", alertname: "TlsCertificateExpiresSoon",
            exp_alerts: [{
              exp_labels: { severity: "warning", component: "tls", file: PRODUCTION_TLS.certFile, instance: "pg-nyc1-1:9100" },
              exp_annotations: { summary: `${PRODUCTION_TLS.certFile} on pg-nyc1-1:9100 ends within ${PKI_RENEW_DAYS} days: run playbooks/pki.yml` },
            }],
          }],
        }],
      }));
      const r = spawnSync("promtool", ["test", "rules", "test.yml"], { cwd: dir, encoding: "utf8", timeout: 60_000 });
      expect([r.status, `${r.stdout}${r.stderr}`]).toEqual([0, expect.stringContaining("SUCCESS")]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
