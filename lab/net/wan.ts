// Inter-region WAN for the lab: this kernel has no netem, so each region (or each host) runs in its
// own network namespace, every server still on its loopback address, and lab/net/wan-forwarder.py moves
// packets between the namespaces through TUN devices, adding the one-way delay of each region pair
// and dropping everything between partitioned regions. The root namespace is the zero-delay "client"
// region: the lab's own process reaches every host directly.
import { execFile } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { isAlive, labScript, procOf, signal, start, waitFor, type Proc } from "../proc";

const IP = "/usr/sbin/ip";
const NSENTER = "/usr/bin/nsenter";
const PYTHON = "/usr/bin/python3";
/** Region name of the root namespace, where the lab and its helpers run. */
export const CLIENT_REGION = "client";

export interface WanOptions {
  /** Short id ([a-z0-9]{1,8}) naming the namespaces `shoplab-<id>-…` and the root TUN `slwan-<id>`. */
  readonly id: string;
  /** Region → the loopback addresses of its hosts. */
  readonly regions: Readonly<Record<string, readonly string[]>>;
  /** Source address of the root namespace's connections to the hosts (e.g. 127.0.X.1). */
  readonly clientAddress: string;
  /** One-way delay between two different regions (RTT = 2 × this). */
  readonly oneWayDelayMs: number;
  /** One-way delay between the root namespace and any host; 0 by default. */
  readonly clientDelayMs?: number;
  /** Forwarder log and config go here. */
  readonly logDir: string;
  /**
   * "region" (default): one namespace per region; hosts of a region share it and talk directly.
   * "host": one namespace per host, so a connection leaves with its own host's address and one host can
   * be cut off; same-region traffic then crosses the forwarder with no added delay.
   */
  readonly layout?: "region" | "host";
  /** Packets queued per direction between two namespaces before tail drop; bounds the forwarder's memory. */
  readonly queueLimitBytes?: number;
}

export interface WanStatus {
  readonly ok: boolean;
  readonly pid: number;
  readonly oneWayDelayMs: number;
  readonly pairDelayMs: readonly { a: string; b: string; ms: number }[];
  readonly partitions: readonly (readonly string[])[];
  readonly queuedBytes: number;
  readonly stats: Readonly<Record<string, number>>;
}

interface NodeSpec {
  readonly name: string;
  readonly region: string;
  readonly netns: string;
  readonly addresses: readonly string[];
}

function run(cmd: string, args: readonly string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

function isLoopback(a: string): boolean {
  const o = a.split(".").map(Number);
  return o.length === 4 && o[0] === 127 && o.every((x, i) => Number.isInteger(x) && x >= 0 && x <= 255 && String(x) === a.split(".")[i]);
}

/** Throws on anything that could break the root namespace's own loopback or collide inside the WAN. */
function validate(o: WanOptions): void {
  if (!/^[a-z0-9]{1,8}$/.test(o.id)) throw new Error(`wan id must match [a-z0-9]{1,8} (it names the TUN device), got "${o.id}"`);
  const seen = new Set<string>();
  const claim = (a: string, who: string) => {
    if (!isLoopback(a)) throw new Error(`${who}: ${a} is not a 127.0.0.0/8 address (every server stays on loopback)`);
    // 127.0.0.1 must stay local in the root namespace; .0 and .255 are network/broadcast-looking.
    if (a === "127.0.0.1" || a.endsWith(".0") || a.endsWith(".255")) throw new Error(`${who}: ${a} cannot be a WAN address`);
    if (seen.has(a)) throw new Error(`${who}: ${a} is used twice`);
    seen.add(a);
  };
  claim(o.clientAddress, "clientAddress");
  const names = Object.keys(o.regions);
  if (names.length < 1) throw new Error("a WAN needs at least one region");
  for (const r of names) {
    if (!/^[a-z0-9][a-z0-9-]{0,19}$/.test(r) || r === CLIENT_REGION) throw new Error(`bad region name "${r}"`);
    if (o.regions[r].length === 0) throw new Error(`region ${r} has no address`);
    for (const a of o.regions[r]) claim(a, `region ${r}`);
  }
  for (const ms of [o.oneWayDelayMs, o.clientDelayMs ?? 0]) {
    if (!(ms >= 0 && ms <= 10_000)) throw new Error(`delay must be within 0..10000 ms, got ${ms}`);
  }
}

function nodesOf(o: WanOptions): NodeSpec[] {
  const prefix = `shoplab-${o.id}-`;
  return Object.entries(o.regions).flatMap(([region, addrs]) => (o.layout ?? "region") === "region"
    ? [{ name: region, region, netns: prefix + region, addresses: [...addrs] }]
    : addrs.map((a) => ({ name: `${region}-${a}`, region, netns: `${prefix}${region}-${a}`, addresses: [a] })));
}

async function listNetns(): Promise<string[]> {
  const out = await run(IP, ["-j", "netns", "list"]);
  const list = out.trim() === "" ? [] : (JSON.parse(out) as { name: string }[]);
  return list.map((n) => n.name);
}

/** SIGKILLs whatever runs in a namespace, then deletes it: a process inside would keep it alive, nameless. */
async function removeNetns(ns: string): Promise<void> {
  const pids = (await run(IP, ["netns", "pids", ns]).catch(() => "")).split(/\s+/).filter((p) => /^\d+$/.test(p)).map(Number);
  for (const pid of pids) if (pid !== process.pid) try { process.kill(pid, "SIGKILL"); } catch { /* already gone */ }
  await run(IP, ["netns", "del", ns]).catch(() => undefined);
}

export class WanNetwork {
  private readonly byAddress: ReadonlyMap<string, NodeSpec>;
  private readonly byName: ReadonlyMap<string, NodeSpec>;

  private constructor(readonly options: WanOptions, private readonly nodes: readonly NodeSpec[], readonly forwarder: Proc,
    /** JSON-line control socket, for helper scripts too (see /work/coord/wan.md). */
    readonly controlSocket: string, readonly logFile: string) {
    this.byAddress = new Map(nodes.flatMap((n) => n.addresses.map((a) => [a, n] as const)));
    this.byName = new Map(nodes.map((n) => [n.name, n]));
  }

  /** Null when this machine can run a WAN; otherwise what is missing, in words. */
  static async unavailable(): Promise<string | null> {
    if (process.platform !== "linux") return "the lab WAN needs Linux network namespaces";
    if (process.getuid?.() !== 0) return "the lab WAN needs root (network namespaces and TUN devices)";
    for (const f of [IP, NSENTER, PYTHON]) if (!fs.existsSync(f)) return `the lab WAN needs ${f} (Debian: iproute2, util-linux, python3)`;
    if (!fs.existsSync("/dev/net/tun")) return "the lab WAN needs /dev/net/tun (modprobe tun)";
    const probe = `shoplab-probe${process.pid}`;
    try {
      await run(IP, ["netns", "add", probe]);
      await run(NSENTER, [`--net=/run/netns/${probe}`, "--", IP, "tuntap", "add", "mode", "tun", "name", "probe0"]);
    } catch (e) {
      return `network namespaces or TUN devices are unavailable here: ${(e as Error).message}`;
    } finally {
      await run(IP, ["netns", "del", probe]).catch(() => undefined);
    }
    return null;
  }

  /** Removes what a crashed run with this id left (its namespaces and what runs in them). */
  static async cleanup(id: string): Promise<string[]> {
    const left = (await listNetns()).filter((n) => n.startsWith(`shoplab-${id}-`));
    for (const ns of left) await removeNetns(ns);
    return left;
  }

  static async create(options: WanOptions): Promise<WanNetwork> {
    validate(options);
    const why = await WanNetwork.unavailable();
    if (why) throw new Error(why);
    const nodes = nodesOf(options);
    const taken = new Set(await listNetns());
    const clash = nodes.filter((n) => taken.has(n.netns)).map((n) => n.netns);
    if (clash.length > 0) {
      throw new Error(`network namespaces ${clash.join(", ")} already exist (another lab, or a crashed run: WanNetwork.cleanup("${options.id}"))`);
    }
    fs.mkdirSync(options.logDir, { recursive: true });
    const me = procOf(process.pid);
    if (!me) throw new Error("cannot read /proc/self/stat");
    // A unix socket path is limited to 108 bytes, so it lives in the temp dir, not in logDir.
    const controlSocket = path.join(os.tmpdir(), `shoplab-wan-${options.id}.sock`);
    const config = {
      id: options.id,
      client: { name: CLIENT_REGION, address: options.clientAddress, tun: `slwan-${options.id}` },
      nodes,
      oneWayDelayMs: options.oneWayDelayMs,
      clientDelayMs: options.clientDelayMs ?? 0,
      queueLimitBytes: options.queueLimitBytes ?? 32 << 20,
      controlSocket,
      // The forwarder tears the network down by itself when the lab process is gone.
      parent: { pid: me.pid, startTime: me.startTime },
    };
    const configFile = path.join(options.logDir, `wan-${options.id}.json`);
    fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
    const logFile = path.join(options.logDir, `wan-${options.id}.log`);
    const forwarder = start({ cmd: PYTHON, args: [labScript("net/wan-forwarder.py"), configFile], logFile });
    const wan = new WanNetwork(options, nodes, forwarder, controlSocket, logFile);
    try {
      await waitFor("the WAN forwarder to answer", 15_000, async () => {
        if (!isAlive(forwarder)) throw new Error(`the WAN forwarder exited: ${tail(logFile)}`);
        return (await wan.control({ cmd: "status" }).catch(() => null))?.ok;
      }, 50);
    } catch (e) {
      await wan.destroy();
      throw e;
    }
    return wan;
  }

  /** Regions, the client region (root namespace) last. */
  get regions(): string[] {
    return [...Object.keys(this.options.regions), CLIENT_REGION];
  }

  /** Namespace of a region (layout "region") or of a host address; null for the client region. */
  netns(regionOrAddress: string): string | null {
    if (regionOrAddress === CLIENT_REGION || regionOrAddress === this.options.clientAddress) return null;
    const n = this.byAddress.get(regionOrAddress) ?? this.byName.get(regionOrAddress);
    if (n) return n.netns;
    const inRegion = this.nodes.filter((x) => x.region === regionOrAddress);
    if (inRegion.length === 1) return inRegion[0].netns;
    if (inRegion.length > 1) throw new Error(`region ${regionOrAddress} spans ${inRegion.length} namespaces (layout "host"): name a host address`);
    throw new Error(`${regionOrAddress} is neither a WAN region (${this.regions.join(", ")}) nor a host address`);
  }

  /**
   * Command prefix that runs a program in the namespace of a region or host: nsenter execs it, so the
   * PID you get is the program's own. Put it before setpriv, never after: entering a namespace needs root.
   */
  execPrefix(regionOrAddress: string): string[] {
    const ns = this.netns(regionOrAddress);
    return ns === null ? [] : [NSENTER, `--net=/run/netns/${ns}`, "--"];
  }

  regionOf(address: string): string {
    if (address === this.options.clientAddress) return CLIENT_REGION;
    const n = this.byAddress.get(address);
    if (!n) throw new Error(`${address} is not a WAN host address`);
    return n.region;
  }

  /** PIDs of every process running in the namespace of a region or host. */
  async pids(regionOrAddress: string): Promise<number[]> {
    const ns = this.netns(regionOrAddress);
    if (ns === null) throw new Error("the client region is the root namespace");
    return (await run(IP, ["netns", "pids", ns])).split(/\s+/).filter((p) => p !== "").map(Number);
  }

  /**
   * Drops every packet between two regions (either may be the client region), both ways, until
   * healed. With layout "host", either side may also be a host address: that host alone is cut off.
   */
  async partition(a: string, b: string): Promise<void> {
    await this.command({ cmd: "partition", a: this.cutName(a), b: this.cutName(b) });
  }

  /**
   * Cuts a region (or, with layout "host", one host) off from every other region or host; from the
   * client region (the lab's own probes) too only when asked.
   */
  async isolate(regionOrAddress: string, opts: { client?: boolean } = {}): Promise<void> {
    const me = this.cutName(regionOrAddress);
    const others = this.byAddress.has(regionOrAddress)
      ? this.nodes.map((n) => n.name)
      : Object.keys(this.options.regions);
    for (const other of others) {
      if (other !== me) await this.partition(me, other);
    }
    if (opts.client) await this.partition(me, CLIENT_REGION);
  }

  /** Heals one partition, or all of them. */
  async heal(a?: string, b?: string): Promise<void> {
    await this.command(a !== undefined && b !== undefined ? { cmd: "heal", a: this.cutName(a), b: this.cutName(b) } : { cmd: "heal" });
  }

  /** One-way delay between two regions, or (without a pair) between all regions, replacing pair delays. */
  async setDelay(oneWayMs: number, a?: string, b?: string): Promise<void> {
    await this.command(a !== undefined && b !== undefined ? { cmd: "delay", ms: oneWayMs, a, b } : { cmd: "delay", ms: oneWayMs });
  }

  status(): Promise<WanStatus> {
    return this.command({ cmd: "status" });
  }

  /**
   * Stops the forwarder (which kills what still runs in the namespaces and deletes them), then makes
   * sure nothing is left even if it died. Safe to call twice.
   */
  async destroy(): Promise<void> {
    if (signal(this.forwarder, "SIGTERM")) {
      await waitFor("the WAN forwarder to stop", 10_000, () => !isAlive(this.forwarder)).catch(() => signal(this.forwarder, "SIGKILL"));
    }
    await waitFor("the WAN forwarder to be gone", 5_000, () => !isAlive(this.forwarder));
    const mine = new Set(this.nodes.map((n) => n.netns));
    for (const ns of (await listNetns()).filter((n) => mine.has(n))) await removeNetns(ns);
    fs.rmSync(this.controlSocket, { force: true });
  }

  /** The forwarder's name for a partition side: a region, or a host's own node (layout "host"). */
  private cutName(regionOrAddress: string): string {
    const n = this.byAddress.get(regionOrAddress);
    if (!n) return regionOrAddress; // a region; the forwarder rejects unknown names
    if (n.addresses.length > 1) throw new Error(`${regionOrAddress} shares its namespace with its region (layout "region"): cut the region, or use layout "host"`);
    return n.name;
  }

  private async command(msg: Record<string, unknown>): Promise<WanStatus> {
    const reply = await this.control(msg);
    if (!reply.ok) throw new Error(`WAN ${String(msg.cmd)}: ${(reply as unknown as { error: string }).error}`);
    return reply;
  }

  /** One JSON line to the forwarder's control socket, one JSON line back. */
  private control(msg: Record<string, unknown>, timeoutMs = 5_000): Promise<WanStatus> {
    return new Promise((resolve, reject) => {
      const sock = net.createConnection(this.controlSocket);
      let buf = "";
      const timer = setTimeout(() => { sock.destroy(); reject(new Error("WAN forwarder did not answer")); }, timeoutMs);
      sock.on("connect", () => sock.write(JSON.stringify(msg) + "\n"));
      sock.on("data", (d) => {
        buf += d.toString();
        const nl = buf.indexOf("\n");
        if (nl < 0) return;
        clearTimeout(timer);
        sock.end();
        try { resolve(JSON.parse(buf.slice(0, nl)) as WanStatus); } catch (e) { reject(e); }
      });
      sock.on("error", (e) => { clearTimeout(timer); reject(e); });
    });
  }
}


function tail(file: string): string {
  try {
    return fs.readFileSync(file, "utf8").trim().split("\n").slice(-5).join(" | ");
  } catch {
    return `(no log at ${file})`;
  }
}
