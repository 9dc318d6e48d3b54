// The reference shop app (examples/shop-app), run as its systemd units run it, against real
// PostgreSQL 15, Redis 7 and Sentinel on 127.0.77.x: health, idempotent orders, exactly-once
// fulfilment, and how it rides out a database outage, a Redis outage and a Sentinel failover.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PORTS } from "../../lib/model";
import { PgServer } from "../lab/pg-server";
import { waitFor } from "../../lab/proc";
import { AppProcess, MASTER_NAME, NET, query, RedisProcess, redisCli, redisPassword, request, requirePrograms, SENTINEL, type Reply } from "./shop-stack";

const APP_DIR = path.resolve(__dirname, "../../examples/shop-app");
const WEB = { host: `${NET}.10`, port: 8080 };
const LATE_WEB = { host: `${NET}.11`, port: WEB.port };
const PRIMARY = `${NET}.2`;
const REPLICA = `${NET}.3`;
const DATABASE_URL = `postgresql://shop:shop-test@${NET}.1:${PORTS.postgres}/shop`;

const appEnv = (instance: string): Record<string, string> => ({
  DATABASE_URL,
  DATABASE_REPLICA_URL: DATABASE_URL,
  REDIS_SENTINELS: `${SENTINEL.host}:${SENTINEL.port}`,
  REDIS_SENTINEL_MASTER: MASTER_NAME,
  // The app's own user, as the generated /etc/shop/app.env gives it.
  REDIS_USERNAME: "app",
  REDIS_PASSWORD: redisPassword({ name: "app" }),
  REDIS_SENTINEL_USERNAME: "app",
  REDIS_SENTINEL_PASSWORD: redisPassword({ name: "app" }),
  SESSION_SECRET: "session-test",
  PORT: String(WEB.port),
  HEALTH_PATH: "/healthz",
  HOST: WEB.host,
  WORKER_ID: instance,
  // Seconds instead of the production defaults, so the suite sees them act.
  RECONCILE_AFTER_MS: "1500",
  RECONCILE_EVERY_MS: "500",
  CLAIM_IDLE_MS: "2000",
});

const post = (body: unknown, key?: string): Promise<Reply> => request(WEB, "POST", "/orders", { body, headers: key ? { "Idempotency-Key": key } : {} });
const get = (urlPath: string): Promise<Reply> => request(WEB, "GET", urlPath);
const redisOn = (host: string, args: string[]) => redisCli(host, PORTS.redis, args);

async function fulfilled(id: number, withinMs = 15_000): Promise<Reply["body"]> {
  return waitFor(`order ${id} to be fulfilled`, withinMs, async () => {
    const r = await get(`/orders/${id}`);
    return r.status === 200 && r.body.status === "fulfilled" ? r.body : null;
  }, 200);
}

async function healthIs(status: number, withinMs: number, extra: (b: Reply["body"]) => boolean = () => true): Promise<Reply> {
  return waitFor(`health ${status}`, withinMs, async () => {
    const r = await get("/healthz");
    return r.status === status && extra(r.body) ? r : null;
  }, 200);
}

describe("shop-app example (real PostgreSQL 15, Redis 7 and Sentinel on 127.0.77.x)", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "shop-app-"));
  let pg: PgServer | undefined;
  const redis: RedisProcess[] = [];
  let web: AppProcess | undefined;
  let worker: AppProcess | undefined;
  let late: AppProcess | undefined;

  beforeAll(async () => {
    requirePrograms(["postgresql-15", "redis-server", "redis-sentinel"]);
    fs.chmodSync(root, 0o755);
    pg = new PgServer(`${NET}.1`);
    await pg.start();
    // As the playbook does: the app's role owns its database (PostgreSQL 15 lets only the owner create in public).
    const admin = `postgresql://${pg.target.user}:${pg.target.password}@${pg.target.host}:${pg.target.port}/postgres`;
    await query(admin, "CREATE ROLE shop LOGIN PASSWORD 'shop-test'");
    await query(admin, "CREATE DATABASE shop OWNER shop");
    redis.push(RedisProcess.server(root, "redis-primary", PRIMARY), RedisProcess.server(root, "redis-replica", REPLICA, PRIMARY), RedisProcess.sentinel(root, PRIMARY));
    for (const r of redis) await r.start();
    web = new AppProcess(path.join(APP_DIR, "server.js"), appEnv("app-test"), path.join(root, "server.log"));
    worker = new AppProcess(path.join(APP_DIR, "worker.js"), appEnv("worker-test"), path.join(root, "worker.log"));
  }, 90_000);

  afterAll(async () => {
    await web?.kill();
    await worker?.kill();
    await late?.kill();
    for (const r of redis) await r.kill();
    await pg?.destroy();
    fs.rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it("answers health 200 with the PostgreSQL node that took the write and the Redis primary", async () => {
    const r = await healthIs(200, 30_000);
    expect(r.body).toMatchObject({ ok: true, failed: [], db: { ok: true, node: `${NET}.1` }, redis: { ok: true, node: `${PRIMARY}:${PORTS.redis}` } });
  }, 40_000);

  let first: Reply["body"];

  it("creates an order and answers with its id and the PostgreSQL node that committed it", async () => {
    const r = await post({ item: "book", quantity: 2 }, "order-1");
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ idempotency_key: "order-1", item: "book", quantity: 2, status: "new", db_node: `${NET}.1`, replayed: false, enqueued: true });
    expect(Number.isInteger(r.body.id)).toBe(true);
    first = r.body;
  });

  it("answers a replayed Idempotency-Key with the same order and stores no second row", async () => {
    const r = await post({ item: "book", quantity: 2 }, "order-1");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: first.id, idempotency_key: "order-1", replayed: true });
    expect(await query(DATABASE_URL, "SELECT id FROM orders WHERE idempotency_key = 'order-1'")).toHaveLength(1);
  });

  it("refuses an Idempotency-Key reused for a different order with 422", async () => {
    const r = await post({ item: "lamp", quantity: 1 }, "order-1");
    expect(r.status).toBe(422);
    expect(r.body.error).toMatch(/already used for a different order/);
  });

  it("fulfils the order through the worker, recording one effect", async () => {
    const order = await fulfilled(first.id);
    expect(order.fulfilled_at).not.toBeNull();
    expect(await query(DATABASE_URL, "SELECT applied_by FROM order_effects WHERE order_id = $1", [first.id])).toEqual([{ applied_by: "worker-test" }]);
  }, 20_000);

  it("applies a job delivered twice only once", async () => {
    const before = (await get(`/orders/${first.id}`)).body;
    for (let i = 0; i < 2; i++) {
      await redisOn(PRIMARY, ["XADD", "shop:jobs", "*", "order_id", String(first.id), "idempotency_key", "order-1"]);
    }
    // The worker deletes each job once it is done with it.
    await waitFor("the duplicate jobs to be consumed", 10_000, async () => (await redisOn(PRIMARY, ["XLEN", "shop:jobs"])) === "0");
    expect(await query(DATABASE_URL, "SELECT count(*)::int AS n FROM order_effects WHERE idempotency_key = 'order-1'")).toEqual([{ n: 1 }]);
    expect((await get(`/orders/${first.id}`)).body.fulfilled_at).toBe(before.fulfilled_at);
    expect(worker!.log()).toMatch(new RegExp(`order ${first.id} was already fulfilled; job \\S+ changed nothing`));
  }, 20_000);

  it("gives an order without Idempotency-Key a fresh key to retry with", async () => {
    const r = await post({ item: "pen", quantity: 3 });
    expect(r.status).toBe(201);
    expect(r.body.idempotency_key).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("answers 404 for an unknown order", async () => {
    for (const id of ["999999", "abc"]) {
      const r = await get(`/orders/${id}`);
      expect(r.status).toBe(404);
      expect(r.body.error).toMatch(/no order/);
    }
  });

  it("answers 400 naming the problem for bad JSON and for missing or wrong fields", async () => {
    const badJson = await post("{not json");
    expect(badJson.status).toBe(400);
    expect(badJson.body.error).toMatch(/request body must be JSON/);
    const missing = await post({ quantity: 0 });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatch(/item must be a non-empty string/);
    expect(missing.body.error).toMatch(/quantity must be an integer from 1/);
  });

  it("answers health 503 naming redis while Redis is down, still takes orders (fulfilled by the reconciliation), and recovers", async () => {
    await redis[0].kill();
    try {
      const down = await healthIs(503, 10_000, (b) => b.failed.includes("redis"));
      // Which words ioredis uses depends on where its retry cycle is when the server goes (refused
      // connection, no primary from Sentinel, or its retry limit): any of them names the cause.
      expect(down.body).toMatchObject({ ok: false, failed: ["redis"], db: { ok: true }, redis: { ok: false, error: expect.stringMatching(/Redis primary|ECONNREFUSED|max retries|Connection is closed/) } });
      expect(down.ms).toBeLessThan(3_000);
      // The order is committed, its job cannot be enqueued: the worker's reconciliation fulfils it.
      const r = await post({ item: "mug", quantity: 1 }, "during-redis-outage");
      expect(r.status).toBe(201);
      expect(r.body.enqueued).toBe(false);
      await fulfilled(r.body.id, 15_000);
    } finally {
      // Whatever failed above, the next specs start with Redis up.
      await redis[0].start();
    }
    await healthIs(200, 20_000);
  }, 60_000);

  it("answers 503 within 3 s while PostgreSQL is down, and recovers without a restart", async () => {
    await pg!.kill();
    // A host that starts now must wait for the database, answering 503, not exit.
    late = new AppProcess(path.join(APP_DIR, "server.js"), { ...appEnv("app-late"), HOST: LATE_WEB.host }, path.join(root, "server-late.log"));
    const r = await post({ item: "cup", quantity: 1 }, "during-db-outage");
    expect(r.status).toBe(503);
    expect(r.ms).toBeLessThan(3_000);
    expect(r.body.error).toMatch(/^database unavailable/);
    const health = await healthIs(503, 10_000, (b) => b.failed.includes("db"));
    expect(health.body).toMatchObject({ failed: ["db"], redis: { ok: true } });
    const lateHealth = await waitFor("the late host to answer", 10_000, () => request(LATE_WEB, "GET", "/healthz").catch(() => null));
    expect(lateHealth.status).toBe(503);
    expect(lateHealth.body.db.error).toMatch(/^schema not ready/);
    await pg!.start();
    await healthIs(200, 20_000);
    await waitFor("the late host's health 200", 20_000, async () => (await request(LATE_WEB, "GET", "/healthz")).status === 200);
    expect(late.running()).toBe(true);
    // The client retries with the same key: one order, fulfilled by the worker.
    const retried = await post({ item: "cup", quantity: 1 }, "during-db-outage");
    expect(retried.status).toBe(201);
    await fulfilled(retried.body.id);
    expect(web!.running() && worker!.running()).toBe(true);
    await late.stop("SIGTERM", 5_000);
  }, 60_000);

  it("keeps answering through a Sentinel failover and moves to the new Redis primary", async () => {
    const replies: Reply[] = [];
    const failures: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        await post({ item: "sock", quantity: 1 }, `failover-${i}`).then((r) => replies.push(r), (e: Error) => failures.push(e.message));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await waitFor("the replica to be in sync", 15_000, async () => /master_link_status:up/.test(await redisOn(REPLICA, ["INFO", "replication"])));
      await redisCli(SENTINEL.host, SENTINEL.port, ["SENTINEL", "FAILOVER", MASTER_NAME]);
      const after = await healthIs(200, 20_000, (b) => b.redis.node === `${REPLICA}:${PORTS.redis}`);
      expect(after.body.redis.ok).toBe(true);
      const count = replies.length;
      await waitFor("orders enqueued on the new primary", 10_000, () => replies.slice(count).some((r) => r.status === 201 && r.body.enqueued));
    } finally {
      writing = false;
      await writer;
    }
    expect(failures).toEqual([]);
    expect(replies.filter((r) => r.status !== 201)).toEqual([]);
    // Every order is fulfilled: through its job, or through the reconciliation if the job was lost.
    for (const r of replies) await fulfilled(r.body.id);
  }, 90_000);

  it("connects again when its Redis client ends without being closed, and stays closed when the app closes it", async () => {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { closeRedis, createRedis } = require(path.join(APP_DIR, "lib", "redis.js"));
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { loadConfig } = require(path.join(APP_DIR, "lib", "config.js"));
    const client = createRedis(loadConfig(appEnv("end-test")).redis, "end-test");
    try {
      await waitFor("the client ready", 15_000, async () => client.status === "ready");
      // An end the app did not ask for (ioredis reaches it when a disconnect lands mid-resolution).
      client.disconnect();
      await waitFor("the client ended", 5_000, async () => client.status === "end");
      await waitFor("the client ready again", 15_000, async () => client.status === "ready");
      expect(await client.ping()).toBe("PONG");
      closeRedis(client);
      await waitFor("the client ended", 5_000, async () => client.status === "end");
      await new Promise((r) => setTimeout(r, 1500));
      expect(client.status).toBe("end");
    } finally {
      closeRedis(client);
    }
  });

  it("stops cleanly on SIGTERM", async () => {
    expect(await web!.stop("SIGTERM", 5_000)).toBe(0);
    expect(await worker!.stop("SIGTERM", 5_000)).toBe(0);
    expect(web!.log()).toMatch(/SIGTERM: finishing requests in flight/);
  }, 15_000);
});

describe("shop-app example package", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(APP_DIR, "package.json"), "utf8"));
  const rootPkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, "../../package.json"), "utf8"));

  it("depends on exactly pg and ioredis, pinned as the root devDependencies the suite runs it with", () => {
    expect(Object.keys(pkg.dependencies).sort()).toEqual(["ioredis", "pg"]);
    for (const name of ["pg", "ioredis"]) expect(pkg.dependencies[name]).toBe(rootPkg.devDependencies[name]);
    const lock = JSON.parse(fs.readFileSync(path.join(APP_DIR, "package-lock.json"), "utf8"));
    expect(lock.packages[""].dependencies).toEqual(pkg.dependencies);
    expect(lock.packages["node_modules/pg"].version).toBe(pkg.dependencies.pg);
    expect(lock.packages["node_modules/ioredis"].version).toBe(pkg.dependencies.ioredis);
  });

  it("builds with a syntax check that needs no network", () => {
    expect(pkg.scripts).toMatchObject({ start: "node server.js", worker: "node worker.js" });
    expect(execFileSync("npm", ["run", "--silent", "build"], { cwd: APP_DIR, encoding: "utf8", env: { ...process.env, npm_config_offline: "true" }, timeout: 30_000 })).toBe("");
  });

  it("refuses to start without its environment, naming every missing variable", () => {
    const out = (() => {
      try {
        execFileSync(process.execPath, ["server.js"], { cwd: APP_DIR, env: { PATH: process.env.PATH }, stdio: "pipe", timeout: 10_000 });
        return "exited 0";
      } catch (e) {
        return String((e as { stderr: Buffer }).stderr);
      }
    })();
    for (const name of ["DATABASE_URL", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER"]) expect(out).toContain(`${name} must be set`);
  });
});
