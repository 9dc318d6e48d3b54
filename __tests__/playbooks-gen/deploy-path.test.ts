// The deploy path on bare Debian 12 as the README runs it: Ansible connects as the unprivileged
// deploy user cloud-init creates and becomes root, or a service user, with sudo. What a trial converge
// of systemd containers found missing is held here, read from the generated tree.
import * as yaml from "js-yaml";
import { generateTree } from "../../playbooks-gen/generate";
import { ansibleConditions } from "./ansible-eval";
import { example, EXAMPLE_OUTPUTS, exampleOutputs, standbyExample, standbyOutputs } from "./fixtures";

type Task = Record<string, unknown>;

const tree = generateTree(example(), exampleOutputs(), EXAMPLE_OUTPUTS);
const standbyTree = generateTree(standbyExample(), standbyOutputs(), EXAMPLE_OUTPUTS);
const load = <T = Task[]>(file: string, from = tree) => yaml.load(from[file]) as T;

/** Every mapping anywhere inside a parsed YAML document (tasks inside blocks and plays included). */
function mappings(node: unknown): Task[] {
  if (Array.isArray(node)) return node.flatMap(mappings);
  if (node && typeof node === "object") return [node as Task, ...Object.values(node).flatMap(mappings)];
  return [];
}
const playbookFiles = (from: Record<string, string>) => Object.keys(from).filter((f) => f === "site.yml" || (f.startsWith("playbooks/") && f.endsWith(".yml")));

describe("converging bare Debian 12 as the unprivileged deploy user", () => {
  it("installs acl in the common role, which runs on every host before any task becomes an unprivileged user", () => {
    const common = load<Record<string, unknown>>("playbooks/roles/common/defaults/main.yml");
    expect(common.common_packages).toContain("acl");
    expect(load<Task[]>("playbooks/roles/common/tasks/install.yml")[0]).toMatchObject({ "ansible.builtin.apt": { name: "{{ common_packages }}" } });
    const site = load<Task[]>("site.yml");
    expect(site[0]["ansible.builtin.import_playbook"]).toBe("playbooks/common.yml");
    expect(load<Task[]>("playbooks/common.yml")).toEqual([expect.objectContaining({ hosts: "all", roles: ["common"] })]);
    // The roles that become postgres or shop all come after it.
    const becoming = Object.keys(tree).filter((f) => f.endsWith(".yml") && mappings(load(f)).some((m) => typeof m.become_user === "string" && m.become_user !== "root"));
    expect(becoming.length).toBeGreaterThan(0);
    expect(becoming.filter((f) => f.startsWith("playbooks/roles/common/"))).toEqual([]);
  });

  it("pipes modules to sudo, so becoming postgres or shop needs no temporary files", () => {
    const cfg = tree["ansible.cfg"];
    expect(cfg).toMatch(/^\[ssh_connection\]\n(#.*\n)*pipelining = True$/m);
  });

  it("lists in requirements.yml every collection the playbooks use, at the versions of Debian's ansible 7.7", () => {
    const used = new Set<string>();
    for (const from of [tree, standbyTree]) {
      for (const file of playbookFiles(from)) {
        for (const m of mappings(load(file, from))) {
          for (const key of Object.keys(m)) {
            const fqcn = /^([a-z0-9_]+\.[a-z0-9_]+)\.[a-z0-9_]+$/.exec(key);
            if (fqcn && fqcn[1] !== "ansible.builtin") used.add(fqcn[1]);
          }
        }
      }
    }
    const requirements = load<{ collections: Array<{ name: string; version: string }> }>("requirements.yml");
    expect(requirements.collections.map((c) => c.name).sort()).toEqual([...used].sort());
    expect(requirements.collections).toEqual(expect.arrayContaining([
      { name: "community.general", version: ">=6.6.2,<7.0.0" },
      { name: "community.postgresql", version: ">=2.4.2,<3.0.0" },
      { name: "ansible.posix", version: ">=1.5.4,<2.0.0" },
    ]));
  });
});

describe("what the app and every host install", () => {
  const withBuild = (buildCommand: string) => {
    const t = example();
    return yaml.load(generateTree({ ...t, app: { ...t.app, buildCommand } }, exampleOutputs(), EXAMPLE_OUTPUTS)["inventory/group_vars/app.yml"]) as Record<string, unknown>;
  };

  it("installs npm on app hosts only when the app's commands run npm (Debian's npm brings about 600 packages)", () => {
    expect(withBuild("npm ci && npm run build").app_packages).toEqual(["git", "nodejs", "npm"]);
    expect(withBuild("make && npx tsc").app_packages).toEqual(["git", "nodejs", "npm"]);
    expect(withBuild("node --check server.js").app_packages).toEqual(["git", "nodejs"]);
    expect(load<Task[]>("playbooks/roles/app/tasks/install.yml")[0]).toMatchObject({ "ansible.builtin.apt": { name: "{{ app_packages }}" } });
  });

  it("installs the base packages without recommends (no disk and NVMe tooling on every droplet)", () => {
    expect(load<Task[]>("playbooks/roles/common/tasks/install.yml")[0]).toMatchObject({ "ansible.builtin.apt": { install_recommends: false } });
  });
});

describe("the alert path to the failover hook", () => {
  it("probes Patroni every 5 s, evaluates rules every 5 s and hands database alerts to the hook without a group wait (the rehearsal measured 61 s from the leader key's expiry to the hook with 15 s / 15 s / 10 s)", () => {
    const prom = yaml.load(tree["files/prometheus/prometheus.yml"]) as { global: Record<string, string>; scrape_configs: Array<{ job_name: string; scrape_interval?: string }> };
    expect(prom.global.evaluation_interval).toBe("5s");
    for (const job of ["patroni_leader", "patroni_liveness"]) expect(prom.scrape_configs.find((c) => c.job_name === job)?.scrape_interval).toBe("5s");
    const am = yaml.load(tree["files/alertmanager/alertmanager.yml"]) as { route: { routes: Array<{ receiver: string; group_wait?: string }> } };
    expect(am.route.routes.find((r) => r.receiver === "database-failover")?.group_wait).toBe("0s");
  });
});

describe("names across reboots", () => {
  it("writes the hosts block into cloud-init's /etc/hosts template too, which DigitalOcean's image renders on every boot", () => {
    const tasks = load<Task[]>("playbooks/roles/common/tasks/configure.yml");
    const intoHosts = tasks.find((t) => (t["ansible.builtin.blockinfile"] as Task | undefined)?.path === "/etc/hosts")!;
    const intoTemplate = tasks.find((t) => (t["ansible.builtin.blockinfile"] as Task | undefined)?.path === "/etc/cloud/templates/hosts.debian.tmpl");
    expect(intoTemplate).toBeDefined();
    expect((intoTemplate!["ansible.builtin.blockinfile"] as Task).block).toBe((intoHosts["ansible.builtin.blockinfile"] as Task).block);
    // Only where cloud-init has the template (a host without cloud-init keeps its /etc/hosts).
    expect(intoTemplate!.when).toBe("common_cloud_hosts_template.stat.exists");
  });
});

describe("etcd: a new cluster forms from the rendered configs, not from the package's default", () => {
  const install = load("playbooks/roles/etcd/tasks/install.yml");
  const configure = load("playbooks/roles/etcd/tasks/configure.yml");
  const service = load("playbooks/roles/etcd/tasks/service.yml");
  const at = (tasks: Task[], name: string) => tasks.findIndex((task) => String(task.name).startsWith(name));

  it("masks etcd before installing it, so Debian's postinst cannot start a one-member etcd", () => {
    const mask = at(install, "Keep the package from starting");
    expect(install[mask]).toMatchObject({ "ansible.builtin.systemd": { name: "etcd", masked: true }, when: "not etcd_binary.stat.exists" });
    expect(mask).toBeLessThan(at(install, "Install etcd"));
    expect(service[at(service, "Let systemd start etcd")]).toMatchObject({ "ansible.builtin.systemd": { name: "etcd", masked: false } });
  });

  it("stops a default etcd and removes its data on a member that never ran with its config, before that config goes in", () => {
    const stop = at(configure, "Stop the package's default etcd");
    const wipe = at(configure, "Remove the default etcd's data");
    expect(configure[stop]).toMatchObject({ "ansible.builtin.systemd": { state: "stopped" }, when: "not etcd_member_data.stat.exists" });
    expect(configure[wipe]).toMatchObject({ "ansible.builtin.file": { path: "/var/lib/etcd/default", state: "absent" }, when: "not etcd_member_data.stat.exists" });
    expect(Math.max(stop, wipe)).toBeLessThan(at(configure, "Install the member config"));
  });

  it("starts every member in one task without waiting for a quorum, then waits for exactly the topology's members and a quorum", () => {
    expect(service[at(service, "Start every member together")]).toMatchObject({ "ansible.builtin.systemd": { name: "etcd", state: "started", no_block: true } });
    expect(service[at(service, "Start every member together")]).not.toHaveProperty("throttle");
    expect(load("playbooks/etcd.yml")[0]).not.toHaveProperty("serial");
    const wait = service[at(service, "Wait until every member of the topology")];
    expect(wait["ansible.builtin.command"]).toMatchObject({ argv: expect.arrayContaining(["member", "list", "--write-out=json"]) });
    expect(String(wait.until)).toContain("etcd_cluster_members");
    expect(at(service, "Wait until the cluster has a quorum")).toBeGreaterThan(at(service, "Wait until every member of the topology"));
    for (const [host, members] of [["etcd-nyc1-1", ["etcd-nyc1-1", "etcd-ams3-1", "witness-lon1-1"]], ["witness-lon1-1", ["etcd-nyc1-1", "etcd-ams3-1", "witness-lon1-1"]]] as const) {
      expect(load<Task>(`inventory/host_vars/${host}.yml`).etcd_cluster_members).toEqual(members);
    }
    expect(load<Task>("inventory/host_vars/etcd-ams3-1.yml", standbyTree).etcd_cluster_members).toEqual(["etcd-ams3-1", "etcd-ams3-2", "etcd-ams3-3"]);
  });

  it("restarts members one at a time after a config change, but not a member that just started with its final config", () => {
    expect(load("playbooks/roles/etcd/handlers/main.yml")).toEqual([expect.objectContaining({
      name: "Restart etcd", throttle: 1, when: "etcd_member_data.stat.exists",
    })]);
  });
});

describe("Patroni: the primary region holds the primary after a fresh deploy", () => {
  const service = load("playbooks/roles/patroni/tasks/service.yml");
  const wave = (from: Record<string, string>, host: string) => load<Task>(`inventory/host_vars/${host}.yml`, from).patroni_start_wave;

  it("starts the primary region's first database node alone, a standby cluster's first node next, the others last", () => {
    expect(["pg-nyc1-1", "pg-nyc1-2", "pg-ams3-1"].map((h) => wave(tree, h))).toEqual([1, 3, 3]);
    expect(["pg-nyc1-1", "pg-nyc1-2", "pg-ams3-1"].map((h) => wave(standbyTree, h))).toEqual([1, 3, 2]);
  });

  it("starts each wave only after the previous wave's cluster has a running leader", () => {
    const steps = service.map((task) => [task.name, task.when ?? null]);
    const startsAndWaits = steps.filter(([name]) => /^(Start Patroni|Wait until its cluster has a running leader)/.test(String(name)));
    expect(startsAndWaits.map(([, when]) => when)).toEqual([
      "patroni_start_wave == 1", "patroni_start_wave == 1", "patroni_start_wave == 2", "patroni_start_wave == 2", "patroni_start_wave == 3",
    ]);
    // Every start of Patroni in the role is one of the waves: nothing starts it on all nodes at once.
    const starts = mappings(Object.keys(tree).filter((f) => f.startsWith("playbooks/roles/patroni/") && f.endsWith(".yml")).map((f) => load(f)))
      .filter((m) => (m["ansible.builtin.systemd"] as Task | undefined)?.name === "patroni");
    expect(starts.every((m) => /^patroni_start_wave == [123]$/.test(String(m.when)) || (m["ansible.builtin.systemd"] as Task).state === "reloaded")).toBe(true);
    expect(steps.findIndex(([name]) => name === "Wait until PostgreSQL runs under Patroni"))
      .toBeGreaterThan(steps.findIndex(([, when]) => when === "patroni_start_wave == 3"));
  });

  it("waits for a running leader in the DCS, so a re-run after a failover does not wait for the bootstrap node to lead", () => {
    const wait = service.find((task) => task.name === "Wait until its cluster has a running leader")!;
    expect(wait["ansible.builtin.uri"]).toEqual({ url: "https://127.0.0.1:{{ patroni_restapi_port }}/cluster", ca_path: "/etc/ssl/shop/ca.crt" });
    const members = (...roles: Array<[string, string]>) => ({ status: 200, json: { members: roles.map(([role, state], i) => ({ name: `pg-${i}`, role, state })) } });
    const cases: Array<[unknown, boolean]> = [
      [members(["leader", "running"]), true],
      [members(["replica", "running"], ["leader", "running"]), true],
      [members(["standby_leader", "running"]), true],
      [members(["standby_leader", "streaming"]), true],
      [members(["replica", "running"]), false],
      [members(["leader", "starting"]), false],
      [{ status: -1, msg: "Connection refused" }, false],
    ];
    expect(ansibleConditions(cases.map(([patroni_cluster]) => ({ condition: String(wait.until), vars: { patroni_cluster } })))).toEqual(cases.map(([, holds]) => holds));
  }, 60_000);
});

describe("the database role on a fresh droplet, and in the rehearsal's containers", () => {
  const configure = load("playbooks/roles/patroni/tasks/configure.yml");
  const at = (name: string) => configure.findIndex((task) => String(task.name).startsWith(name));
  const allTasks = () => Object.keys(tree).filter((f) => /^playbooks\/.*\.yml$/.test(f) || f === "site.yml").flatMap((f) => mappings(load(f)));

  it("creates /etc/udev/rules.d before writing the watchdog rule into it", () => {
    expect(configure[at("Create the udev rules directory")]).toMatchObject({ "ansible.builtin.file": { path: "/etc/udev/rules.d", state: "directory" } });
    expect(at("Create the udev rules directory")).toBeLessThan(at("Let Patroni (user postgres) open the watchdog after every boot"));
  });

  it("loads kernel modules and touches /dev/watchdog only outside containers, and says so", () => {
    const kernel = allTasks().filter((m) => "community.general.modprobe" in m || "ansible.posix.sysctl" in m || (m["ansible.builtin.file"] as Task | undefined)?.path === "/dev/watchdog");
    expect(kernel.length).toBe(2);
    for (const task of kernel) expect(String(task.name)).toMatch(/\(not in a container\)$/);
    // A droplet (kvm) runs them; nspawn runs as root report `container` (read from PID 1's environment first).
    const types = ["kvm", "systemd-nspawn", "container"];
    expect(ansibleConditions(kernel.flatMap((task) => types.map((type) => ({ condition: String(task.when), vars: { ansible_virtualization_type: type } })))))
      .toEqual(kernel.flatMap(() => [true, false, false]));
    // The facts the condition reads are gathered before it.
    expect(at("Find out whether this host is a container")).toBeLessThan(at("Load the softdog watchdog now"));
    // Without /dev/watchdog Patroni runs on: `automatic` uses a watchdog only where there is one.
    expect(yaml.load(tree["files/pg-nyc1-1/patroni.yml"])).toMatchObject({ watchdog: { mode: "automatic" } });
  }, 60_000);

  it("retries stanza-create while the first WAL archive-push holds the stanza's lock", () => {
    const stanza = load("playbooks/roles/patroni/tasks/service.yml").find((task) => String(task.name).startsWith("Create the pgBackRest stanza"))!;
    expect(stanza).toMatchObject({ until: "pgbackrest_stanza_create.rc == 0", retries: expect.any(Number), delay: expect.any(Number) });
    expect(Number(stanza.retries) * Number(stanza.delay)).toBeGreaterThanOrEqual(30);
  });

  it("gives postgres the data directory's parent, where Patroni moves a failed data directory aside and clones a new one", () => {
    expect(configure[at("Create the data directory's parent")]).toMatchObject({ "ansible.builtin.file": { path: "{{ patroni_data_dir | dirname }}", owner: "postgres" } });
    expect(at("Create the data directory's parent")).toBeLessThan(configure.findIndex((task) => task.name === "Create the data directory"));
  });

  it("says when each command changed something, so a second run reports changed=0", () => {
    const commands = allTasks().filter((m) => "ansible.builtin.command" in m || "ansible.builtin.shell" in m);
    expect(commands.length).toBeGreaterThan(0);
    expect(commands.filter((m) => !("changed_when" in m) && !("creates" in (m["ansible.builtin.command"] as Task ?? {}))).map((m) => m.name)).toEqual([]);
  });
});
