// Redis through Sentinel: ioredis asks the Sentinels for the current primary, follows failovers, and
// fails a command at once while it has no primary instead of queueing it (a request answers 503 or
// the worker backs off; nothing hangs through a failover).
"use strict";

const Redis = require("ioredis");
const { outageLogger } = require("./support");

/** Errors after which the connection points at a server that is no longer (or not yet) the primary. */
const STALE_PRIMARY = /^(READONLY|LOADING|MASTERDOWN)\b/;

function createRedis(redisConfig, connectionName) {
  const client = new Redis({
    sentinels: redisConfig.sentinels,
    name: redisConfig.masterName,
    role: "master",
    ...(redisConfig.username ? { username: redisConfig.username } : {}),
    password: redisConfig.password,
    ...(redisConfig.sentinelUsername ? { sentinelUsername: redisConfig.sentinelUsername } : {}),
    ...(redisConfig.sentinelPassword ? { sentinelPassword: redisConfig.sentinelPassword } : {}),
    // TLS to the Sentinels and to the primary they name, each certificate checked against the CA.
    ...(redisConfig.tlsCa ? { tls: { ca: redisConfig.tlsCa }, sentinelTLS: { ca: redisConfig.tlsCa }, enableTLSForSentinelMode: true } : {}),
    connectionName,
    // Fail fast while disconnected: a command is never parked in an unbounded queue.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    sentinelCommandTimeout: 1_000,
    // A silent socket (a frozen or powered-off primary) is dropped, which makes ioredis ask the
    // Sentinels again; longer than the worker's 1 s blocking read.
    socketTimeout: 5_000,
    // Reconnect forever: 100 ms, 200 ms, … at most 2 s apart.
    retryStrategy: (times) => Math.min(100 * times, 2_000),
    sentinelRetryStrategy: (times) => Math.min(100 * times, 2_000),
    // A demoted primary answers READONLY: reconnect, which asks the Sentinels who is primary now.
    reconnectOnError: (err) => STALE_PRIMARY.test(err.message),
    // Also listen to the Sentinels' +switch-master, so a failover is followed without waiting for an error.
    failoverDetector: true,
  });
  const log = outageLogger(`redis (${connectionName})`);
  client.on("error", (err) => log.error(err));
  client.on("ready", () => log.recovered(`connected to ${describePrimary(client)}`));
  // ioredis gives up for good ("end") when a disconnect lands while it is asking the Sentinels for the
  // primary (its connector then rejects with "Connection is closed."; ioredis issue #1683). The
  // rehearsal saw both ams3 app hosts stuck so after a Redis failover, answering 503 until restarted.
  // Unless the app itself is closing the client, connect again.
  client.on("end", () => {
    if (closing.has(client)) return;
    log.error(new Error("the client gave up (ended); connecting again"));
    setTimeout(() => {
      if (!closing.has(client) && client.status === "end") client.connect().catch(() => {});
    }, 500);
  });
  return client;
}

const closing = new WeakSet();

/** Disconnects for good (shutdown): the client stays ended. */
function closeRedis(client) {
  closing.add(client);
  client.disconnect();
}

/** The primary this client is connected to right now, as host:port (for health output and logs). */
function describePrimary(client) {
  const stream = client.stream;
  return stream && stream.remoteAddress ? `${stream.remoteAddress}:${stream.remotePort}` : "unknown";
}

module.exports = { closeRedis, createRedis, describePrimary };
