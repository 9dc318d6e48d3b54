// The lab's watchdog stand-in, fed by Patroni's own `testing` watchdog driver (Debian's patroni
// package): a starved watchdog resets its host (kills what the lab state lists for it), a magic close
// disarms it, a paused host does not count the pause, and a recycled PID is never hit.
import { spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { requireDebianPackages } from "../support/debian";
import { isAlive, killAll, labScript, procOf, signal, sleep, start, waitFor, type Proc } from "../../lab/proc";

// Drives TestingWatchdogDevice the way Patroni's Watchdog does: open, set the timeout, keepalive every
// `every` s; "close" at the end writes the magic "V" and closes, "exit" just exits (as a killed Patroni).
const DRIVER_PY = `
import sys, time
from patroni.watchdog.linux import TestingWatchdogDevice
device, timeout, every, count, end = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
d = TestingWatchdogDevice(device)
d.open()
d.set_timeout(timeout)
for _ in range(count):
    d.keepalive()
    time.sleep(every)
if end == "close":
    d.close()
print("done", flush=True)
`;

interface Status { armed: boolean; timeoutSeconds: number; arms: number; resets: Array<{ at: number; killed: number[] }> }

describe("watchdog stand-in (with Patroni's testing driver)", () => {
  let dir: string;
  let standIn: Proc;
  let victim: Proc;
  const started: Proc[] = [];
  const status = (): Status => JSON.parse(fs.readFileSync(path.join(dir, "status.json"), "utf8"));

  const driver = (timeout: number, every: number, count: number, end: "close" | "exit"): ChildProcess =>
    spawn("/usr/bin/python3", ["-c", DRIVER_PY, path.join(dir, "watchdog"), String(timeout), String(every), String(count), end], { stdio: "ignore" });
  const finished = (c: ChildProcess) => new Promise<number | null>((r) => c.on("exit", (code) => r(code)));

  beforeAll(() => {
    requireDebianPackages(["patroni"]);
  });

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "shoplab-watchdog-"));
    victim = start({ cmd: "/bin/sleep", args: ["600"], logFile: path.join(dir, "victim.out") });
    // The lab's state.json: the stand-in resets only what is listed for its host, with a matching start time.
    const bystander = start({ cmd: "/bin/sleep", args: ["600"], logFile: path.join(dir, "bystander.out") });
    started.push(victim, bystander);
    fs.writeFileSync(path.join(dir, "state.json"), JSON.stringify({ procs: {
      "db-1/patroni": victim,
      "db-2/patroni": bystander,
      "db-1/etcd": { pid: bystander.pid, startTime: "1" }, // a recycled PID: not ours any more
    } }));
    standIn = start({
      cmd: "/usr/bin/python3",
      args: [labScript("stand-ins/watchdog-stand-in.py"), "--device", path.join(dir, "watchdog"), "--host", "db-1", "--state", path.join(dir, "state.json"), "--status", path.join(dir, "status.json")],
      logFile: path.join(dir, "stand-in.out"),
    });
    started.push(standIn);
    await waitFor("the stand-in's status", 5000, () => fs.existsSync(path.join(dir, "status.json")));
  });

  afterEach(async () => {
    await killAll(started.filter(isAlive));
    started.length = 0;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("resets the host when the process that armed it dies without the magic close", async () => {
    expect(await finished(driver(1, 0.2, 5, "exit"))).toBe(0);
    const t0 = Date.now();
    await waitFor("the reset", 5000, () => !isAlive(victim));
    const st = status();
    expect(st.timeoutSeconds).toBe(1);
    expect(st.armed).toBe(false);
    expect(st.resets).toHaveLength(1);
    expect(st.resets[0].killed).toEqual([victim.pid]);
    // Within the timeout after the last keepalive, not at once and not much later.
    expect(Date.now() - t0).toBeLessThan(2500);
    // The other host's process and the recycled PID's current owner are untouched.
    expect(isAlive(started[1])).toBe(true);
  }, 20_000);

  it("stays quiet after Patroni disables it (magic close)", async () => {
    expect(await finished(driver(1, 0.2, 5, "close"))).toBe(0);
    await sleep(2500);
    expect(isAlive(victim)).toBe(true);
    expect(status()).toMatchObject({ armed: false, arms: 1, resets: [] });
  }, 20_000);

  it("does not count time the whole host spent paused, but resets once it starves after it", async () => {
    const feeding = driver(2, 0.3, 1000, "exit");
    await waitFor("the stand-in armed", 5000, () => status().armed);
    const feeder = procOf(feeding.pid!)!;
    // The host paused as a whole (the lab's partition stand-in): stand-in and Patroni stop together.
    signal(standIn, "SIGSTOP");
    signal(feeder, "SIGSTOP");
    await sleep(3500);
    // The stand-in runs again first: the paused time must not count against the keepalive due.
    signal(standIn, "SIGCONT");
    await sleep(500);
    signal(feeder, "SIGCONT");
    await sleep(1500);
    expect(isAlive(victim)).toBe(true);
    expect(status().resets).toHaveLength(0);
    // Patroni alone stalls (the host keeps running): reset within the 2 s timeout.
    signal(feeder, "SIGSTOP");
    await waitFor("the reset", 5000, () => !isAlive(victim));
    expect(status().resets).toHaveLength(1);
    signal(feeder, "SIGKILL");
  }, 30_000);
});
