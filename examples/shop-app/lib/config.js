// Reads the environment the Ansible role writes to /etc/shop/app.env (plus a few optional tuning
// variables). Every problem is reported at once, naming the variable, the bad value and the fix.
"use strict";

const fs = require("fs");
const os = require("os");

/** "host:port,host:port" → [{host, port}]; the port is after the last colon. */
function parseSentinels(text, problems) {
  const sentinels = [];
  const items = text.split(",").map((s) => s.trim()).filter(Boolean);
  for (const item of items) {
    const colon = item.lastIndexOf(":");
    const port = Number(item.slice(colon + 1));
    if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
      problems.push(`REDIS_SENTINELS entries must be host:port, got ${JSON.stringify(item)}`);
    } else {
      sentinels.push({ host: item.slice(0, colon), port });
    }
  }
  if (text.trim() !== "" && items.length === 0) {
    problems.push(`REDIS_SENTINELS must list at least one host:port, got ${JSON.stringify(text)}`);
  }
  return sentinels;
}

/** The CA certificate (PEM) Redis's and the Sentinels' certificates are checked against; unset: plain text. */
function readCa(env, name, problems) {
  const file = (env[name] || "").trim();
  if (file === "") return undefined;
  try {
    const pem = fs.readFileSync(file);
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no PEM certificate in it");
    return pem;
  } catch (e) {
    problems.push(`${name} must name a readable PEM CA certificate, got ${JSON.stringify(file)} (${e.code || e.message})`);
    return undefined;
  }
}

function positiveInt(env, name, fallback, problems) {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    problems.push(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
    return fallback;
  }
  return value;
}

function loadConfig(env = process.env) {
  const problems = [];
  const required = (name, example) => {
    const value = env[name];
    if (value === undefined || value.trim() === "") problems.push(`${name} must be set (e.g. ${example})`);
    return (value || "").trim();
  };

  const databaseUrl = required("DATABASE_URL", "postgresql://shop:secret@127.0.0.1:5000/shop");
  const sentinelsText = required("REDIS_SENTINELS", "redis-nyc1-1:26379,redis-ams3-1:26379");
  const masterName = required("REDIS_SENTINEL_MASTER", "shop");
  const healthPath = (env.HEALTH_PATH || "/healthz").trim();
  if (!healthPath.startsWith("/")) problems.push(`HEALTH_PATH must start with "/", got ${JSON.stringify(healthPath)}`);
  const port = positiveInt(env, "PORT", 8080, problems);
  if (port > 65535) problems.push(`PORT must be at most 65535, got ${port}`);

  const config = {
    databaseUrl,
    redis: {
      sentinels: parseSentinels(sentinelsText, problems),
      masterName,
      // The generated deployment gives the app its own ACL user on Redis and on the Sentinels.
      username: env.REDIS_USERNAME || undefined,
      password: env.REDIS_PASSWORD || undefined,
      sentinelUsername: env.REDIS_SENTINEL_USERNAME || undefined,
      sentinelPassword: env.REDIS_SENTINEL_PASSWORD || undefined,
      // The generated Redis and Sentinels speak TLS only: their certificates are checked against this CA.
      tlsCa: readCa(env, "REDIS_TLS_CA_FILE", problems),
    },
    http: { host: (env.HOST || "0.0.0.0").trim(), port, healthPath },
    // Names this process in health rows, Redis consumer names and order_effects.applied_by.
    instance: (env.WORKER_ID || os.hostname()).trim(),
    worker: {
      // An order still 'new' this long after it was created is fulfilled by the reconciliation.
      reconcileAfterMs: positiveInt(env, "RECONCILE_AFTER_MS", 10_000, problems),
      reconcileEveryMs: positiveInt(env, "RECONCILE_EVERY_MS", 5_000, problems),
      // A job delivered to a worker that has not acknowledged it for this long is taken over.
      claimIdleMs: positiveInt(env, "CLAIM_IDLE_MS", 30_000, problems),
    },
  };
  if (problems.length > 0) {
    const error = new Error(`configuration problems (see /etc/shop/app.env):\n  - ${problems.join("\n  - ")}`);
    error.problems = problems;
    throw error;
  }
  return config;
}

module.exports = { loadConfig };
