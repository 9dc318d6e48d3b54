import * as yaml from "js-yaml";
import { hostsOf, SERVICE_GROUPS } from "../../lib/model/hosts";
import { OutputsError, type DeployOutputs } from "../../lib/model/outputs";
import { MARKER } from "../../playbooks-gen/engine/marker";
import { generateTree, ROLES } from "../../playbooks-gen/generate";
import { VAULT_VARIABLES } from "../../playbooks-gen/roles/vault";
import { example, EXAMPLE_OUTPUTS, exampleOutputs, standbyExample, standbyOutputs } from "./fixtures";

const t = example();
const outputs = exampleOutputs();
const tree = generateTree(t, outputs, EXAMPLE_OUTPUTS);
const yamlFiles = Object.keys(tree).filter((f) => /\.ya?ml$/.test(f) || f === ".yamllint");

/** Secret shapes that must never appear in the tree (gitleaks-style patterns plus generic assignments). */
const SECRET_PATTERNS: ReadonlyArray<[string, RegExp]> = [
  ["DigitalOcean token", /do[por]_v1_[a-f0-9]{64}/],
  ["Cloudflare API token", /(cloudflare|cf)[a-z_]*(token|key)["']?\s*[=:]\s*["']?[A-Za-z0-9_-]{37,}/i],
  ["private key", /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ["password assignment", /(password|passwd|secret|key-secret|cipher-pass)["']?\s*[=:]\s*["']?(?!\{\{|null$|$)[^\s"'{]+/im],
  ["Redis password directive", /^\s*(requirepass|masterauth|sentinel auth-pass \S+)\s+"?[^\s{}"]+"?\s*$/m],
  ["Spaces access key", /\bDO[0-9A-Z]{18}\b/],
];
const findSecrets = (text: string) => SECRET_PATTERNS.filter(([, p]) => p.test(text)).map(([what]) => what);

describe("generateTree (example topology and outputs)", () => {
  it("starts every file with the regenerate marker in its comment syntax", () => {
    for (const [file, content] of Object.entries(tree)) {
      const first = content.split("\n")[0];
      expect([file, first]).toEqual([file, file.endsWith(".md") ? `<!-- ${MARKER} -->` : `# ${MARKER}`]);
    }
  });

  it("parses every YAML file back", () => {
    for (const file of yamlFiles) expect(() => yaml.load(tree[file])).not.toThrow();
  });

  it("puts every host in its tier groups and its region group, with public and private addresses", () => {
    const inventory = yaml.load(tree["inventory/hosts.yml"]) as { all: { hosts: Record<string, Record<string, string>>; children: Record<string, { hosts: Record<string, null> }> } };
    expect(Object.keys(inventory.all.hosts).sort()).toEqual(hostsOf(t).map((h) => h.name).sort());
    expect(inventory.all.hosts["pg-nyc1-1"]).toEqual({ ansible_host: outputs.hosts["pg-nyc1-1"].public_ipv4, shop_private_ipv4: outputs.hosts["pg-nyc1-1"].private_ipv4 });
    for (const [group] of SERVICE_GROUPS) expect(Object.keys(inventory.all.children)).toContain(group);
    expect(Object.keys(inventory.all.children.region_lon1.hosts)).toEqual(["witness-lon1-1"]);
    expect(Object.keys(inventory.all.children.etcd_cluster.hosts).sort()).toEqual(["etcd-ams3-1", "etcd-nyc1-1", "witness-lon1-1"]);
  });

  it("writes host addresses only in the inventory and the /etc/hosts block (configs name their peers)", () => {
    const ips = Object.values(exampleOutputs().hosts).map((h) => h.private_ipv4.replace(/\./g, "\\."));
    const anyIp = new RegExp(`\\b(${ips.join("|")})\\b(?![/.\\d])`);
    // But for a host's own address where a program takes no name: the IP Alertmanager advertises to its
    // TLS gossip peers (0.25 parses no name), which its certificate names.
    const ownAddress = (f: string, c: string) => {
      const host = /^files\/([^/]+)\/alertmanager\.default$/.exec(f)?.[1];
      return host ? c.split(`--cluster.advertise-address=${exampleOutputs().hosts[host].private_ipv4}:`).join("") : c;
    };
    const withIps = Object.entries(tree).filter(([f, c]) => anyIp.test(ownAddress(f, c))).map(([f]) => f);
    expect(withIps.sort()).toEqual(["inventory/group_vars/all.yml", "inventory/hosts.yml"]);
  });

  it("prefixes every role input with its role name", () => {
    for (const file of Object.keys(tree).filter((f) => /^playbooks\/roles\/[^/]+\/defaults\/main.yml$/.test(f))) {
      const role = file.split("/")[2];
      const prefix = role === "redis_sentinel" ? "redis_sentinel_" : `${role}_`;
      for (const name of Object.keys(yaml.load(tree[file]) as object)) {
        expect([file, name.startsWith(prefix) || name === "redis_config_dir"]).toEqual([file, true]);
      }
    }
  });

  it("uses every documented role input in the role's tasks or handlers", () => {
    for (const role of ROLES) {
      const body = Object.entries(tree).filter(([f]) => f.startsWith(`playbooks/roles/${role.name}/`) && !/defaults|meta|README/.test(f)).map(([, c]) => c).join("\n");
      for (const input of role.inputs) expect([role.name, input.name, body.includes(input.name)]).toEqual([role.name, input.name, true]);
    }
  });

  it("lists in vault.example.yml exactly the vault variables the tree uses, without values", () => {
    const used = new Set(Object.values(tree).flatMap((c) => c.match(/\bvault_[a-z0-9_]+/g) ?? []));
    const example = yaml.load(tree["vault.example.yml"]) as Record<string, unknown>;
    expect(Object.keys(example).sort()).toEqual([...used].sort());
    expect(Object.values(example).every((v) => v === null)).toBe(true);
    expect(Object.keys(example).sort()).toEqual(VAULT_VARIABLES.map(([n]) => n).sort());
  });

  it("contains no secret: passwords only as Vault references, no tokens or keys", () => {
    for (const [file, content] of Object.entries(tree)) expect([file, findSecrets(content)]).toEqual([file, []]);
  });

  it("has a secret scan that catches planted secrets", () => {
    const planted = [
      `token = "dop_v1_${"a".repeat(64)}"`, "cloudflare_api_token: abcdefghijklmnopqrstuvwxyz0123456789ABCD",
      "-----BEGIN OPENSSH PRIVATE KEY-----", "PATRONI_SUPERUSER_PASSWORD=hunter2", "requirepass hunter2",
      "sentinel auth-pass shop-production hunter2", "repo1-s3-key=DO00ABCDEFGHIJKLMNOP",
    ];
    for (const line of planted) expect([line, findSecrets(line).length]).toEqual([line, 1]);
  });

  it("writes Sentinel's and Redis's files once and validates configs that have a checker", () => {
    const tasks = (role: string) => yaml.load(tree[`playbooks/roles/${role}/tasks/configure.yml`]) as Array<Record<string, Record<string, unknown>>>;
    const copy = (role: string, src: string) => tasks(role).find((task) => String(task["ansible.builtin.copy"]?.src ?? "").endsWith(src))?.["ansible.builtin.copy"];
    expect(copy("redis_sentinel", "/sentinel.conf")).toMatchObject({ force: false });
    expect(copy("redis", "/redis.conf")).toMatchObject({ force: false });
    expect(copy("haproxy", "/haproxy.cfg")).toMatchObject({ validate: "haproxy -c -f %s" });
    expect(copy("prometheus", "/prometheus.yml")).toMatchObject({ validate: "promtool check config %s" });
    expect(copy("alertmanager", "/alertmanager.yml")).toMatchObject({ validate: "amtool check-config %s" });
  });

  it("keeps restarting Patroni until its DCS answers, with no systemd start limit", () => {
    const dropIn = tree["files/patroni/patroni-unit.conf"];
    expect(dropIn).toMatch(/^\[Unit\]\nStartLimitIntervalSec=0$/m);
    expect(dropIn).toMatch(/^\[Service\]\nRestart=on-failure\nRestartSec=5$/m);
    const tasks = yaml.load(tree["playbooks/roles/patroni/tasks/configure.yml"]) as Array<Record<string, Record<string, unknown>>>;
    expect(tasks.find((task) => task["ansible.builtin.copy"]?.dest === "/etc/systemd/system/patroni.service.d/shop.conf")?.["ansible.builtin.copy"])
      .toMatchObject({ src: "{{ shop_files_dir }}/patroni/patroni-unit.conf" });
  });

  it("renders config files fully at generation time: no Jinja in files/ (Prometheus's own {{ $labels }} aside)", () => {
    for (const [file, content] of Object.entries(tree).filter(([f]) => f.startsWith("files/"))) {
      expect([file, content.replace(/\{\{ \$(labels\.\w+|value) \}\}/g, "").match(/\{\{|\{%/)]).toEqual([file, null]);
    }
  });

  it("imports one playbook per tier in dependency order", () => {
    const site = yaml.load(tree["site.yml"]) as Array<Record<string, string>>;
    expect(site.map((p) => p["ansible.builtin.import_playbook"])).toEqual([
      "playbooks/common.yml", "playbooks/pki.yml", "playbooks/etcd.yml", "playbooks/postgres.yml", "playbooks/redis.yml",
      "playbooks/balancers.yml", "playbooks/app.yml", "playbooks/workers.yml", "playbooks/monitoring.yml",
    ]);
  });

  it("gives the app its database through the local HAProxy and Redis through Sentinel", () => {
    const env = (yaml.load(tree["playbooks/roles/app/tasks/configure.yml"]) as Array<Record<string, Record<string, string>>>)
      .find((task) => task.name as unknown as string === "Write the environment from Vault")!["ansible.builtin.copy"].content;
    expect(env).toContain("@127.0.0.1:{{ app_database_primary_port }}/{{ app_database_name }}?{{ app_database_tls }}\n");
    expect(env).toContain("@127.0.0.1:{{ app_database_replicas_port }}/{{ app_database_name }}?{{ app_database_tls }}\n");
    // TLS through HAProxy's passthrough: the server's certificate verified against the deployment CA.
    expect((yaml.load(tree["playbooks/roles/app/defaults/main.yml"]) as Record<string, unknown>).app_database_tls).toBe("sslmode=verify-ca&sslrootcert=/etc/ssl/shop/ca.crt");
    const app = yaml.load(tree["inventory/group_vars/app.yml"]) as Record<string, unknown>;
    expect(app).toMatchObject({ app_database_primary_port: 5000, app_redis_sentinels: "redis-nyc1-1:26379,redis-ams3-1:26379,witness-lon1-1:26379", app_version: "v1.4.2" });
  });

  it("ships the guarded sync-off playbook in stretched mode and the fencing promotion in standby-cluster mode", () => {
    expect(tree).toHaveProperty(["playbooks/region-failover.yml"]);
    expect(tree).not.toHaveProperty(["playbooks/promote-region.yml"]);
    const standby = generateTree(standbyExample(), standbyOutputs(), EXAMPLE_OUTPUTS);
    const plays = yaml.load(standby["playbooks/promote-region.yml"]) as Array<{ name: string }>;
    const fence = plays.findIndex((p) => p.name.startsWith("Fence"));
    const promote = plays.findIndex((p) => p.name.startsWith("Promote"));
    expect(fence).toBeGreaterThan(0);
    expect(promote).toBeGreaterThan(fence);
    const secondary = yaml.load(standby["files/pg-ams3-1/patroni.yml"]) as { scope: string; bootstrap: { dcs: Record<string, unknown> } };
    expect(secondary.scope).toBe("shop-production-ams3");
    expect(secondary.bootstrap.dcs.standby_cluster).toMatchObject({ host: "pg-nyc1-1,pg-nyc1-2", port: 5432 });
    // HAProxy in the standby region checks both clusters, so the app follows a promotion by itself.
    for (const pg of ["pg-nyc1-1", "pg-nyc1-2", "pg-ams3-1"]) expect(standby["files/app-ams3-1/haproxy.cfg"]).toContain(`server ${pg} ${pg}:5432 check port 8008`);
    expect(standby["files/failover-hook/failover-hook.ini"]).toMatch(/^fence_tag = shop-production-pg-nyc1$/m);
  });

  it("is deterministic", () => {
    expect(generateTree(example(), exampleOutputs(), EXAMPLE_OUTPUTS)).toEqual(tree);
  });

  it("refuses outputs that miss a host of the topology, naming it", () => {
    const { ["pg-ams3-1"]: _gone, ...rest } = outputs.hosts; // eslint-disable-line @typescript-eslint/no-unused-vars
    const partial: DeployOutputs = { ...outputs, hosts: rest };
    expect(() => generateTree(t, partial, "out.json")).toThrow(OutputsError);
    expect(() => generateTree(t, partial, "out.json")).toThrow(/out\.json: host pg-ams3-1 of the topology is missing/);
  });

  it("matches the reviewed tree", () => {
    expect(tree).toMatchSnapshot();
  });
});
