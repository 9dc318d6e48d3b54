// What the shop-app suite runs the example app against, all real and on 127.0.77.x (no other suite
// uses those addresses): PostgreSQL 15 (the lab tests' PgServer) with the `shop` owner and database the
// playbook creates, a Redis primary and replica with one Sentinel, and the app's own processes.
import { execFile, spawn, spawnSync, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { Client } from "pg";
import { PORTS } from "../../lib/model";
import { aclFileLines, aclPasswordHash, redisAuthLines, sentinelAuthLines, type RedisUser } from "../../playbooks-gen/views/redis-acl";
import { DEBIAN_PROGRAMS } from "../support/debian";
import { killAll, start, waitFor, type Proc } from "../../lab/proc";

export const NET = "127.0.77";
export const MASTER_NAME = "shop";
/** Each Redis user's password here; the ACL files are the generated ones (views/redis-acl.ts), so the
 * app runs with exactly the commands its user is given in a deployment. */
export const redisPassword = (u: Pick<RedisUser, "name">) => `redis-test-${u.name}`;
/** The suite's own commands (XADD of a duplicate job, INFO, SENTINEL FAILOVER) run as admin. */
export const ADMIN = { user: "admin", password: redisPassword({ name: "admin" }) };
export const SENTINEL = { host: `${NET}.4`, port: PORTS.sentinel };

/** Fails (never installs) with the command that would install what is missing. */
export function requirePrograms(packages: readonly string[]): void {
  const missing = packages.filter((p) => spawnSync("test", ["-e", DEBIAN_PROGRAMS[p]]).status !== 0);
  if (missing.length > 0) {
    throw new Error(`The shop-app suite needs Debian packages that are not installed: ${missing.join(", ")}.\nRun as root: apt-get update && apt-get install -y ${missing.join(" ")}`);
  }
}

/** One query on a fresh connection (the server may have been restarted since the last one). */
export async function query<T = Record<string, unknown>>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2_000, query_timeout: 5_000 });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return (await client.query(text, params)).rows as T[];
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** redis-cli against one server or Sentinel; resolves to its raw output. */
export function redisCli(host: string, port: number, args: readonly string[], as: { user: string; password: string } | null = ADMIN): Promise<string> {
  const auth = as ? ["--user", as.user, "--pass", as.password, "--no-auth-warning"] : [];
  return new Promise((resolve, reject) => {
    execFile("redis-cli", ["-h", host, "-p", String(port), ...auth, ...args], { timeout: 5_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.join(" ")} on ${host}:${port}: ${stderr.trim() || err.message}`));
      else resolve(stdout.trim());
    });
  });
}

/** A redis-server (primary, or replica of `replicaOf`) or a redis-sentinel with its own directory. */
export class RedisProcess {
  private proc: Proc | null = null;
  readonly dir: string;

  constructor(root: string, readonly name: string, readonly host: string, readonly port: number, config: string[], private readonly sentinel = false) {
    this.dir = path.join(root, name);
    fs.mkdirSync(this.dir, { recursive: true });
    const acl = path.join(this.dir, "users.acl");
    fs.writeFileSync(acl, `${aclFileLines(sentinel ? "sentinel" : "redis", (u) => aclPasswordHash(redisPassword(u))).join("\n")}\n`);
    config = [`aclfile ${acl}`, ...config];
    // Written once: Sentinel (and Redis after a failover, through CONFIG REWRITE) rewrite it.
    fs.writeFileSync(this.configFile, [`bind ${host}`, `port ${port}`, "daemonize no", `dir ${this.dir}`, ...config, ""].join("\n"));
  }

  static server(root: string, name: string, host: string, replicaOf?: string): RedisProcess {
    return new RedisProcess(root, name, host, PORTS.redis, [
      "appendonly yes", ...redisAuthLines(redisPassword), `replica-announce-ip ${host}`,
      ...(replicaOf ? [`replicaof ${replicaOf} ${PORTS.redis}`] : []),
    ]);
  }

  static sentinel(root: string, primary: string): RedisProcess {
    // down-after is long: stopping the primary in a test is an outage, not a failover. Failovers in
    // the suite are asked for (SENTINEL FAILOVER), which does not wait for it.
    return new RedisProcess(root, "sentinel", SENTINEL.host, SENTINEL.port, [
      `sentinel monitor ${MASTER_NAME} ${primary} ${PORTS.redis} 1`, ...sentinelAuthLines(MASTER_NAME, redisPassword),
      `sentinel down-after-milliseconds ${MASTER_NAME} 60000`, `sentinel failover-timeout ${MASTER_NAME} 10000`,
    ], true);
  }

  get configFile(): string {
    return path.join(this.dir, this.sentinel ? "sentinel.conf" : "redis.conf");
  }

  async start(): Promise<void> {
    this.proc = start({ cmd: this.sentinel ? "/usr/bin/redis-sentinel" : "/usr/bin/redis-server", args: [this.configFile], logFile: path.join(this.dir, "log") });
    await waitFor(`${this.name} to answer PING`, 15_000, async () => (await redisCli(this.host, this.port, ["PING"])) === "PONG");
  }

  async kill(): Promise<void> {
    if (this.proc) await killAll([this.proc]);
    this.proc = null;
  }
}

export interface Reply {
  readonly status: number;
  readonly body: any;
  readonly ms: number;
}

/** One HTTP request on a new connection; rejects only if no answer came (refused, or 10 s passed). */
export function request(address: { host: string; port: number }, method: string, urlPath: string, opts: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
  const payload = opts.body === undefined ? undefined : typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ ...address, method, path: urlPath, agent: false, headers: { "Content-Type": "application/json", ...opts.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // Left as text: the assertion on it shows what came back.
        }
        resolve({ status: res.statusCode ?? 0, body, ms: Date.now() - started });
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${urlPath}: no answer within 10 s`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** The app's server.js or worker.js as its systemd unit runs it: its env, and a log file. */
export class AppProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(readonly script: string, env: Record<string, string>, readonly logFile: string) {
    const out = fs.openSync(logFile, "a");
    this.child = spawn(process.execPath, [script], { cwd: path.dirname(script), env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdio: ["ignore", out, out] });
    fs.closeSync(out);
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  log(): string {
    return fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, "utf8") : "";
  }

  /** Signals it and waits (bounded) for the exit; resolves to the exit code. */
  async stop(signal: NodeJS.Signals, withinMs: number): Promise<number | null> {
    if (this.running()) this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${path.basename(this.script)} still running ${withinMs} ms after ${signal}`)), withinMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Cleanup: SIGKILL if it is still running. */
  async kill(): Promise<void> {
    if (this.running()) await this.stop("SIGKILL", 10_000);
  }
}
