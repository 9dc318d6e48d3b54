// The shop's web process (systemd unit shop-app): a health check, and idempotent order creation
// whose fulfilment job goes to Redis only after the order is committed in PostgreSQL.
"use strict";

const crypto = require("crypto");
const http = require("http");
const { DatabaseError, waitForSchema } = require("./lib/db");
const { startClients } = require("./lib/start");
const { closeRedis } = require("./lib/redis");
const { createOrder, getOrder } = require("./lib/orders");
const { enqueueFulfilment } = require("./lib/jobs");
const { health } = require("./lib/health");
const { logError, logInfo } = require("./lib/support");

const MAX_BODY_BYTES = 16 * 1024;
const MAX_ITEM_LENGTH = 200;
const MAX_QUANTITY = 10_000;
const MAX_KEY_LENGTH = 255;
const SHUTDOWN_GRACE_MS = 10_000;

class HttpError extends Error {
  constructor(status, message, extra = {}) {
    super(message);
    this.status = status;
    this.extra = extra;
  }
}

function send(res, status, body, headers = {}) {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text), "Cache-Control": "no-store", ...headers });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      // Too big: answer at once (the connection is closed after the answer), ignore the rest.
      if (size > MAX_BODY_BYTES) reject(new HttpError(413, `request body must be at most ${MAX_BODY_BYTES} bytes`, { close: true }));
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** The JSON body of POST /orders → {item, quantity}, or a 400 listing every problem. */
function parseOrderRequest(text) {
  let body;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `request body must be JSON like {"item": "book", "quantity": 1}: ${err.message}`);
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new HttpError(400, `request body must be a JSON object like {"item": "book", "quantity": 1}, got ${JSON.stringify(body)}`);
  }
  const problems = [];
  const { item, quantity } = body;
  if (typeof item !== "string" || item.trim() === "" || item.length > MAX_ITEM_LENGTH) {
    problems.push(`item must be a non-empty string of at most ${MAX_ITEM_LENGTH} characters, got ${JSON.stringify(item)}`);
  }
  if (!Number.isInteger(quantity) || quantity < 1 || quantity > MAX_QUANTITY) {
    problems.push(`quantity must be an integer from 1 to ${MAX_QUANTITY}, got ${JSON.stringify(quantity)}`);
  }
  if (problems.length > 0) throw new HttpError(400, problems.join("; "), { problems });
  return { item, quantity };
}

/** The client's Idempotency-Key (what makes its retries safe), or a fresh one it can retry with. */
function idempotencyKeyOf(req) {
  const header = req.headers["idempotency-key"];
  if (header === undefined) return crypto.randomUUID();
  const key = String(header).trim();
  if (key === "" || key.length > MAX_KEY_LENGTH || /[^\x20-\x7e]/.test(key)) {
    throw new HttpError(400, `Idempotency-Key must be 1 to ${MAX_KEY_LENGTH} printable ASCII characters, got ${JSON.stringify(header)}`);
  }
  return key;
}

function makeApp({ config, pool, redis, schema }) {
  const requireSchema = () => {
    if (schema.error !== null) throw new HttpError(503, `database not ready: ${schema.error}`, { retry: true });
  };

  async function postOrder(req, res) {
    const idempotencyKey = idempotencyKeyOf(req);
    const { item, quantity } = parseOrderRequest(await readBody(req));
    requireSchema();
    const { order, created } = await createOrder(pool, { idempotencyKey, item, quantity });
    if (!created && (order.item !== item || order.quantity !== quantity)) {
      throw new HttpError(422, `Idempotency-Key ${JSON.stringify(idempotencyKey)} was already used for a different order; use a new key`, { order });
    }
    // The order is committed. A failed enqueue costs only latency: the worker's reconciliation
    // fulfils orders left 'new'. A replay enqueues again while the order is new (harmless: exactly once).
    let enqueued = false;
    if (order.status === "new") {
      try {
        await enqueueFulfilment(redis, order);
        enqueued = true;
      } catch (err) {
        logError(`order ${order.id} committed, fulfilment job not enqueued (the worker's reconciliation will fulfil it)`, err);
      }
    }
    send(res, created ? 201 : 200, { ...order, replayed: !created, enqueued }, { "Idempotency-Key": idempotencyKey, Location: `/orders/${order.id}` });
  }

  async function getOrderById(res, idText) {
    const notFound = () => new HttpError(404, `no order ${JSON.stringify(idText)}`);
    // Ids are bigserial: anything else cannot exist.
    if (!/^[1-9][0-9]{0,17}$/.test(idText)) throw notFound();
    requireSchema();
    const order = await getOrder(pool, idText);
    if (!order) throw notFound();
    send(res, 200, order);
  }

  async function route(req, res) {
    const { pathname } = new URL(req.url || "/", "http://localhost");
    const only = (method) => {
      if (req.method !== method) throw new HttpError(405, `${pathname} accepts ${method} only`, { allow: method });
    };
    if (pathname === config.http.healthPath) {
      only("GET");
      const result = await health({ pool, redis, instance: config.instance, schemaError: () => schema.error });
      return send(res, result.status, result.body);
    }
    if (pathname === "/orders") {
      only("POST");
      return postOrder(req, res);
    }
    const match = /^\/orders\/([^/]+)$/.exec(pathname);
    if (match) {
      only("GET");
      return getOrderById(res, match[1]);
    }
    throw new HttpError(404, `no route ${req.method} ${pathname}`);
  }

  return async function handle(req, res) {
    try {
      await route(req, res);
    } catch (err) {
      if (err instanceof HttpError) {
        if (err.status >= 500) logError(`${req.method} ${req.url}`, err);
        const headers = {
          ...(err.extra.allow ? { Allow: err.extra.allow } : {}),
          ...(err.extra.retry ? { "Retry-After": "1" } : {}),
          ...(err.extra.close ? { Connection: "close" } : {}),
        };
        const { allow, retry, close, ...details } = err.extra;
        send(res, err.status, { error: err.message, ...details }, headers);
      } else if (err instanceof DatabaseError) {
        logError(`${req.method} ${req.url}: database unavailable`, err);
        send(res, 503, { error: `database unavailable: ${err.message}` }, { "Retry-After": "1" });
      } else {
        logError(`${req.method} ${req.url}: internal error`, err);
        if (!res.headersSent) send(res, 500, { error: "internal error" });
        else res.destroy();
      }
    }
  };
}

function main() {
  const { config, pool, redis } = startClients("shop-app", 10);
  // Health and orders answer 503 until the schema exists; the app never exits for want of a database.
  const schema = { error: "not checked yet" };
  let stopping = false;
  waitForSchema(pool, { stopped: () => stopping, onError: (err) => { schema.error = err.message; } })
    .then((ready) => { if (ready) schema.error = null; });

  const handle = makeApp({ config, pool, redis, schema });
  const server = http.createServer((req, res) => {
    if (stopping) res.setHeader("Connection", "close");
    handle(req, res);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  server.on("error", (err) => {
    logError(`cannot listen on ${config.http.host}:${config.http.port}`, err);
    process.exit(1);
  });
  server.listen(config.http.port, config.http.host, () => {
    logInfo(`listening on ${config.http.host}:${config.http.port}, health at ${config.http.healthPath}`);
  });

  // SIGTERM (systemctl stop/restart): stop accepting, finish the requests in flight, close pools.
  const shutdown = (signal) => {
    if (stopping) return;
    stopping = true;
    logInfo(`${signal}: finishing requests in flight, then exiting`);
    setTimeout(() => {
      logError("shutdown", `requests still open after ${SHUTDOWN_GRACE_MS} ms; exiting anyway`);
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
    server.close(async () => {
      await pool.end().catch((err) => logError("closing the database pool", err));
      closeRedis(redis);
      logInfo("stopped");
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main();
