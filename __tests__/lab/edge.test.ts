// The edge stand-ins: what they read from the synthesized stacks, and how they fail over when the
// origins behind them stop answering (real HTTP on 127.0.0.x, time scaled down).
import * as fs from "fs";
import * as http from "http";
import { hostsOf, presetOf, servingRegions } from "../../lib/model";
import { CloudflareStandIn, RegionalLbStandIn, edgeSpecOf, type EdgeSpec } from "../../lab/stand-ins/edge";
import { example, variant } from "../support/topology";
import { synthStacks } from "../support/synth";

describe("edge spec from the synthesized stacks", () => {
  it("takes the load balancers' checks and targets and Cloudflare's pool order from the example", () => {
    const t = example();
    const { outdir } = synthStacks(t);
    try {
      const spec = edgeSpecOf(outdir);
      const lb = presetOf(t).loadBalancer;
      const appRegions = [...new Set(hostsOf(t).filter((h) => h.tier === "app").map((h) => h.region))].sort();
      expect(spec.loadBalancers.map((l) => l.region)).toEqual(appRegions);
      for (const l of spec.loadBalancers) {
        expect(l.targets).toEqual(hostsOf(t).filter((h) => h.tier === "app" && h.region === l.region).map((h) => h.name).sort());
        expect(l.targetPort).toBe(t.app.port);
        expect(l.health).toEqual({ path: t.app.healthPath, port: t.app.port, intervalSeconds: lb.intervalSeconds, timeoutSeconds: lb.timeoutSeconds, unhealthyThreshold: lb.unhealthy, healthyThreshold: lb.healthy });
      }
      const cf = presetOf(t).cloudflare;
      expect(spec.cloudflare.monitor).toEqual({ path: t.app.healthPath, intervalSeconds: t.cloudflare.monitorIntervalSeconds, timeoutSeconds: cf.timeoutSeconds, retries: cf.retries, expectedCodes: "200", host: t.domain.hostname });
      expect(spec.cloudflare.pools.map((p) => p.region)).toEqual(servingRegions(t));
      expect(servingRegions(t)[0]).toBe(t.regions.find((r) => r.role === "primary")!.slug);
      expect(spec.cloudflare.fallbackRegion).toBe(spec.cloudflare.pools.at(-1)!.region);
      expect(spec.cloudflare.failoverAcrossPools).toBe(true);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });

  it("follows a change of the stack: another timing preset changes the checks the stand-ins make", () => {
    const t = variant((d) => { d.timing = "wan-safe"; });
    const { outdir } = synthStacks(t);
    try {
      expect(edgeSpecOf(outdir).loadBalancers[0].health.intervalSeconds).toBe(presetOf(t).loadBalancer.intervalSeconds);
      expect(presetOf(t).loadBalancer.intervalSeconds).not.toBe(presetOf(example()).loadBalancer.intervalSeconds);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });

  it("says which file is missing when nothing was synthesized", () => {
    const dir = fs.mkdtempSync("/tmp/edge-empty-");
    fs.mkdirSync(`${dir}/stacks`);
    try {
      expect(() => edgeSpecOf(dir)).toThrow(/stacks\/global\/cdk\.tf\.json: no such synthesized stack/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- behaviour --------------------------------------------------------------------------------------

const SCALE = 0.1; // 5 s checks every 500 ms, a 3 s timeout of 300 ms
const spec: EdgeSpec = {
  loadBalancers: ["east", "west"].map((region) => ({
    region, name: `lb-${region}`, targetPort: 18480,
    health: { path: "/healthz", port: 18480, intervalSeconds: 5, timeoutSeconds: 3, unhealthyThreshold: 3, healthyThreshold: 3 },
    targets: [`app-${region}-1`, `app-${region}-2`],
  })),
  cloudflare: {
    monitor: { path: "/healthz", intervalSeconds: 15, timeoutSeconds: 5, retries: 2, expectedCodes: "200", host: "shop.test" },
    pools: [{ name: "pool-east", region: "east" }, { name: "pool-west", region: "west" }],
    fallbackRegion: "west", failoverAcrossPools: true,
  },
};
const APP_ADDRESS: Record<string, string> = { "app-east-1": "127.0.83.11", "app-east-2": "127.0.83.12", "app-west-1": "127.0.83.21", "app-west-2": "127.0.83.22" };
const LB_ADDRESS: Record<string, string> = { east: "127.0.83.101", west: "127.0.83.102" };
const EDGE = { host: "127.0.83.100", port: 18481 };

/** An app droplet: answers every request with its own name; `/healthz` 200 unless made sick. */
function app(name: string): { server: http.Server; sick: boolean } {
  const a = { server: http.createServer((req, res) => {
    if (req.url === "/healthz") res.writeHead(a.sick ? 500 : 200).end();
    else req.on("data", () => undefined).on("end", () => res.writeHead(201, { "x-served-by": name }).end(name));
  }), sick: false };
  return a;
}

async function post(to = `${EDGE.host}:${EDGE.port}`): Promise<{ status: number; by: string; pool: string }> {
  try {
    const res = await fetch(`http://${to}/orders`, { method: "POST", body: "{}", signal: AbortSignal.timeout(3000) });
    return { status: res.status, by: res.headers.get("x-served-by") ?? "", pool: res.headers.get("cf-pool") ?? "" };
  } catch {
    return { status: 0, by: "", pool: "" };
  }
}

async function until<T>(what: string, ms: number, f: () => Promise<T | null>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("edge stand-ins in front of real HTTP origins", () => {
  const apps = Object.fromEntries(Object.keys(APP_ADDRESS).map((n) => [n, app(n)]));
  const events: string[] = [];
  const lbs = spec.loadBalancers.map((l) => new RegionalLbStandIn(l, (n) => APP_ADDRESS[n], (e) => events.push(e), SCALE));
  const cf = new CloudflareStandIn(spec.cloudflare, (r) => ({ host: LB_ADDRESS[r], port: 18480 }), (e) => events.push(e), SCALE);
  const listen = (name: string) => new Promise<void>((r) => apps[name].server.listen(18480, APP_ADDRESS[name], r));
  const stop = (name: string) => new Promise<void>((r) => { apps[name].server.close(() => r()); apps[name].server.closeAllConnections(); });

  beforeAll(async () => {
    await Promise.all(Object.keys(apps).map(listen));
    await Promise.all(lbs.map((lb, i) => lb.listen(LB_ADDRESS[spec.loadBalancers[i].region], 18480)));
    await cf.listen(EDGE.host, EDGE.port);
  });
  afterAll(async () => {
    await cf.close();
    await Promise.all(lbs.map((lb) => lb.close()));
    await Promise.all(Object.values(apps).map((a) => new Promise((r) => { a.server.close(r); a.server.closeAllConnections(); })));
  });

  it("serves from the first pool once its droplets pass the load balancer's healthy threshold, round robin", async () => {
    // New targets start out of rotation: the first requests get the load balancer's 503.
    expect(lbs[0].inRotation()).toEqual([]);
    await until("east in rotation", 10_000, async () => (lbs[0].inRotation().length === 2 ? true : null));
    // Cloudflare's first check found east's load balancer without droplets (503): west serves until the
    // monitor's next round finds east healthy.
    expect(events).toContain("cloudflare: pool pool-east unhealthy; traffic to west");
    await until("Cloudflare back on east", 10_000, async () => (cf.route()[0] === "east" ? true : null));
    const served = await Promise.all([post(), post(), post(), post()]);
    expect(served.every((s) => s.status === 201 && s.pool === "east")).toBe(true);
    expect(new Set(served.map((s) => s.by))).toEqual(new Set(["app-east-1", "app-east-2"]));
  });

  it("takes a sick droplet out of rotation after the unhealthy threshold and keeps serving from the other", async () => {
    // Straight to the load balancer: meanwhile Cloudflare's monitor may itself have hit the sick
    // droplet through it (as it would in production).
    apps["app-east-1"].sick = true;
    await until("app-east-1 out", 10_000, async () => (lbs[0].inRotation().join() === "app-east-2" ? true : null));
    const lbEast = `${LB_ADDRESS.east}:18480`;
    const served = await Promise.all([post(lbEast), post(lbEast), post(lbEast)]);
    expect(served.map((s) => s.by)).toEqual(["app-east-2", "app-east-2", "app-east-2"]);
    apps["app-east-1"].sick = false;
    await until("app-east-1 back", 10_000, async () => (lbs[0].inRotation().length === 2 ? true : null));
  });

  it("fails over to the next pool when a region's droplets are gone, and back when they return", async () => {
    await until("Cloudflare on east", 20_000, async () => (cf.route()[0] === "east" ? true : null));
    const seen = events.length;
    await Promise.all(["app-east-1", "app-east-2"].map(stop));
    // The load balancer answers 503 (it is up, its droplets are not): Cloudflare passes that through
    // until its monitor marks the pool unhealthy (its check through the load balancer fails as soon as
    // the request reaches a stopped droplet), then routes to west.
    const first503 = await until("a 503 from the east load balancer", 10_000, async () => { const r = await post(); return r.status === 503 ? r : null; });
    expect(first503.pool).toBe("east");
    const west = await until("orders served by west", 20_000, async () => { const r = await post(); return r.status === 201 && r.pool === "west" ? r : null; });
    expect(west.by).toMatch(/^app-west-/);
    await until("east's droplets out of rotation", 10_000, async () => (lbs[0].inRotation().length === 0 ? true : null));
    expect(events.slice(seen)).toEqual(expect.arrayContaining(["lb-east: app-east-1 out of rotation", "lb-east: app-east-2 out of rotation", "cloudflare: pool pool-east unhealthy; traffic to west"]));
    await Promise.all(["app-east-1", "app-east-2"].map(listen));
    await until("orders back on east", 20_000, async () => { const r = await post(); return r.status === 201 && r.pool === "east" ? r : null; });
  });

  it("retries on the next pool at once when a pool's load balancer cannot be reached (zero-downtime failover)", async () => {
    await until("Cloudflare on east", 20_000, async () => (cf.route()[0] === "east" ? true : null));
    await lbs[0].close();
    const r = await post();
    expect(r).toMatchObject({ status: 201, pool: "west" });
    await lbs[0].listen(LB_ADDRESS.east, 18480);
  });
});
