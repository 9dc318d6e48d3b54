// Orders in PostgreSQL: idempotent creation (one row per Idempotency-Key) and the fulfilment effect,
// applied exactly once however often its job is delivered.
"use strict";

const { inTransaction, withClient } = require("./db");

const COLUMNS = "id, idempotency_key, item, quantity, status, db_node, created_at, fulfilled_at";

/** A row → the JSON the API returns (bigserial ids stay far below 2^53, so a number is safe). */
function toOrder(row) {
  return {
    id: Number(row.id),
    idempotency_key: row.idempotency_key,
    item: row.item,
    quantity: row.quantity,
    status: row.status,
    db_node: row.db_node,
    created_at: row.created_at.toISOString(),
    fulfilled_at: row.fulfilled_at ? row.fulfilled_at.toISOString() : null,
  };
}

/**
 * Inserts the order unless one with this key exists. Returns {order, created}; `created` false is a
 * replay, and `order` is the row stored by the first request. Resolves only after the commit (the
 * INSERT runs in its own transaction), so a response never reports an order that could vanish.
 */
function createOrder(pool, { idempotencyKey, item, quantity }) {
  return withClient(pool, async (client) => {
    const inserted = await client.query(
      `INSERT INTO orders (idempotency_key, item, quantity) VALUES ($1, $2, $3)
       ON CONFLICT (idempotency_key) DO NOTHING RETURNING ${COLUMNS}`,
      [idempotencyKey, item, quantity],
    );
    if (inserted.rows.length === 1) return { order: toOrder(inserted.rows[0]), created: true };
    const existing = await client.query(`SELECT ${COLUMNS} FROM orders WHERE idempotency_key = $1`, [idempotencyKey]);
    if (existing.rows.length !== 1) throw new Error(`order with idempotency key ${idempotencyKey} conflicted but cannot be read`);
    return { order: toOrder(existing.rows[0]), created: false };
  });
}

async function getOrder(pool, id) {
  const result = await withClient(pool, (client) => client.query(`SELECT ${COLUMNS} FROM orders WHERE id = $1`, [id]));
  return result.rows.length === 1 ? toOrder(result.rows[0]) : null;
}

/**
 * The fulfilment effect, exactly once: in one transaction, record the effect under the order's
 * idempotency key and change the order only if that record is new. A second delivery of the same job
 * (a crash between commit and acknowledgement, a duplicate enqueue, the reconciliation racing a job)
 * finds the record and changes nothing. Returns "applied", "duplicate" or "unknown-order" (e.g. the
 * order was lost with an asynchronous replica's failover, or the id was reused afterwards).
 */
function applyFulfilment(pool, { orderId, idempotencyKey }, appliedBy) {
  return inTransaction(pool, async (client) => {
    const order = await client.query("SELECT 1 FROM orders WHERE id = $1 AND idempotency_key = $2", [orderId, idempotencyKey]);
    if (order.rows.length === 0) return "unknown-order";
    const effect = await client.query(
      `INSERT INTO order_effects (idempotency_key, order_id, applied_by) VALUES ($1, $2, $3)
       ON CONFLICT (idempotency_key) DO NOTHING RETURNING order_id`,
      [idempotencyKey, orderId, appliedBy],
    );
    if (effect.rows.length === 0) return "duplicate";
    await client.query("UPDATE orders SET status = 'fulfilled', fulfilled_at = now() WHERE id = $1", [orderId]);
    return "applied";
  });
}

/** Orders still 'new' well after creation: their job was never enqueued, or was lost with Redis. */
async function strandedOrders(pool, olderThanMs, limit = 100) {
  const result = await withClient(pool, (client) => client.query(
    `SELECT id, idempotency_key FROM orders
     WHERE status = 'new' AND created_at < now() - make_interval(secs => $1::float8 / 1000)
     ORDER BY created_at LIMIT $2`,
    [olderThanMs, limit],
  ));
  return result.rows.map((r) => ({ orderId: r.id, idempotencyKey: r.idempotency_key }));
}

module.exports = { createOrder, getOrder, applyFulfilment, strandedOrders };
