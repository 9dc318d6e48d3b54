// Stand-ins for the edge in front of the app hosts: each region's DigitalOcean load balancer and the
// Cloudflare load balancer over them. Their behaviour is read from the synthesized stacks (health path
// and port, intervals, thresholds, timeouts, retries, pool order, fallback pool, the droplets a load
// balancer targets by tag), so a change of a stack changes what the rehearsal's customers see.
//
// Modelled (from DigitalOcean's and Cloudflare's documentation of the synthesized fields):
// - regional load balancer: checks every target every `check_interval_seconds` with a
//   `response_timeout_seconds` limit; a target is taken out after `unhealthy_threshold` failed checks
//   in a row and put back after `healthy_threshold` good ones (new targets start out of rotation);
//   requests go round robin to targets in rotation; none in rotation: 503.
// - Cloudflare: a monitor checks each pool's origin every `interval` s; a check fails after
//   `retries` + 1 attempts that each failed or timed out (`timeout`) or answered outside
//   `expected_codes`. Steering "off": the first healthy pool of `default_pools`, else `fallback_pool`.
//   With adaptive routing (`failover_across_pools`), a request whose origin cannot be reached (refused,
//   reset, timed out) is retried once on the next healthy pool, as zero-downtime failover does; an
//   origin's HTTP error response goes back to the customer unchanged.
// Not modelled: TLS (HTTP on both legs here), Cloudflare's multiple check regions and caching, the
// load balancer's connection draining and sticky sessions.
import * as fs from "fs";
import * as http from "http";
import * as path from "path";

export interface HealthCheck {
  readonly path: string;
  readonly port: number;
  readonly intervalSeconds: number;
  readonly timeoutSeconds: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
}

export interface RegionalLbSpec {
  readonly region: string;
  readonly name: string;
  /** Target port of the forwarding rules (the app's port on the droplets). */
  readonly targetPort: number;
  readonly health: HealthCheck;
  /** Droplets carrying the load balancer's `droplet_tag` in the region stack. */
  readonly targets: readonly string[];
}

export interface CloudflareSpec {
  readonly monitor: { readonly path: string; readonly intervalSeconds: number; readonly timeoutSeconds: number; readonly retries: number; readonly expectedCodes: string; readonly host: string | null };
  /** Pools in `default_pools` order, each with the region whose load balancer is its origin. */
  readonly pools: ReadonlyArray<{ readonly name: string; readonly region: string }>;
  readonly fallbackRegion: string;
  readonly failoverAcrossPools: boolean;
}

export interface EdgeSpec {
  readonly loadBalancers: readonly RegionalLbSpec[];
  readonly cloudflare: CloudflareSpec;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function readStack(dir: string, name: string): Json {
  const file = path.join(dir, "stacks", name, "cdk.tf.json");
  if (!fs.existsSync(file)) throw new Error(`${file}: no such synthesized stack (synthesize the topology first)`);
  return JSON.parse(fs.readFileSync(file, "utf8")) as Json;
}

function only(resources: Json | undefined, type: string, file: string): Json {
  const all = Object.values(resources?.[type] ?? {}) as Json[];
  if (all.length !== 1) throw new Error(`${file}: expected one ${type}, found ${all.length}`);
  return all[0];
}

/** `${digitalocean_tag.tag-app.name}` -> the droplets of the stack whose tags include that reference. */
function taggedDroplets(stack: Json, tagRef: string): string[] {
  return Object.values(stack.resource?.digitalocean_droplet ?? {}).filter((d) => ((d as Json).tags ?? []).includes(tagRef)).map((d) => String((d as Json).name)).sort();
}

/** The edge as the synthesized stacks under `synthDir` (cdktf.out's layout) define it. */
export function edgeSpecOf(synthDir: string): EdgeSpec {
  const stacks = fs.readdirSync(path.join(synthDir, "stacks")).filter((s) => s.startsWith("region-")).sort();
  const loadBalancers: RegionalLbSpec[] = [];
  for (const s of stacks) {
    const stack = readStack(synthDir, s);
    const lbs = Object.values(stack.resource?.digitalocean_loadbalancer ?? {}) as Json[];
    if (lbs.length === 0) continue; // a region without app hosts (witness)
    const lb = only(stack.resource, "digitalocean_loadbalancer", s);
    const hc = lb.healthcheck as Json;
    const ports = new Set((lb.forwarding_rule as Json[]).map((r) => Number(r.target_port)));
    if (ports.size !== 1) throw new Error(`${s}: forwarding rules target ${[...ports].join(", ")}; the stand-in serves one target port`);
    loadBalancers.push({
      region: String(lb.region), name: String(lb.name), targetPort: [...ports][0],
      health: { path: String(hc.path), port: Number(hc.port), intervalSeconds: Number(hc.check_interval_seconds), timeoutSeconds: Number(hc.response_timeout_seconds), unhealthyThreshold: Number(hc.unhealthy_threshold), healthyThreshold: Number(hc.healthy_threshold) },
      targets: taggedDroplets(stack, String(lb.droplet_tag)),
    });
  }
  const global = readStack(synthDir, "global").resource as Json;
  const edge = only(global, "cloudflare_load_balancer", "global");
  const monitor = only(global, "cloudflare_load_balancer_monitor", "global");
  const pools = global.cloudflare_load_balancer_pool as Record<string, Json>;
  // "${cloudflare_load_balancer_pool.pool-nyc1.id}" -> the pool; its origin is a region stack's LB ip.
  const poolOf = (ref: string) => {
    const id = /^\$\{cloudflare_load_balancer_pool\.([^.]+)\.id\}$/.exec(ref)?.[1];
    const pool = id ? pools[id] : undefined;
    if (!pool) throw new Error(`global: ${ref} names no cloudflare_load_balancer_pool`);
    const origins = pool.origins as Json[];
    const region = origins.length === 1 ? /region-([a-z0-9]+)\.outputs/.exec(String(origins[0].address))?.[1] : undefined;
    if (!region) throw new Error(`global: pool ${pool.name} has no single origin from a region stack's load balancer`);
    return { name: String(pool.name), region };
  };
  if (edge.steering_policy !== "off") throw new Error(`global: steering_policy ${edge.steering_policy}; the stand-in models "off" (failover order) only`);
  return {
    loadBalancers,
    cloudflare: {
      monitor: { path: String(monitor.path), intervalSeconds: Number(monitor.interval), timeoutSeconds: Number(monitor.timeout), retries: Number(monitor.retries), expectedCodes: String(monitor.expected_codes), host: monitor.header?.Host?.[0] ?? null },
      pools: (edge.default_pools as string[]).map(poolOf),
      fallbackRegion: poolOf(String(edge.fallback_pool)).region,
      failoverAcrossPools: Boolean(edge.adaptive_routing?.failover_across_pools),
    },
  };
}

// ---- the running stand-ins ------------------------------------------------------------------------

export interface Upstream { readonly host: string; readonly port: number }

/** One request; resolves with the status, or rejects when the upstream could not be reached in time. */
function request(to: Upstream, method: string, urlPath: string, headers: http.OutgoingHttpHeaders, body: Buffer | null, timeoutMs: number): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: to.host, port: to.port, method, path: urlPath, headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body ?? undefined);
  });
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function forwardHeaders(h: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const { connection: _c, "keep-alive": _k, "transfer-encoding": _t, ...rest } = h;
  return rest;
}

export type EdgeEvent = (line: string) => void;

/** A proxy that checks its upstreams every `periodMs` (each round after the last one ended) and
 * answers requests with `handle`. */
abstract class CheckingProxy {
  private timer: NodeJS.Timeout | null = null;
  private server: http.Server | null = null;

  protected abstract periodMs(): number;
  protected abstract checkRound(): Promise<unknown>;
  protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void>;

  async listen(address: string, port: number): Promise<void> {
    const tick = () => {
      void this.checkRound().finally(() => { if (this.timer) this.timer = setTimeout(tick, this.periodMs()); });
    };
    this.timer = setTimeout(tick, 0);
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => this.server!.once("error", reject).listen(port, address, resolve));
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** A DigitalOcean regional load balancer over `targets` (name -> address). */
export class RegionalLbStandIn extends CheckingProxy {
  private readonly state = new Map<string, { healthy: boolean; streak: number }>();
  private next = 0;

  constructor(readonly spec: RegionalLbSpec, private readonly addressOf: (target: string) => string, private readonly log: EdgeEvent, private readonly timeScale = 1) {
    super();
    for (const t of spec.targets) this.state.set(t, { healthy: false, streak: 0 });
  }

  protected periodMs(): number {
    return this.spec.health.intervalSeconds * 1000 * this.timeScale;
  }

  inRotation(): string[] {
    return this.spec.targets.filter((t) => this.state.get(t)!.healthy);
  }

  protected async checkRound(): Promise<void> {
    const h = this.spec.health;
    await Promise.all(this.spec.targets.map(async (t) => {
      const ok = await request({ host: this.addressOf(t), port: h.port }, "GET", h.path, {}, null, h.timeoutSeconds * 1000 * this.timeScale).then((r) => r.status >= 200 && r.status < 400, () => false);
      const s = this.state.get(t)!;
      if (ok === s.healthy) {
        s.streak = 0;
        return;
      }
      s.streak += 1;
      if (s.streak >= (s.healthy ? h.unhealthyThreshold : h.healthyThreshold)) {
        s.healthy = ok;
        s.streak = 0;
        this.log(`${this.spec.name}: ${t} ${ok ? "back in rotation" : "out of rotation"}`);
      }
    }));
  }

  protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readBody(req);
    const targets = this.inRotation();
    if (targets.length === 0) {
      res.writeHead(503, { "content-type": "text/plain" }).end(`${this.spec.name}: no healthy droplet\n`);
      return;
    }
    const t = targets[this.next++ % targets.length];
    try {
      const r = await request({ host: this.addressOf(t), port: this.spec.targetPort }, req.method ?? "GET", req.url ?? "/", forwardHeaders(req.headers), body, 60_000);
      res.writeHead(r.status, forwardHeaders(r.headers)).end(r.body);
    } catch {
      res.writeHead(503, { "content-type": "text/plain" }).end(`${this.spec.name}: ${t} did not answer\n`);
    }
  }
}

/** Cloudflare's load balancer over the regions' load balancers (region -> address). */
export class CloudflareStandIn extends CheckingProxy {
  private readonly healthy = new Map<string, boolean>();

  constructor(readonly spec: CloudflareSpec, private readonly originOf: (region: string) => Upstream, private readonly log: EdgeEvent, private readonly timeScale = 1) {
    super();
    // Cloudflare treats a new pool as healthy until its monitor says otherwise.
    for (const p of spec.pools) this.healthy.set(p.region, true);
  }

  /** The pools requests go to now, in the order they are tried. */
  route(): string[] {
    const up = this.spec.pools.map((p) => p.region).filter((r) => this.healthy.get(r));
    return up.length ? up : [this.spec.fallbackRegion];
  }

  private async check(region: string): Promise<boolean> {
    const m = this.spec.monitor;
    const codes = m.expectedCodes.split(",").map((c) => c.trim());
    for (let attempt = 0; attempt <= m.retries; attempt++) {
      const status = await request(this.originOf(region), "GET", m.path, m.host ? { host: m.host } : {}, null, m.timeoutSeconds * 1000 * this.timeScale).then((r) => r.status, () => 0);
      if (codes.some((c) => (c.endsWith("xx") ? String(status)[0] === c[0] : String(status) === c))) return true;
    }
    return false;
  }

  protected periodMs(): number {
    return this.spec.monitor.intervalSeconds * 1000 * this.timeScale;
  }

  protected checkRound(): Promise<unknown> {
    return Promise.all(this.spec.pools.map(async ({ region, name }) => {
      const ok = await this.check(region);
      const was = this.healthy.get(region);
      this.healthy.set(region, ok);
      if (ok !== was) this.log(`cloudflare: pool ${name} ${ok ? "healthy" : "unhealthy"}; traffic to ${this.route()[0]}`);
    }));
  }

  protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readBody(req);
    const order = this.route();
    const tries = this.spec.failoverAcrossPools ? order.slice(0, 2) : order.slice(0, 1);
    for (const region of tries) {
      try {
        const r = await request(this.originOf(region), req.method ?? "GET", req.url ?? "/", forwardHeaders(req.headers), body, 100_000);
        res.writeHead(r.status, { ...forwardHeaders(r.headers), "cf-pool": region }).end(r.body);
        return;
      } catch { /* origin unreachable: zero-downtime failover tries the next pool */ }
    }
    // Cloudflare's "origin is unreachable".
    res.writeHead(523, { "content-type": "text/plain" }).end("origin is unreachable\n");
  }
}
