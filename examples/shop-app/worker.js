// The shop's background worker (systemd unit shop-worker): takes fulfilment jobs from the Redis Stream
// and applies each exactly once in PostgreSQL, then acknowledges it. A second loop fulfils orders
// whose job never arrived and takes over jobs a dead worker held. Every error is retried with
// backoff: a failover of either database pauses the work, it never ends the process.
"use strict";

const { waitForSchema } = require("./lib/db");
const { startClients } = require("./lib/start");
const { closeRedis } = require("./lib/redis");
const { applyFulfilment, strandedOrders } = require("./lib/orders");
const { claimStaleJobs, ensureGroup, finishJob, readJobs } = require("./lib/jobs");
const { Backoff, logError, logInfo, outageLogger, sleep } = require("./lib/support");

// Short enough that SIGTERM is noticed within a second; below the Redis commandTimeout (2 s).
const BLOCK_MS = 1_000;
const SHUTDOWN_GRACE_MS = 10_000;

function main() {
  const { config, pool, redis } = startClients("shop-worker", 3);
  const consumer = config.instance;

  let stopping = false;
  let wake;
  const stopped = new Promise((resolve) => { wake = resolve; });
  const pause = (ms) => Promise.race([sleep(ms), stopped]);

  /** Applies one job (exactly once, in PostgreSQL), and only then removes it from the queue. */
  async function handle({ id, job }) {
    if (!job) {
      logError(`job ${id}`, "not a fulfilment job, or deleted; dropping it");
    } else {
      const outcome = await applyFulfilment(pool, job, consumer);
      if (outcome === "applied") logInfo(`order ${job.orderId} fulfilled (job ${id})`);
      else if (outcome === "duplicate") logInfo(`order ${job.orderId} was already fulfilled; job ${id} changed nothing`);
      else logError(`job ${id}`, `order ${job.orderId} with key ${job.idempotencyKey} does not exist; dropping the job`);
    }
    // A crash here, after the commit, redelivers the job later: it is then a "duplicate".
    await finishJob(redis, id);
  }

  async function jobLoop() {
    const backoff = new Backoff(200, 2_000);
    const log = outageLogger("jobs");
    // First the jobs this consumer took and did not acknowledge (before a restart or an error).
    let pending = true;
    let groupReady = false;
    while (!stopping) {
      try {
        if (!groupReady) await ensureGroup(redis);
        groupReady = true;
        const entries = await readJobs(redis, consumer, { pending, blockMs: BLOCK_MS });
        if (pending && entries.length === 0) pending = false;
        for (const entry of entries) {
          if (stopping) break;
          await handle(entry);
        }
        backoff.reset();
        log.recovered("taking jobs again");
      } catch (err) {
        log.error(err);
        // The group may have been lost with a Redis failover (NOGROUP); pending jobs are retried.
        pending = true;
        groupReady = false;
        await pause(backoff.next());
      }
    }
  }

  async function reconcileLoop() {
    const dbLog = outageLogger("reconciliation");
    const redisLog = outageLogger("taking over stale jobs");
    while (!stopping) {
      await pause(config.worker.reconcileEveryMs);
      if (stopping) break;
      // Orders committed whose job was never enqueued (Redis down at the time) or lost with Redis.
      try {
        for (const job of await strandedOrders(pool, config.worker.reconcileAfterMs)) {
          if (stopping) break;
          if (await applyFulfilment(pool, job, consumer) === "applied") {
            logInfo(`order ${job.orderId} fulfilled by the reconciliation (no job had done it)`);
          }
        }
        dbLog.recovered("running again");
      } catch (err) {
        dbLog.error(err);
      }
      // Jobs a worker took and never acknowledged: it died, or lost its connection mid-job.
      try {
        for (const entry of await claimStaleJobs(redis, consumer, config.worker.claimIdleMs)) {
          if (stopping) break;
          await handle(entry);
        }
        redisLog.recovered("running again");
      } catch (err) {
        redisLog.error(err);
      }
    }
  }

  async function run() {
    if (!(await waitForSchema(pool, { stopped: () => stopping, onError: () => {} }))) return;
    logInfo(`taking jobs as consumer ${consumer}`);
    await Promise.all([jobLoop(), reconcileLoop()]);
  }

  const running = run();

  // SIGTERM (systemctl stop/restart): finish the job in hand, acknowledge it, close, exit.
  const shutdown = async (signal) => {
    if (stopping) return;
    stopping = true;
    wake();
    logInfo(`${signal}: finishing the job in hand, then exiting`);
    setTimeout(() => {
      logError("shutdown", `still busy after ${SHUTDOWN_GRACE_MS} ms; exiting anyway (an unacknowledged job is redelivered)`);
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
    await running;
    await pool.end().catch((err) => logError("closing the database pool", err));
    closeRedis(redis);
    logInfo("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main();
