// The fulfilment queue: a Redis Stream with one consumer group. A job stays in the group's pending
// list until the worker that took it acknowledges it, so a worker that dies mid-job leaves it behind
// for another (XAUTOCLAIM) instead of losing it. Delivery is at-least-once; the database makes the
// effect exactly-once (see orders.js).
"use strict";

const STREAM = "shop:jobs";
const GROUP = "shop-workers";
// Bounds memory if every worker is down for long; a job trimmed away is still found by the
// reconciliation, since its order stays 'new' in PostgreSQL.
const MAX_LENGTH = 100_000;

function enqueueFulfilment(redis, order) {
  return redis.xadd(STREAM, "MAXLEN", "~", MAX_LENGTH, "*", "order_id", String(order.id), "idempotency_key", order.idempotency_key);
}

/** Creates the group (and the stream) unless it exists; "0" so jobs added before it are read too. */
async function ensureGroup(redis) {
  try {
    await redis.xgroup("CREATE", STREAM, GROUP, "0", "MKSTREAM");
  } catch (err) {
    if (!String(err.message).startsWith("BUSYGROUP")) throw err;
  }
}

/** A stream entry → {id, job}; job is null when the entry was deleted or is not a fulfilment job. */
function toJob([id, fields]) {
  if (!Array.isArray(fields)) return { id, job: null };
  const f = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
  const valid = /^[1-9][0-9]{0,17}$/.test(f.order_id || "") && typeof f.idempotency_key === "string" && f.idempotency_key !== "";
  return { id, job: valid ? { orderId: f.order_id, idempotencyKey: f.idempotency_key } : null };
}

/**
 * Jobs for `consumer`: with `pending`, the ones it was given before and never acknowledged (after a
 * restart or an error); otherwise new ones, blocking up to `blockMs`.
 */
async function readJobs(redis, consumer, { pending, blockMs, count = 10 }) {
  const args = ["GROUP", GROUP, consumer, "COUNT", count];
  if (!pending) args.push("BLOCK", blockMs);
  args.push("STREAMS", STREAM, pending ? "0" : ">");
  const reply = await redis.xreadgroup(...args);
  return reply && reply[0] ? reply[0][1].map(toJob) : [];
}

/** Done with a job: acknowledge it and delete it, so the stream holds only work still to do. */
async function finishJob(redis, id) {
  const results = await redis.multi().xack(STREAM, GROUP, id).xdel(STREAM, id).exec();
  const failed = (results || []).find(([err]) => err);
  if (!results || failed) throw failed ? failed[0] : new Error(`acknowledging job ${id} was aborted`);
}

/** Takes over jobs that another (probably dead) worker has held for more than `minIdleMs`. */
async function claimStaleJobs(redis, consumer, minIdleMs, count = 100) {
  const [, entries] = await redis.xautoclaim(STREAM, GROUP, consumer, minIdleMs, "0-0", "COUNT", count);
  return entries.map(toJob);
}

module.exports = { STREAM, GROUP, enqueueFulfilment, ensureGroup, readJobs, finishJob, claimStaleJobs };
