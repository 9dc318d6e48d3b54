// A stand-in for the two DigitalOcean API calls the failover hook fences with: `POST
// /v2/droplets/actions?tag_name=T` {"type":"power_off"} and `GET /v2/actions/ID`. Lab hosts carry the
// tags their droplets carry in the region stacks; a power-off SIGKILLs every process of those hosts
// (PostgreSQL included) and, like the real API, completes some time after the 202 that queued it.
import * as http from "http";
import { projectTag, tierRegionTag } from "../../lib/model/naming";
import type { Lab } from "../backends/loopback/lab";
import { DIGITALOCEAN_STAND_IN_PORT } from "../backends/loopback/env";

interface Action {
  readonly id: number;
  readonly host: string;
  status: "in-progress" | "completed" | "errored";
  readonly startedAt: number;
  completedAt?: number;
}

export interface StandInOptions {
  /** The bearer token the hook must send (what Vault writes to its token file in production). */
  readonly token: string;
  /** Delay between queuing a power-off and cutting the droplet's power (the real API's queue). */
  readonly powerOffDelayMs: number;
}

export class DigitalOceanStandIn {
  private readonly actions = new Map<number, Action>();
  /** Every request, in order: `METHOD path → status`. */
  readonly calls: string[] = [];
  private nextId = 1;

  private constructor(private readonly lab: Lab, private readonly server: http.Server, private readonly options: StandInOptions) {}

  static async start(lab: Lab, options: StandInOptions): Promise<DigitalOceanStandIn> {
    const hook = lab.env.failoverHook;
    if (!hook) throw new Error("this topology has no failover hook, so nothing fences through the DigitalOcean API");
    const url = new URL(hook.apiUrl);
    let standIn: DigitalOceanStandIn | null = null;
    const server = http.createServer((req, res) => void standIn!.handle(req, res));
    standIn = new DigitalOceanStandIn(lab, server, options);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(Number(url.port || DIGITALOCEAN_STAND_IN_PORT), url.hostname, resolve);
    });
    return standIn;
  }

  /** Droplet tags of a lab host, as the region stack sets them. */
  private tagsOf(host: string): string[] {
    const h = this.lab.host(host);
    return [projectTag(this.lab.t), tierRegionTag(this.lab.t, h.tier, h.region)];
  }

  /** Lab hosts a power-off reached, with when it completed (seconds since the epoch). */
  poweredOff(): Array<{ host: string; at: number }> {
    return [...this.actions.values()].filter((a) => a.status === "completed").map((a) => ({ host: a.host, at: a.completedAt! }));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const reply = (status: number, body: object) => {
      this.calls.push(`${req.method} ${req.url} → ${status}`);
      res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
    };
    let body = "";
    for await (const chunk of req) body += String(chunk);
    if (req.headers.authorization !== `Bearer ${this.options.token}`) {
      return reply(401, { id: "Unauthorized", message: "Unable to authenticate you" });
    }
    const url = new URL(req.url ?? "/", "http://stand-in");
    const get = /^\/v2\/actions\/(\d+)$/.exec(url.pathname);
    if (req.method === "GET" && get) {
      const a = this.actions.get(Number(get[1]));
      return a ? reply(200, { action: this.render(a) }) : reply(404, { id: "not_found", message: "The resource you were accessing could not be found." });
    }
    if (req.method === "POST" && url.pathname === "/v2/droplets/actions" && url.searchParams.has("tag_name")) {
      let type: unknown;
      try {
        type = (JSON.parse(body || "{}") as { type?: unknown }).type;
      } catch {
        return reply(400, { id: "bad_request", message: "body is not JSON" });
      }
      if (type !== "power_off") return reply(422, { id: "unprocessable_entity", message: `the stand-in only powers off, got ${String(type)}` });
      const tag = url.searchParams.get("tag_name")!;
      const hosts = this.lab.env.hosts.filter((h) => this.tagsOf(h.name).includes(tag)).map((h) => h.name);
      const queued = hosts.map((host) => this.queuePowerOff(host));
      return reply(202, { actions: queued.map((a) => this.render(a)) });
    }
    return reply(404, { id: "not_found", message: `the stand-in does not serve ${req.method} ${url.pathname}` });
  }

  private queuePowerOff(host: string): Action {
    const action: Action = { id: this.nextId++, host, status: "in-progress", startedAt: Date.now() / 1000 };
    this.actions.set(action.id, action);
    setTimeout(() => {
      this.lab.kill(host).then(() => {
        action.status = "completed";
        action.completedAt = Date.now() / 1000;
      }, () => { action.status = "errored"; });
    }, this.options.powerOffDelayMs);
    return action;
  }

  private render(a: Action) {
    const iso = (s: number | undefined) => (s === undefined ? null : new Date(s * 1000).toISOString());
    return { id: a.id, status: a.status, type: "power_off", started_at: iso(a.startedAt), completed_at: iso(a.completedAt), resource_type: "droplet", region_slug: this.lab.host(a.host).region };
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}
