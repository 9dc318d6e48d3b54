// Small helpers shared by the web process and the worker: one-line logs, bounded waits, backoff.
"use strict";

const PROGRAM = require("path").basename(process.argv[1] || "shop-app", ".js");

/** One line per event; errors go to stderr (journald keeps both, with timestamps). */
function logInfo(message) {
  process.stdout.write(`${PROGRAM}: ${message}\n`);
}

function logError(context, err) {
  const text = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${PROGRAM}: ${context}: ${text.replace(/\s+/g, " ")}\n`);
}

const OUTAGE_REMINDER_MS = 30_000;

/**
 * For errors that repeat through an outage (a reconnect loop): the first one is logged, then one
 * reminder every 30 s with the count, and one line when it works again.
 */
function outageLogger(context) {
  let failures = 0;
  let lastLogged = 0;
  return {
    error(err) {
      failures += 1;
      if (failures === 1 || Date.now() - lastLogged >= OUTAGE_REMINDER_MS) {
        logError(failures === 1 ? context : `${context} (still failing, ${failures} errors)`, err);
        lastLogged = Date.now();
      }
    },
    recovered(message) {
      if (failures > 0) logInfo(`${context}: ${message} after ${failures} error(s)`);
      failures = 0;
    },
  };
}

class TimeoutError extends Error {}

/** Rejects after `ms` if `promise` has not settled; the work itself goes on (its own timeouts end it). */
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Exponential backoff with jitter: retry quickly after a blip, settle at `maxMs` during an outage. */
class Backoff {
  constructor(minMs = 200, maxMs = 5000) {
    this.minMs = minMs;
    this.maxMs = maxMs;
    this.attempt = 0;
  }

  next() {
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 20);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  reset() {
    this.attempt = 0;
  }
}

module.exports = { logInfo, logError, outageLogger, withTimeout, sleep, Backoff };
