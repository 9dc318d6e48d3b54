// PostgreSQL through the local HAProxy (DATABASE_URL → :5000 → the Patroni primary): a small pool
// whose every wait is bounded, that throws away a connection as soon as it misbehaves, and the schema.
"use strict";

const { Pool } = require("pg");
const { Backoff, logError, logInfo, outageLogger, sleep } = require("./support");

/** Anything that went wrong talking to PostgreSQL: the HTTP layer answers 503, the worker retries. */
class DatabaseError extends Error {
  constructor(cause) {
    super(cause && cause.message ? cause.message : String(cause));
    this.code = cause && cause.code;
  }
}

function createPool(databaseUrl, { max, applicationName }) {
  const pool = new Pool({
    connectionString: databaseUrl,
    max,
    idleTimeoutMillis: 10_000,
    // Also bounds the wait for a free client when all are busy.
    connectionTimeoutMillis: 2_000,
    // Client side: a query on a connection to a vanished host fails instead of hanging...
    query_timeout: 5_000,
    // ...and server side: a slow statement or a lock queue cannot hold a connection for long.
    statement_timeout: 4_000,
    lock_timeout: 2_000,
    idle_in_transaction_session_timeout: 10_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: applicationName,
  });
  // An idle connection whose server went away (a failover; HAProxy's shutdown-sessions) emits 'error'
  // and the pool drops it. Without this listener that error would end the process.
  pool.on("error", (err) => logError("database idle connection dropped", err));
  return pool;
}

/**
 * Runs `fn(client)` on a pooled connection. After any error the connection is destroyed, not
 * returned: after a failover it may point at a dead or demoted server, or sit in a failed transaction.
 */
async function withClient(pool, fn) {
  let client;
  try {
    client = await pool.connect();
  } catch (err) {
    throw new DatabaseError(err);
  }
  let failure;
  try {
    return await fn(client);
  } catch (err) {
    failure = err;
    throw err instanceof DatabaseError ? err : new DatabaseError(err);
  } finally {
    client.release(failure);
  }
}

/** Runs `fn(client)` inside BEGIN … COMMIT (an error destroys the connection, which rolls back). */
function inTransaction(pool, fn) {
  return withClient(pool, async (client) => {
    await client.query("BEGIN");
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  });
}

// Any constant works; every process takes the same one.
const SCHEMA_LOCK = 7_312_001;

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS orders (
     id bigserial PRIMARY KEY,
     idempotency_key text NOT NULL UNIQUE,
     item text NOT NULL,
     quantity integer NOT NULL CHECK (quantity > 0),
     status text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'fulfilled')),
     db_node text DEFAULT host(inet_server_addr()),
     created_at timestamptz NOT NULL DEFAULT now(),
     fulfilled_at timestamptz)`,
  // The reconciliation scans only unfulfilled orders.
  "CREATE INDEX IF NOT EXISTS orders_new_by_age ON orders (created_at) WHERE status = 'new'",
  // One row per applied effect: its primary key is what makes a second delivery a no-op.
  `CREATE TABLE IF NOT EXISTS order_effects (
     idempotency_key text PRIMARY KEY,
     order_id bigint NOT NULL REFERENCES orders (id),
     applied_by text NOT NULL,
     applied_at timestamptz NOT NULL DEFAULT now())`,
  // The health check writes here: proof that this host reaches a writable primary.
  `CREATE TABLE IF NOT EXISTS app_health (
     host text PRIMARY KEY,
     db_node text,
     checked_at timestamptz NOT NULL)`,
];

/**
 * Creates the tables if they are missing. Concurrent CREATE TABLE IF NOT EXISTS can still fail with a
 * duplicate-key error in the catalog, and every app and worker host starts at once: the advisory lock
 * lets one process at a time in (and is released with the transaction, also if the connection dies).
 */
function ensureSchema(pool) {
  return inTransaction(pool, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock($1)", [SCHEMA_LOCK]);
    for (const statement of SCHEMA) await client.query(statement);
  });
}

/** Retries ensureSchema until it succeeds or `stopped()` says to give up; never exits the process. */
async function waitForSchema(pool, { stopped, onError }) {
  const backoff = new Backoff(250, 5_000);
  const log = outageLogger("database schema not ready");
  while (!stopped()) {
    try {
      await ensureSchema(pool);
      logInfo("database schema ready");
      return true;
    } catch (err) {
      log.error(err);
      onError(err);
      await sleep(backoff.next());
    }
  }
  return false;
}

module.exports = { DatabaseError, createPool, withClient, inTransaction, ensureSchema, waitForSchema };
