// The lab WAN with real namespaces, TUN devices, forwarder and TCP servers: delay between regions,
// none from the root namespace or inside a region, partitions that heal, throughput, and a teardown
// that leaves nothing behind. Addresses 127.0.90.x–127.0.99.x belong to this suite only.
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { requireDebianPackages } from "../support/debian";
import { isAlive, start, waitFor, type Proc } from "../../lab/proc";
import { WanNetwork } from "../../lab/net/wan";

const DELAY = 20;
const PORT = 7707;

// Echo server on every address given; serves each connection in a thread.
const ECHO_PY = `
import socket, sys, threading
def serve(c):
    with c:
        while True:
            d = c.recv(1 << 20)
            if not d: return
            c.sendall(d)
def listen(addr):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, ${PORT})); s.listen(64)
    while True:
        c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
ts = [threading.Thread(target=listen, args=(a,), daemon=True) for a in sys.argv[1:]]
[t.start() for t in ts]; [t.join() for t in ts]
`;

// Connects, then times N one-byte round trips (or echoes MB megabytes); one JSON line out.
const PROBE_PY = `
import json, socket, sys, threading, time
host, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.monotonic()
try:
    s = socket.create_connection((host, ${PORT}), timeout=1.5)
except OSError as e:
    print(json.dumps({"error": str(e)})); sys.exit(0)
out = {"connectMs": (time.monotonic() - t0) * 1000, "local": s.getsockname()[0]}
s.settimeout(20)
if mode == "rtt":
    out["rttMs"] = []
    for _ in range(n):
        t = time.monotonic(); s.sendall(b"x"); s.recv(1); out["rttMs"].append((time.monotonic() - t) * 1000)
else:
    total, got = n << 20, [0]
    def rd():
        while got[0] < total:
            d = s.recv(1 << 20)
            if not d: break
            got[0] += len(d)
    t = time.monotonic(); r = threading.Thread(target=rd); r.start()
    chunk = b"x" * (1 << 20)
    for _ in range(n): s.sendall(chunk)
    r.join(); out["seconds"] = time.monotonic() - t; out["bytes"] = got[0]
print(json.dumps(out))
`;

interface Probe { error?: string; connectMs: number; local: string; rttMs: number[]; seconds: number; bytes: number }

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

let dir: string;

/** Runs the probe in a region's namespace (or the root one with an empty prefix). */
function probe(prefix: string[], host: string, mode: "rtt" | "stream", n: number): Promise<Probe> {
  const argv = [...prefix, "/usr/bin/python3", path.join(dir, "probe.py"), host, mode, String(n)];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out) as Probe) : reject(new Error(`probe exited ${code}: ${err}`))));
  });
}

/** Round trips from this (root-namespace) process over one connection, plus whether it connects at all. */
function rootRtt(host: string, n: number, timeoutMs = 1500): Promise<number[] | "timeout"> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port: PORT });
    const timer = setTimeout(() => { s.destroy(); resolve("timeout"); }, timeoutMs);
    const rtts: number[] = [];
    let t = 0;
    const ping = () => { t = performance.now(); s.write("x"); };
    s.on("connect", () => { clearTimeout(timer); ping(); });
    s.on("data", () => {
      rtts.push(performance.now() - t);
      if (rtts.length < n) ping(); else { s.end(); resolve(rtts); }
    });
    s.on("error", (e) => { clearTimeout(timer); reject(e); });
  });
}

const netnsList = () => execFileSync("/usr/sbin/ip", ["netns", "list"], { encoding: "utf8" });

describe("lab WAN (namespaces + TUN forwarder)", () => {
  let wan: WanNetwork;
  let echo: Proc;

  beforeAll(async () => {
    requireDebianPackages(["iproute2"]);
    const why = await WanNetwork.unavailable();
    if (why) throw new Error(why);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "wan-test-"));
    fs.writeFileSync(path.join(dir, "echo.py"), ECHO_PY);
    fs.writeFileSync(path.join(dir, "probe.py"), PROBE_PY);
    await WanNetwork.cleanup("wt1");
    wan = await WanNetwork.create({
      id: "wt1",
      regions: { nyc1: ["127.0.90.2", "127.0.90.3"], ams3: ["127.0.91.2", "127.0.91.3"] },
      clientAddress: "127.0.99.1",
      oneWayDelayMs: DELAY,
      logDir: dir,
    });
    const prefix = wan.execPrefix("ams3");
    echo = start({ cmd: prefix[0], args: [...prefix.slice(1), "/usr/bin/python3", path.join(dir, "echo.py"), "127.0.91.2", "127.0.91.3"], logFile: path.join(dir, "echo.log") });
    await waitFor("the echo server", 10_000, async () => Array.isArray(await rootRtt("127.0.91.2", 1).catch(() => null)));
  }, 30_000);

  afterAll(async () => {
    await wan?.destroy();
  });

  it("runs the program itself in the region's namespace (no lingering nsenter parent)", () => {
    expect(fs.readFileSync(`/proc/${echo.pid}/cmdline`, "utf8")).toContain("echo.py");
    const nsInode = fs.statSync(`/run/netns/${wan.netns("ams3")}`).ino;
    expect(fs.statSync(`/proc/${echo.pid}/ns/net`).ino).toBe(nsInode);
    // The root namespace keeps its own loopback: 127.0.0.1 and unrelated 127.x addresses stay local.
    expect(execFileSync("/usr/sbin/ip", ["route", "get", "127.0.0.1"], { encoding: "utf8" })).toMatch(/^local 127\.0\.0\.1 dev lo/);
    expect(execFileSync("/usr/sbin/ip", ["route", "get", "127.0.98.7"], { encoding: "utf8" })).toMatch(/^local 127\.0\.98\.7 dev lo/);
    expect(execFileSync("/usr/sbin/ip", ["route", "get", "127.0.91.2"], { encoding: "utf8" })).toMatch(/dev slwan-wt1 src 127\.0\.99\.1/);
  });

  it("adds 2 x delay to a cross-region round trip, and none from the root namespace or inside a region", async () => {
    const cross = await probe(wan.execPrefix("nyc1"), "127.0.91.2", "rtt", 10);
    const same = await probe(wan.execPrefix("ams3"), "127.0.91.3", "rtt", 10);
    const root = await rootRtt("127.0.91.2", 10);
    if (root === "timeout") throw new Error("root → region timed out");
    console.log(`RTT ms (median/min/max): cross-region ${[median(cross.rttMs), Math.min(...cross.rttMs), Math.max(...cross.rttMs)].map((x) => x.toFixed(1)).join("/")}`
      + `, connect ${cross.connectMs.toFixed(1)}; root→region ${median(root).toFixed(2)}; same region ${median(same.rttMs).toFixed(2)}`);
    expect(cross.local).toBe("127.0.90.2"); // leaves with its region's address, so the reply finds its way
    expect(Math.min(...cross.rttMs, cross.connectMs)).toBeGreaterThanOrEqual(2 * DELAY);
    expect(median(cross.rttMs)).toBeLessThan(2 * DELAY + 15);
    expect(median(root)).toBeLessThan(10);
    expect(median(same.rttMs)).toBeLessThan(5);
  });

  it("changes the delay at runtime", async () => {
    await wan.setDelay(40);
    try {
      const cross = await probe(wan.execPrefix("nyc1"), "127.0.91.2", "rtt", 5);
      expect(Math.min(...cross.rttMs)).toBeGreaterThanOrEqual(80);
      expect(median(cross.rttMs)).toBeLessThan(80 + 15);
    } finally {
      await wan.setDelay(DELAY);
    }
  });

  it("drops everything between partitioned regions until healed, and keeps other paths up", async () => {
    await wan.partition("nyc1", "ams3");
    expect((await probe(wan.execPrefix("nyc1"), "127.0.91.2", "rtt", 1)).error).toMatch(/timed out/);
    expect(Array.isArray(await rootRtt("127.0.91.2", 1))).toBe(true);
    await wan.partition("client", "ams3");
    expect(await rootRtt("127.0.91.2", 1, 1000)).toBe("timeout");
    expect((await wan.status()).partitions).toHaveLength(2);
    await wan.heal();
    expect((await probe(wan.execPrefix("nyc1"), "127.0.91.2", "rtt", 1)).error).toBeUndefined();
    expect(Array.isArray(await rootRtt("127.0.91.2", 1))).toBe(true);
    expect((await wan.status()).stats.dropped_partition).toBeGreaterThan(0);
    await expect(wan.partition("nyc1", "nowhere")).rejects.toThrow(/unknown region/);
    await expect(wan.partition("127.0.90.2", "ams3")).rejects.toThrow(/shares its namespace/);
  });

  it("streams 20 MB across regions through the forwarder", async () => {
    const r = await probe(wan.execPrefix("nyc1"), "127.0.91.2", "stream", 20);
    const root = await probe([], "127.0.91.2", "stream", 20);
    console.log(`throughput (20 MB echoed, each way): cross-region ${(r.bytes / r.seconds / 1e6).toFixed(1)} MB/s at ${2 * DELAY} ms RTT; `
      + `root→region ${(root.bytes / root.seconds / 1e6).toFixed(1)} MB/s`);
    expect(r.bytes).toBe(20 << 20);
    expect(r.seconds).toBeLessThan(30);
    expect((await wan.status()).stats.dropped_queue_full ?? 0).toBe(0);
  }, 40_000);

  it("leaves no namespace, route or process behind", async () => {
    const forwarder = wan.forwarder;
    await wan.destroy();
    expect(isAlive(forwarder)).toBe(false);
    await waitFor("the echo server to be gone", 5_000, () => !isAlive(echo));
    expect(netnsList()).not.toMatch(/shoplab-wt1-/);
    expect(execFileSync("/usr/sbin/ip", ["route", "get", "127.0.91.2"], { encoding: "utf8" })).toMatch(/^local 127\.0\.91\.2 dev lo/);
    expect(execFileSync("/usr/sbin/ip", ["link", "show"], { encoding: "utf8" })).not.toMatch(/slwan-wt1/);
    await wan.destroy(); // idempotent
  });
});

describe("lab WAN, one namespace per host", () => {
  it("gives each host its own source address and namespace, with no delay inside a region", async () => {
    await WanNetwork.cleanup("wt2");
    const wan = await WanNetwork.create({
      id: "wt2",
      regions: { nyc1: ["127.0.92.2", "127.0.92.3"], ams3: ["127.0.93.2"] },
      clientAddress: "127.0.99.2",
      oneWayDelayMs: DELAY,
      logDir: dir,
      layout: "host",
    });
    try {
      const prefix = wan.execPrefix("127.0.92.3");
      start({ cmd: prefix[0], args: [...prefix.slice(1), "/usr/bin/python3", path.join(dir, "echo.py"), "127.0.92.3"], logFile: path.join(dir, "echo2.log") });
      await waitFor("the echo server", 10_000, async () => Array.isArray(await rootRtt("127.0.92.3", 1).catch(() => null)));
      expect(() => wan.execPrefix("nyc1")).toThrow(/name a host address/);
      const same = await probe(wan.execPrefix("127.0.92.2"), "127.0.92.3", "rtt", 5);
      const cross = await probe(wan.execPrefix("ams3"), "127.0.92.3", "rtt", 5);
      expect(same.local).toBe("127.0.92.2");
      expect(median(same.rttMs)).toBeLessThan(5);
      expect(cross.local).toBe("127.0.93.2");
      expect(Math.min(...cross.rttMs)).toBeGreaterThanOrEqual(2 * DELAY);
      expect((await wan.pids("127.0.92.3")).length).toBe(1);
      // One host cut off, even from its own region; the lab's own probe still reaches it.
      await wan.isolate("127.0.92.3");
      expect((await probe(wan.execPrefix("127.0.92.2"), "127.0.92.3", "rtt", 1)).error).toMatch(/timed out/);
      expect(Array.isArray(await rootRtt("127.0.92.3", 1))).toBe(true);
      await wan.heal();
      expect((await probe(wan.execPrefix("127.0.92.2"), "127.0.92.3", "rtt", 1)).error).toBeUndefined();
    } finally {
      await wan.destroy();
    }
    expect(netnsList()).not.toMatch(/shoplab-wt2-/);
  });
});

describe("lab WAN forwarder without its parent", () => {
  it("tears the network down by itself when the process that started it is gone", async () => {
    const parent = start({ cmd: "/bin/sleep", args: ["60"], logFile: path.join(dir, "sleep.log") });
    const stat = fs.readFileSync(`/proc/${parent.pid}/stat`, "utf8");
    const config = {
      id: "wt3",
      client: { name: "client", address: "127.0.99.3", tun: "slwan-wt3" },
      nodes: [{ name: "r", region: "r", netns: "shoplab-wt3-r", addresses: ["127.0.94.2"] }],
      oneWayDelayMs: 1,
      controlSocket: path.join(dir, "wt3.sock"),
      parent: { pid: parent.pid, startTime: stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] },
    };
    fs.writeFileSync(path.join(dir, "wt3.json"), JSON.stringify(config));
    const fwd = start({ cmd: "/usr/bin/python3", args: [path.join(__dirname, "../../lab/net/wan-forwarder.py"), path.join(dir, "wt3.json")], logFile: path.join(dir, "wt3.log") });
    try {
      await waitFor("the forwarder to be ready", 10_000, () => fs.existsSync(config.controlSocket));
      expect(netnsList()).toMatch(/shoplab-wt3-r/);
      process.kill(parent.pid, "SIGKILL");
      await waitFor("the forwarder to exit", 10_000, () => !isAlive(fwd));
      expect(netnsList()).not.toMatch(/shoplab-wt3-/);
    } finally {
      if (isAlive(fwd)) process.kill(fwd.pid, "SIGKILL");
      await WanNetwork.cleanup("wt3");
    }
  });

  afterAll(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });
});
