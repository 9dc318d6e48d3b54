"use strict";
// What the web process and the worker both do first: read the environment (exit 1 naming what is
// missing) and open their PostgreSQL pool and Sentinel-aware Redis client under one client name.
const { loadConfig } = require("./config");
const { createPool } = require("./db");
const { createRedis } = require("./redis");
const { logError } = require("./support");

function startClients(role, poolMax) {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    logError("cannot start", err);
    process.exit(1);
  }
  const name = `${role}@${config.instance}`;
  return { config, pool: createPool(config.databaseUrl, { max: poolMax, applicationName: name }), redis: createRedis(config.redis, name) };
}

module.exports = { startClients };
