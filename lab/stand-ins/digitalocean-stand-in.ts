// A stand-in for the two DigitalOcean API calls the failover hook fences with: `POST
// /v2/droplets/actions?tag_name=T` {"type":"power_off"} and `GET /v2/actions/ID`. A backend's hosts
// carry the tags their droplets carry in the region stacks; a power-off is the backend's powerOff()
// and, like the real API, completes some time after the 202 that queued it.
import * as http from "http";
import { projectTag, tierRegionTag } from "../../lib/model/naming";
import type { DrillBackend } from "../backends/types";

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

  private constructor(private readonly backend: DrillBackend, private readonly server: http.Server, private readonly options: StandInOptions) {}

  /** Serves the API where the backend's failover hook expects it (its fenceApi capability). */
  static async start(backend: DrillBackend, options: StandInOptions): Promise<DigitalOceanStandIn> {
    if (!backend.fenceApi) throw new Error(`the ${backend.kind} backend has no address for a DigitalOcean API stand-in (no failover hook in this topology, or no fenceApi capability)`);
    const url = new URL(backend.fenceApi.url);
    let standIn: DigitalOceanStandIn | null = null;
    const server = http.createServer((req, res) => void standIn!.handle(req, res));
    standIn = new DigitalOceanStandIn(backend, server, options);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(Number(url.port || 80), url.hostname, resolve);
    });
    return standIn;
  }

  /** Droplet tags of a host, as the region stack sets them. */
  private tagsOf(host: string): string[] {
    const h = this.backend.host(host);
    return [projectTag(this.backend.t), tierRegionTag(this.backend.t, h.tier, h.region)];
  }

  /** Hosts a power-off reached, with when it completed (seconds since the epoch). */
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
      const hosts = this.backend.hosts().filter((h) => this.tagsOf(h.name).includes(tag)).map((h) => h.name);
      const queued = hosts.map((host) => this.queuePowerOff(host));
      return reply(202, { actions: queued.map((a) => this.render(a)) });
    }
    return reply(404, { id: "not_found", message: `the stand-in does not serve ${req.method} ${url.pathname}` });
  }

  private queuePowerOff(host: string): Action {
    const action: Action = { id: this.nextId++, host, status: "in-progress", startedAt: Date.now() / 1000 };
    this.actions.set(action.id, action);
    setTimeout(() => {
      this.backend.powerOff(host).then(() => {
        action.status = "completed";
        action.completedAt = Date.now() / 1000;
      }, () => { action.status = "errored"; });
    }, this.options.powerOffDelayMs);
    return action;
  }

  private render(a: Action) {
    const iso = (s: number | undefined) => (s === undefined ? null : new Date(s * 1000).toISOString());
    return { id: a.id, status: a.status, type: "power_off", started_at: iso(a.startedAt), completed_at: iso(a.completedAt), resource_type: "droplet", region_slug: this.backend.host(a.host).region };
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}
