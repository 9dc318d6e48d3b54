// Policy over the generated tree (both database modes): Redis and Sentinel speak TLS only, and every
// client the tree configures speaks TLS to them. redis-tls.test.ts proves the settings on real servers.
import * as yaml from "js-yaml";
import { PORTS } from "../../lib/model/ports";
import { generateTree } from "../../playbooks-gen/generate";
import { PRODUCTION_TLS } from "../../playbooks-gen/render-env";
import { redisTlsLines } from "../../playbooks-gen/views/redis-acl";
import { example, EXAMPLE_OUTPUTS, standbyExample, outputsFor } from "./fixtures";

type Task = Record<string, unknown>;

/** Every string and string list anywhere under `value`. */
function strings(value: unknown, out: Array<string | string[]> = []): Array<string | string[]> {
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value) && value.every((v) => typeof v === "string")) out.push(value as string[]);
  else if (Array.isArray(value)) value.forEach((v) => strings(v, out));
  else if (value && typeof value === "object") Object.values(value).forEach((v) => strings(v, out));
  return out;
}

describe.each([["stretched", example()], ["standby-cluster", standbyExample()]])("Redis TLS policy over the generated tree (%s example)", (_, t) => {
  const tree = generateTree(t, outputsFor(t), EXAMPLE_OUTPUTS);
  const taskFile = (role: string, list: string) => yaml.load(tree[`playbooks/roles/${role}/${list}/main.yml`] ?? tree[`playbooks/roles/${role}/tasks/${list}.yml`]) as Task[];

  it("writes every Redis and Sentinel config TLS only: the TLS lines, no plain-text port", () => {
    const configs = Object.entries(tree).filter(([f]) => /^files\/[^/]+\/(redis|sentinel)\.conf$/.test(f));
    expect(configs.length).toBeGreaterThanOrEqual(5);
    for (const [file, text] of configs) {
      const port = file.endsWith("sentinel.conf") ? PORTS.sentinel : PORTS.redis;
      const lines = text.split("\n");
      expect([file, redisTlsLines(port, PRODUCTION_TLS).filter((l) => !lines.includes(l))]).toEqual([file, []]);
      expect([file, lines.filter((l) => /^port [1-9]/.test(l))]).toEqual([file, []]);
    }
  });

  it("puts the same TLS lines into configs written before TLS, on Redis and on Sentinel", () => {
    for (const [role, file, port] of [["redis", "{{ redis_config_file }}", PORTS.redis], ["redis_sentinel", "{{ redis_sentinel_config_file }}", PORTS.sentinel]] as const) {
      const task = taskFile(role, "configure").find((x) => String(x.name).includes("speak TLS only"));
      expect(task).toMatchObject({ "ansible.builtin.lineinfile": { path: file, regexp: "^{{ item.split(' ')[0] }} ", line: "{{ item }}" }, loop: redisTlsLines(port, PRODUCTION_TLS) });
      // The key is root:ssl-cert 0640: Redis and Sentinel run as redis.
      expect(taskFile(role, "configure").find((x) => x["ansible.builtin.user"])).toMatchObject({ "ansible.builtin.user": { name: "redis", groups: ["ssl-cert"], append: true } });
    }
  });

  it("runs every redis-cli in the playbooks with --tls and the deployment CA", () => {
    const calls = Object.entries(tree).filter(([f]) => /^(site\.yml|playbooks\/.*\.yml)$/.test(f))
      .flatMap(([f, text]) => strings(yaml.load(text)).filter((s) => (Array.isArray(s) ? s[0] === "redis-cli" : /\bredis-cli\b/.test(s))).map((s) => [f, s] as const));
    expect(calls.length).toBeGreaterThanOrEqual(1);
    for (const [file, call] of calls) {
      const words = Array.isArray(call) ? call : call.split(/\s+/);
      expect([file, words.includes("--tls"), words[words.indexOf("--cacert") + 1]]).toEqual([file, true, PRODUCTION_TLS.caFile]);
    }
  });

  it("points the app and the exporter at Redis over TLS with the CA", () => {
    const app = JSON.stringify(taskFile("app", "configure"));
    expect(app).toContain(`REDIS_TLS_CA_FILE=${PRODUCTION_TLS.caFile}`);
    const exporter = JSON.stringify(taskFile("redis", "configure"));
    expect(exporter).toContain(`REDIS_ADDR=\\"rediss://localhost:${PORTS.redis}\\"`);
    expect(exporter).toContain(`REDIS_EXPORTER_TLS_CA_CERT_FILE=\\"${PRODUCTION_TLS.caFile}\\"`);
  });

  it("reloads Redis's and restarts Sentinel's TLS files when the pki role renews a certificate or installs a CA", () => {
    const pki = taskFile("pki", "configure");
    const handlers = taskFile("pki", "handlers");
    for (const name of ["Make Redis re-read its TLS files", "Restart Sentinel for its new TLS files"]) {
      expect(handlers.map((h) => h.name)).toContain(name);
      for (const task of ["Install this host's certificate", "Install the CA certificate"]) {
        expect([task, pki.find((x) => x.name === task)?.notify]).toEqual([task, expect.arrayContaining([name])]);
      }
    }
    expect(handlers.find((h) => h.name === "Make Redis re-read its TLS files")).toMatchObject({ no_log: true, when: "'redis' in group_names and pki_host_cert.stat.exists" });
    expect(handlers.find((h) => h.name === "Restart Sentinel for its new TLS files")).toMatchObject({ throttle: 1 });
  });
});
