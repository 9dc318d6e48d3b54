// Runs the edge stand-ins (lab/stand-ins/edge.ts) for a rehearsal, in the operator's namespace:
//   node edge-cli.js CONFIG.json
// CONFIG: { "synthDir": "...", "cloudflare": { "address", "port" }, "loadBalancers": { region: address },
//           "port": 80, "hosts": { dropletName: privateIpv4 } }
// Logs each health change with a timestamp; prints "ready" once every listener is up.
import * as fs from "fs";
import { CloudflareStandIn, RegionalLbStandIn, edgeSpecOf } from "./edge";

interface EdgeConfig {
  readonly synthDir: string;
  readonly cloudflare: { readonly address: string; readonly port: number };
  readonly loadBalancers: Readonly<Record<string, string>>;
  readonly port: number;
  readonly hosts: Readonly<Record<string, string>>;
}

async function main(file: string): Promise<void> {
  const c = JSON.parse(fs.readFileSync(file, "utf8")) as EdgeConfig;
  const spec = edgeSpecOf(c.synthDir);
  const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
  const addressOf = (name: string) => {
    const a = c.hosts[name];
    if (!a) throw new Error(`${file}: no address for droplet ${name}`);
    return a;
  };
  for (const lb of spec.loadBalancers) {
    const address = c.loadBalancers[lb.region];
    if (!address) throw new Error(`${file}: no address for the load balancer of ${lb.region}`);
    await new RegionalLbStandIn(lb, addressOf, log).listen(address, c.port);
    log(`${lb.name} on ${address}:${c.port} -> ${lb.targets.join(", ")}:${lb.targetPort} (health ${lb.health.path} every ${lb.health.intervalSeconds} s, out after ${lb.health.unhealthyThreshold}, in after ${lb.health.healthyThreshold})`);
  }
  const cf = spec.cloudflare;
  await new CloudflareStandIn(cf, (region) => ({ host: c.loadBalancers[region], port: c.port }), log).listen(c.cloudflare.address, c.cloudflare.port);
  log(`cloudflare on ${c.cloudflare.address}:${c.cloudflare.port}: pools ${cf.pools.map((p) => p.region).join(" > ")}, fallback ${cf.fallbackRegion}, monitor ${cf.monitor.path} every ${cf.monitor.intervalSeconds} s, ${cf.monitor.retries} retries, timeout ${cf.monitor.timeoutSeconds} s`);
  console.log("ready");
}

main(process.argv[2]).catch((e) => {
  console.error(`edge stand-in: ${(e as Error).message}`);
  process.exit(1);
});
