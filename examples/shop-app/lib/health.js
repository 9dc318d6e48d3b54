// The health check the load balancers, Prometheus and the Ansible role rely on: this host can write
// to the PostgreSQL primary through its HAProxy, and to the Redis primary through Sentinel. Each part
// is bounded, so an answer always comes within about CHECK_TIMEOUT_MS.
"use strict";

const crypto = require("crypto");
const { withClient } = require("./db");
const { describePrimary } = require("./redis");
const { withTimeout } = require("./support");

const CHECK_TIMEOUT_MS = 2_000;

async function timed(what, check) {
  const started = Date.now();
  try {
    const details = await withTimeout(check(), CHECK_TIMEOUT_MS, what);
    return { ok: true, ...details, ms: Date.now() - started };
  } catch (err) {
    return { ok: false, error: err.message, ms: Date.now() - started };
  }
}

/** Upserts this host's row: only a primary takes the write; reports the node that took it. */
function checkDatabase(pool, instance) {
  return timed("database write", async () => {
    const result = await withClient(pool, (client) => client.query(
      `INSERT INTO app_health (host, db_node, checked_at) VALUES ($1, host(inet_server_addr()), now())
       ON CONFLICT (host) DO UPDATE SET db_node = excluded.db_node, checked_at = excluded.checked_at
       RETURNING db_node`,
      [instance],
    ));
    return { node: result.rows[0].db_node };
  });
}

/** Whether the client can send now. ioredis still says "ready" for a moment after the server closed
 * the socket (it has not yet handled the close), and then refuses every command. */
function connected(redis) {
  return redis.status === "ready" && Boolean(redis.stream && redis.stream.writable);
}
const clientState = (redis) => (redis.status === "ready" && !connected(redis) ? "ready, socket closed" : redis.status);

/** SET then GET a random value under this host's key on the primary Sentinel names. */
function checkRedis(redis, instance) {
  return timed("redis write", async () => {
    // Say so plainly rather than with ioredis's "Stream isn't writeable …".
    if (!connected(redis)) throw new Error(`no connection to the Redis primary (client ${clientState(redis)})`);
    const key = `shop:health:${instance}`;
    const value = crypto.randomUUID();
    let read;
    try {
      await redis.set(key, value, "PX", 60_000);
      read = await redis.get(key);
    } catch (err) {
      // The connection went between the check above and the command (the primary was killed a moment
      // ago): the same plain words, with ioredis's own message after them.
      if (!connected(redis)) throw new Error(`no connection to the Redis primary (client ${clientState(redis)}): ${err.message}`);
      throw err;
    }
    if (read !== value) throw new Error(`read back ${JSON.stringify(read)} after writing ${JSON.stringify(value)}`);
    return { node: describePrimary(redis) };
  });
}

/** {status, body}: 200 only when both parts are ok; `failed` names the parts that are not. */
async function health({ pool, redis, instance, schemaError }) {
  const [db, redisPart] = await Promise.all([
    schemaError() ? Promise.resolve({ ok: false, error: `schema not ready: ${schemaError()}`, ms: 0 }) : checkDatabase(pool, instance),
    checkRedis(redis, instance),
  ]);
  const failed = [...(db.ok ? [] : ["db"]), ...(redisPart.ok ? [] : ["redis"])];
  return { status: failed.length === 0 ? 200 : 503, body: { ok: failed.length === 0, host: instance, failed, db, redis: redisPart } };
}

module.exports = { health, CHECK_TIMEOUT_MS };
