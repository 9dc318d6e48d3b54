// A throwaway standalone PostgreSQL 15 for the writer/checker tests: initdb as postgres, one
// loopback address, its own socket dir, started and killed by PID through the lab's supervisor.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PORTS } from "../../lib/model";
import type { PgTarget } from "../../lab/backends/types";
import { ORDERS_DDL, PG_CLIENT_BIN_DIR, sql } from "../../lab/clients/pg";
import { childrenOf, isAlive, killAll, start, waitFor, type Proc } from "../../lab/proc";

const asPostgres = (cmd: string, args: string[]) =>
  execFileSync("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", cmd, ...args], { stdio: "pipe" });

export class PgServer {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-pg-"));
  readonly target: PgTarget;
  private proc: Proc | null = null;

  constructor(readonly address: string) {
    this.target = { host: address, port: PORTS.postgres, user: "postgres", password: "lab-test" };
    fs.chmodSync(this.dir, 0o755);
    execFileSync("chown", ["postgres:postgres", this.dir]);
    fs.writeFileSync(path.join(this.dir, "pw"), "lab-test\n");
    asPostgres(path.join(PG_CLIENT_BIN_DIR, "initdb"), ["-D", path.join(this.dir, "data"), "-U", "postgres", "--pwfile", path.join(this.dir, "pw"), "--auth=scram-sha-256"]);
    fs.appendFileSync(path.join(this.dir, "data", "pg_hba.conf"), "host all all 127.0.0.0/8 scram-sha-256\n");
  }

  async start(): Promise<void> {
    this.proc = start({
      cmd: path.join(PG_CLIENT_BIN_DIR, "postgres"), user: "postgres", logFile: path.join(this.dir, "postgres.log"),
      args: ["-D", path.join(this.dir, "data"), "-c", `listen_addresses=${this.address}`, "-c", `unix_socket_directories=${this.dir}`],
    });
    await waitFor("PostgreSQL to accept connections", 30_000, async () => (await sql(this.target, "SELECT 1"))[0] === "1", 100);
    await sql(this.target, ORDERS_DDL);
  }

  /** SIGKILL the postmaster and its backends, as a host loss would. */
  async kill(): Promise<void> {
    await killAll([this.proc!, ...childrenOf(this.proc!)]);
  }

  running(): boolean {
    return this.proc !== null && isAlive(this.proc);
  }

  async destroy(): Promise<void> {
    if (this.running()) await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
