// Policy over the generated tree for Redis and Sentinel (issue 11): no server without users, one
// Vault variable per user, no password outside Vault, and no task that handles a secret without no_log.
import * as yaml from "js-yaml";
import { generateTree } from "../../playbooks-gen/generate";
import { VAULT_VARIABLES } from "../../playbooks-gen/roles/vault";
import { aclPasswordHash, REDIS_USERS, usersOn } from "../../playbooks-gen/views/redis-acl";
import { ansibleConditions } from "./ansible-eval";
import { example, EXAMPLE_OUTPUTS, exampleOutputs, standbyExample } from "./fixtures";

type Task = Record<string, unknown>;

/** Every task of every task list in the tree (role tasks and handlers, playbooks' tasks), blocks opened. */
function tasksOf(tree: Record<string, string>): Array<[file: string, task: Task]> {
  const out: Array<[string, Task]> = [];
  const walk = (file: string, list: unknown) => {
    if (!Array.isArray(list)) return;
    for (const t of list as Task[]) {
      if (!t || typeof t !== "object") continue;
      if ("hosts" in t) { for (const k of ["pre_tasks", "tasks", "post_tasks", "handlers"]) walk(file, t[k]); continue; }
      const { block, rescue, always, ...own } = t;
      out.push([file, own]);
      for (const l of [block, rescue, always]) walk(file, l);
    }
  };
  for (const [file, text] of Object.entries(tree)) {
    if (!/^(site\.yml|playbooks\/.*\.yml)$/.test(file) || /\/(defaults|meta|vars)\//.test(file)) continue;
    walk(file, yaml.load(text));
  }
  return out;
}

/** Secrets as they would look written out in clear in a Redis or Sentinel file. */
const REDIS_SECRET = [
  /^\s*(requirepass|masterauth|sentinel (auth-pass \S+|sentinel-pass))\s+"?(?!\{\{)[^\s"]+"?\s*$/m,
  /^\s*user \S+ .*\s>\S/m,
  /^\s*user \S+ .*\s#[0-9a-f]{64}\b/m,
];
const redisSecrets = (text: string) => REDIS_SECRET.filter((p) => p.test(text)).length;

describe.each([["stretched", example()], ["standby-cluster", standbyExample()]])("security policy over the generated tree (%s example)", (_, t) => {
  const tree = generateTree(t, exampleOutputs(), EXAMPLE_OUTPUTS);
  const tasks = tasksOf(tree);
  const copyContent = (role: string, dest: string) => {
    const task = tasks.find(([f, x]) => f === `playbooks/roles/${role}/tasks/configure.yml` && String((x["ansible.builtin.copy"] as Task | undefined)?.dest ?? "").endsWith(dest));
    if (!task) throw new Error(`no task of ${role} writes ${dest}`);
    return task[1];
  };

  it("sets no_log on every task that handles a Vault value", () => {
    const secretTasks = tasks.filter(([, x]) => JSON.stringify(x).includes("vault_"));
    expect(secretTasks.length).toBeGreaterThan(5);
    for (const [file, x] of secretTasks) expect([file, x.name, x.no_log]).toEqual([file, x.name, true]);
  });

  it("writes no Redis or Sentinel password, nor an ACL password or hash, in clear anywhere in the tree", () => {
    for (const [file, text] of Object.entries(tree)) expect([file, redisSecrets(text)]).toEqual([file, 0]);
  });

  it("has a Redis secret scan that catches planted passwords", () => {
    for (const line of ["requirepass hunter2", "masterauth \"hunter2\"", "sentinel auth-pass shop hunter2", "sentinel sentinel-pass hunter2",
      "user app on >hunter2 ~* +@all", `user app on #${"ab".repeat(32)} ~* +@all`]) {
      expect([line, redisSecrets(line)]).toEqual([line, 1]);
    }
  });

  it("runs every Redis and Sentinel with an ACL file, protected mode and no requirepass", () => {
    const redis = Object.entries(tree).filter(([f]) => /^files\/[^/]+\/(redis|sentinel)\.conf$/.test(f));
    expect(redis.length).toBeGreaterThanOrEqual(5);
    for (const [file, text] of redis) {
      expect([file, /^aclfile \/etc\/redis\/(redis|sentinel)-users\.acl$/m.test(text), /^protected-mode yes$/m.test(text), /^requirepass/m.test(text)]).toEqual([file, true, true, false]);
    }
  });

  it("turns the default user off and gives each user its own Vault password, on Redis and on Sentinel", () => {
    for (const [role, dest, service] of [["redis", "redis-users.acl", "redis"], ["redis_sentinel", "sentinel-users.acl", "sentinel"]] as const) {
      const task = copyContent(role, dest);
      const lines = String((task["ansible.builtin.copy"] as Task).content).trim().split("\n");
      expect(lines[0]).toBe("user default off resetpass resetkeys resetchannels -@all");
      expect(lines.slice(1)).toEqual(usersOn(service).map((u) => expect.stringMatching(new RegExp(`^user ${u.name} on #\\{\\{ ${u.vault} \\| hash\\('sha256'\\) \\}\\} \\{\\{ \\S+_acl_${u.role}_rules \\}\\}$`))));
      expect(task.no_log).toBe(true);
    }
    for (const u of REDIS_USERS) expect(VAULT_VARIABLES.map(([n]) => n)).toContain(u.vault);
    expect(VAULT_VARIABLES.map(([n]) => n)).not.toContain("vault_redis_password");
  });

  it("authenticates replicas, Sentinel (to Redis and to the other Sentinels) and the app each as its own user", () => {
    expect(String((copyContent("redis", "redis-auth.conf")["ansible.builtin.copy"] as Task).content)).toBe("masteruser replica\nmasterauth \"{{ vault_redis_replication_password }}\"\n");
    const sentinel = String((copyContent("redis_sentinel", "sentinel-auth.conf")["ansible.builtin.copy"] as Task).content);
    expect(sentinel).toMatch(/^sentinel auth-user .+ sentinel$/m);
    expect(sentinel).toMatch(/^sentinel sentinel-user sentinel$/m);
    expect(sentinel).toMatch(/^sentinel sentinel-pass "\{\{ vault_redis_sentinel_password \}\}"$/m);
    const env = String((copyContent("app", "app_env_file }}")["ansible.builtin.copy"] as Task).content);
    expect(env).toMatch(/^REDIS_USERNAME=app$/m);
    expect(env).toMatch(/^REDIS_SENTINEL_USERNAME=app$/m);
    expect(env).toMatch(/^REDIS_SENTINEL_PASSWORD=\{\{ vault_redis_app_password \}\}$/m);
  });
});

describe("the ACL file's password hash", () => {
  it("is what Redis stores: Ansible's hash('sha256') of the Vault value equals the lab's (#<sha256 hex>)", () => {
    const password = "pa ss\"wörd'1";
    const [same] = ansibleConditions([{ condition: `'#' ~ (vault_redis_app_password | hash('sha256')) == '${aclPasswordHash(password)}'`, vars: { vault_redis_app_password: password } }]);
    expect(same).toBe(true);
  }, 120_000);
});
