// Talking to PostgreSQL from the lab: one-off SQL through psql, and the long-running Python writer
// and prober (psycopg2 comes with Debian's python3; the `pg` npm package is not a dependency).
import { execFile, spawn, type ChildProcess } from "child_process";
import * as path from "path";
import { SUPPORTED_POSTGRES_VERSIONS } from "../../lib/model/catalog";
import type { PgTarget, ProbeSample, WriteOp } from "../backends/types";
import { labScript } from "../proc";

/** Debian's binaries of a PostgreSQL major version. */
export const postgresBinDir = (version: number) => `/usr/lib/postgresql/${version}/bin`;
/** The client programs the lab itself uses (psql, and initdb in tests): the newest version the model supports. */
export const PG_CLIENT_BIN_DIR = postgresBinDir(Math.max(...SUPPORTED_POSTGRES_VERSIONS));

export function dsn(t: PgTarget): string {
  const tls = t.sslRootCert ? ` sslmode=verify-ca sslrootcert=${t.sslRootCert}` : "";
  return `host=${t.host} port=${t.port} user=${t.user} password=${t.password} dbname=${t.database ?? "postgres"}${tls}`;
}

/** libpq's environment for `t`'s TLS settings (psql). */
function tlsEnv(t: PgTarget): Record<string, string> {
  return t.sslRootCert ? { PGSSLMODE: "verify-ca", PGSSLROOTCERT: t.sslRootCert } : {};
}

/** Runs SQL with psql; resolves to the unaligned, tuples-only output lines. */
export function sql(t: PgTarget, query: string, timeoutMs = 10_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(path.join(PG_CLIENT_BIN_DIR, "psql"),
      ["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", t.host, "-p", String(t.port), "-U", t.user, "-d", t.database ?? "postgres", "-c", query],
      { env: { ...process.env, PGPASSWORD: t.password, PGCONNECT_TIMEOUT: "2", ...tlsEnv(t) }, timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`psql ${t.host}:${t.port}: ${stderr.trim() || err.message}`));
        else resolve(stdout.split("\n").filter((l) => l !== ""));
      });
  });
}

export const ORDERS_DDL = `CREATE TABLE IF NOT EXISTS lab_orders (
  id bigint PRIMARY KEY,
  node text NOT NULL DEFAULT host(inet_server_addr()),
  accepted_at double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp()))`;

/** Every order row on a node: id → accepting node's address (as the writer's `node`), epoch seconds. */
export async function readOrders(t: PgTarget): Promise<Map<number, { node: string; at: number }>> {
  const rows = await sql(t, "SELECT id, node, accepted_at FROM lab_orders", 60_000);
  return new Map(rows.map((r) => {
    const [id, node, at] = r.split("|");
    return [Number(id), { node, at: Number(at) }];
  }));
}


/** A helper process whose JSON lines are parsed into `records` as they arrive. */
export class Helper<T> {
  readonly records: T[] = [];
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private stderr = "";

  constructor(mode: "writer" | "probe", config: object, onRecord?: (r: T) => void) {
    // Debian's interpreter explicitly: a python3 without psycopg2 comes first on PATH.
    this.child = spawn("/usr/bin/python3", [labScript("clients/pghelper.py"), mode, JSON.stringify(config)], { stdio: ["pipe", "pipe", "pipe"] });
    let buf = "";
    this.child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const l of lines) {
        const r = JSON.parse(l) as T;
        this.records.push(r);
        onRecord?.(r);
      }
    });
    this.child.stderr!.on("data", (d: Buffer) => { this.stderr += d.toString(); });
    this.exited = new Promise((resolve) => this.child.on("close", () => resolve()));
  }

  /** Closes stdin (the helper's stop signal) and waits for it to finish its current operation. */
  async stop(): Promise<T[]> {
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 15_000);
    await this.exited;
    clearTimeout(timer);
    if (this.child.exitCode !== 0) throw new Error(`pghelper ended with ${this.child.exitCode ?? this.child.signalCode}: ${this.stderr}`);
    return this.records;
  }
}

export function startWriter(target: PgTarget, firstId: number, opts: { intervalMs?: number; opTimeoutMs?: number } = {}, onOp?: (op: WriteOp) => void): Helper<WriteOp> {
  return new Helper<WriteOp>("writer", { dsn: dsn(target), firstId, intervalMs: opts.intervalMs ?? 20, opTimeoutMs: opts.opTimeoutMs ?? 5000 }, onOp);
}

export function startProbe(nodes: Readonly<Record<string, PgTarget>>, intervalMs = 100): Helper<ProbeSample> {
  return new Helper<ProbeSample>("probe", { nodes: Object.fromEntries(Object.entries(nodes).map(([n, t]) => [n, dsn(t)])), intervalMs });
}
