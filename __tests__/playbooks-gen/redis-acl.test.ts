// The generated Redis and Sentinel users against real redis-server and redis-sentinel (Debian's 7.0),
// on 127.0.79.x: each user can run what its client needs and nothing it should not, and a client
// without a user runs nothing at all.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PORTS } from "../../lib/model";
import { REDIS_USERS, redisUser, sentinelAuthLines, type RedisRole } from "../../playbooks-gen/views/redis-acl";
import { redisOnce, type RedisAuth } from "../../lab/clients/resp";
import { waitFor } from "../../lab/proc";
import { RedisProcess, redisPassword } from "../examples/shop-stack";

const NET = "127.0.79";
const PRIMARY = `${NET}.2`;
const REPLICA = `${NET}.3`;
const SENTINEL = `${NET}.4`;
const MASTER = "acl";

const as = (role: RedisRole): RedisAuth => ({ user: redisUser(role).name, password: redisPassword(redisUser(role)) });
const onRedis = (who: RedisAuth | null, args: (string | number)[], host = PRIMARY) => redisOnce(host, PORTS.redis, who, args);
const onSentinel = (who: RedisAuth | null, args: (string | number)[]) => redisOnce(SENTINEL, PORTS.sentinel, who, args);
/** The error text of a refused command ("" if it ran). */
const refusal = (p: Promise<unknown>) => p.then(() => "", (e: Error) => e.message);

describe("Redis and Sentinel ACL users (real redis-server and redis-sentinel 7.0)", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "redis-acl-"));
  const procs: RedisProcess[] = [];

  beforeAll(async () => {
    procs.push(RedisProcess.server(root, "primary", PRIMARY), RedisProcess.server(root, "replica", REPLICA, PRIMARY));
    procs.push(new RedisProcess(root, "sentinel", SENTINEL, PORTS.sentinel, [
      `sentinel monitor ${MASTER} ${PRIMARY} ${PORTS.redis} 1`, "sentinel down-after-milliseconds acl 60000",
      ...sentinelAuthLines(MASTER, redisPassword),
    ], true));
    for (const p of procs) await p.start();
  }, 60_000);

  afterAll(async () => {
    for (const p of procs) await p.kill();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("refuses every command from a client that has not logged in, on Redis and on Sentinel", async () => {
    expect(await refusal(onRedis(null, ["GET", "k"]))).toMatch(/^NOAUTH/);
    expect(await refusal(onRedis(null, ["PING"]))).toMatch(/^NOAUTH/);
    expect(await refusal(onSentinel(null, ["SENTINEL", "get-master-addr-by-name", MASTER]))).toMatch(/^NOAUTH/);
    expect(await refusal(onSentinel(null, ["SENTINEL", "SET", MASTER, "quorum", "1"]))).toMatch(/^NOAUTH/);
    // Nor can the default user be logged in to: it is off.
    expect(await refusal(onRedis({ user: "default", password: "" }, ["PING"]))).toMatch(/^WRONGPASS/);
  });

  it("replicates with the replication user (its masteruser), which can read no data", async () => {
    await waitFor("the replica to be in sync", 15_000, async () => /master_link_status:up/.test(String(await onRedis(as("admin"), ["INFO", "replication"], REPLICA))));
    expect(await refusal(onRedis(as("replication"), ["GET", "k"]))).toMatch(/^NOPERM/);
    expect(await refusal(onRedis(as("replication"), ["INFO"]))).toMatch(/^NOPERM/);
  });

  it("lets the app read and write data, streams and INFO, but not administer the server", async () => {
    const app = as("app");
    await onRedis(app, ["SET", "shop:k", "v"]);
    expect(await onRedis(app, ["GET", "shop:k"])).toBe("v");
    expect(await onRedis(app, ["XADD", "shop:jobs", "*", "f", "1"])).toMatch(/^\d+-\d+$/);
    expect(String(await onRedis(app, ["INFO", "persistence"]))).toMatch(/loading:0/);
    for (const cmd of [["CONFIG", "SET", "appendonly", "no"], ["FLUSHALL"], ["REPLICAOF", "NO", "ONE"], ["ACL", "LIST"], ["KEYS", "*"], ["SHUTDOWN"], ["CLIENT", "KILL", "TYPE", "normal"], ["SAVE"]]) {
      expect([cmd[0], await refusal(onRedis(app, cmd))]).toEqual([cmd[0], expect.stringMatching(/^NOPERM/)]);
    }
  });

  it("lets the app ask Sentinel for the primary, but not reconfigure, fail over or add masters", async () => {
    const app = as("app");
    expect(await onSentinel(app, ["SENTINEL", "get-master-addr-by-name", MASTER])).toEqual([PRIMARY, String(PORTS.redis)]);
    for (const cmd of [["SENTINEL", "SET", MASTER, "quorum", "1"], ["SENTINEL", "FAILOVER", MASTER], ["SENTINEL", "REMOVE", MASTER], ["SENTINEL", "MONITOR", "rogue", "127.0.79.9", "6379", "1"], ["SENTINEL", "RESET", "*"]]) {
      expect([cmd[1], await refusal(onSentinel(app, cmd))]).toEqual([cmd[1], expect.stringMatching(/^NOPERM/)]);
    }
  });

  it("lets the exporter read INFO, but no data and no CONFIG (which would hand it masterauth)", async () => {
    const exporter = as("exporter");
    expect(String(await onRedis(exporter, ["INFO", "replication"]))).toMatch(/role:master/);
    expect(await refusal(onRedis(exporter, ["GET", "shop:k"]))).toMatch(/^NOPERM/);
    // CONFIG GET answers the replication password in clear, and the replication user may PSYNC every key.
    expect(await onRedis(as("admin"), ["CONFIG", "GET", "masterauth"], REPLICA)).toEqual(["masterauth", redisPassword(redisUser("replication"))]);
    for (const who of ["exporter", "app", "sentinel", "replication"] as const) {
      expect([who, await refusal(onRedis(as(who), ["CONFIG", "GET", "masterauth"], REPLICA))]).toEqual([who, expect.stringMatching(/^NOPERM/)]);
    }
    expect(await refusal(onRedis(exporter, ["CONFIG", "SET", "maxmemory", "1"]))).toMatch(/^NOPERM/);
  });

  it("gives Sentinel's user only what Sentinel sends to Redis: no data", async () => {
    expect(String(await onRedis(as("sentinel"), ["ROLE"]))).toMatch(/master/);
    expect(await refusal(onRedis(as("sentinel"), ["GET", "shop:k"]))).toMatch(/^NOPERM/);
  });

  it("lets admin fail over through Sentinel, which reconfigures Redis as its own user", async () => {
    expect(await onSentinel(as("admin"), ["SENTINEL", "FAILOVER", MASTER])).toBe("OK");
    await waitFor("the replica to be promoted", 20_000, async () => {
      const a = await onSentinel(as("app"), ["SENTINEL", "get-master-addr-by-name", MASTER]);
      return Array.isArray(a) && a[0] === REPLICA;
    }, 200);
    expect(String(await onRedis(as("admin"), ["INFO", "replication"], REPLICA))).toMatch(/role:master/);
  }, 30_000);

  it("defines every user from one table, each with its own Vault variable", () => {
    expect(new Set(REDIS_USERS.map((u) => u.vault)).size).toBe(REDIS_USERS.length);
    expect(REDIS_USERS.map((u) => u.role).sort()).toEqual(["admin", "app", "exporter", "replication", "sentinel"]);
  });
});
