// End to end: boot the example topology's rendered configuration for real, SIGKILL the primary host
// (Patroni and PostgreSQL) under a writer, check nothing acknowledged is lost and there was never a
// second primary, then tear down and check nothing the lab started is left running.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { requireDebianPackages } from "../support/debian";
import { Lab } from "../../lab/backends/loopback/lab";
import { DRILLS } from "../../lab/drills/registry";
import type { DrillResult } from "../../lab/drills/types";
import { isAlive } from "../../lab/proc";

describe("primary-loss drill on the example topology (balanced)", () => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), "lab-e2e-"));
  const root = path.join(parent, "lab");
  const lines: string[] = [];
  let lab: Lab | undefined;

  beforeAll(async () => {
    requireDebianPackages(["postgresql-15", "patroni", "etcd-server", "etcd-client", "haproxy", "redis-server", "redis-sentinel", "python3-psycopg2"]);
    fs.chmodSync(parent, 0o755); // PostgreSQL runs as postgres and must reach the lab directory
    // 127.0.6.x: clear of a developer's `npm run lab -- up` on 127.0.0.x.
    lab = await Lab.up({ topologyFile: path.resolve("examples/topology.yaml"), preset: "balanced", root, net: "127.0.6" }, (l) => lines.push(l));
  }, 200_000);

  afterAll(async () => {
    // Also after a failed boot (lab still null): state.json lists what was started.
    if (Lab.exists(root)) await Lab.open(root).teardown();
    fs.rmSync(parent, { recursive: true, force: true });
  }, 60_000);

  it("promotes a replica with no acknowledged write lost and never two primaries", async () => {
    expect(lines.at(-1)).toMatch(/lab is ready/);
    const r: DrillResult = await DRILLS["primary-loss"].run({ backend: lab!, log: (l) => lines.push(l), random: Math.random });
    expect(r.violations).toEqual([]);
    expect(r.notes.filter((n) => n.startsWith("timed out"))).toEqual([]);
    expect(r.ackedWrites).toBeGreaterThan(100);
    expect(r.lostAckedWrites).toBe(0);
    expect(r.maxConcurrentPrimaries).toBe(1);
    expect(r.newPrimary).not.toBe(r.oldPrimary);
    expect(r.rtoSeconds).not.toBeNull();
    expect(r.promotedAfterSeconds).not.toBeNull();
    // Promotion waits for the leader key to expire: never before ttl - loop_wait (10 - 2 s).
    expect(r.promotedAfterSeconds!).toBeGreaterThan(8);
    // The old primary's host lost power as a droplet does, was powered on again and rejoined (the
    // drill waits for full health). A stalled leader's watchdog reset is patroni-freeze's to show.
    expect(r.notes).toContain(`powered off ${r.oldPrimary}`);
    expect(r.notes).toContain(`powered ${r.oldPrimary} on again`);
    expect(r.healed).toBe(true);
  }, 180_000);

  it("down stops every process the lab started and removes its directory", async () => {
    const started = lab!.liveProcs();
    expect(started.length).toBeGreaterThan(10);
    await lab!.teardown();
    expect(started.filter((x) => isAlive(x.proc)).map((x) => x.what)).toEqual([]);
    expect(fs.existsSync(root)).toBe(false);
  }, 60_000);
});
