// The two sides held together: the inventory names exactly the droplets Terraform creates, and every
// port a host listens on beyond loopback is exactly what its tier's firewall opens.
import * as yaml from "js-yaml";
import { hostsOf, type Host, type Service } from "../../lib/model/hosts";
import { tierRegionTag } from "../../lib/model/naming";
import { PORTS } from "../../lib/model/ports";
import { generateTree } from "../../playbooks-gen/generate";
import { synthStacks } from "../support/synth";
import { example, EXAMPLE_OUTPUTS, exampleOutputs } from "./fixtures";

const t = example();
const tree = generateTree(t, exampleOutputs(), EXAMPLE_OUTPUTS);

/** Listeners the tree does not render because the Debian package's default is used as is. */
const PACKAGE_DEFAULTS: ReadonlyArray<[Service | "ssh", number]> = [
  ["ssh", PORTS.ssh], ["node_exporter", PORTS.nodeExporter], ["postgres_exporter", PORTS.postgresExporter],
  ["redis_exporter", PORTS.redisExporter], ["alertmanager", PORTS.alertmanager], ["app", t.app.port],
];

const port = (address: string) => Number(/:(\d+)$/.exec(address.replace(/^https?:\/\//, ""))?.[1]);
const exposed = (address: string) => !address.replace(/^https?:\/\//, "").startsWith("127.");

/** Every non-loopback "protocol/port" the host's rendered configs (and package defaults) listen on. */
function listeners(host: Host): Set<string> {
  const file = (name: string) => tree[`files/${host.name}/${name}`];
  const found = new Set<string>();
  const add = (address: string) => { if (exposed(address)) found.add(`tcp/${port(address)}`); };
  if (file("etcd.yml")) {
    const c = yaml.load(file("etcd.yml")) as Record<string, string>;
    add(c["listen-client-urls"]);
    add(c["listen-peer-urls"]);
  }
  if (file("patroni.yml")) {
    const c = yaml.load(file("patroni.yml")) as { restapi: { listen: string }; postgresql: { listen: string } };
    add(c.restapi.listen);
    add(c.postgresql.listen);
  }
  for (const m of (file("haproxy.cfg") ?? "").matchAll(/^\s*bind (\S+)$/gm)) add(m[1]);
  for (const name of ["redis.conf", "sentinel.conf"]) {
    const text = file(name);
    if (!text) continue;
    const bind = /^bind (\S+)$/m.exec(text)![1];
    // Plain text on `port` (0: none), TLS on `tls-port`.
    for (const directive of ["port", "tls-port"]) {
      const p = new RegExp(`^${directive} (\\d+)$`, "m").exec(text)?.[1];
      if (p && p !== "0") add(`${bind}:${p}`);
    }
  }
  const prometheus = /--web\.listen-address=(\S+?)"/.exec(tree["files/prometheus/prometheus.default"] ?? "");
  if (host.services.includes("prometheus")) add(prometheus ? prometheus[1] : `0.0.0.0:${PORTS.prometheus}`);
  const am = /--cluster\.listen-address=(\S+?)[ "]/.exec(file("alertmanager.default") ?? "");
  // Memberlist over TCP and UDP, or over TCP only with --cluster.tls-config (its TLS transport).
  const amArgs = file("alertmanager.default") ?? "";
  if (am && exposed(am[1])) (amArgs.includes("--cluster.tls-config=") ? ["tcp"] : ["tcp", "udp"]).forEach((p) => found.add(`${p}/${port(am[1])}`));
  for (const [service, p] of PACKAGE_DEFAULTS) if (service === "ssh" || host.services.includes(service)) found.add(`tcp/${p}`);
  // The failover hook, on the hosts the monitoring playbook's play for its role names.
  const plays = yaml.load(tree["playbooks/monitoring.yml"]) as Array<{ hosts: string; roles: Array<string | { role: string }> }>;
  const hookPlay = plays.find((p) => p.roles.some((r) => (typeof r === "string" ? r : r.role) === "failover_hook"));
  if (hookPlay?.hosts === host.name) add(/^listen = (\S+)$/m.exec(tree["files/failover-hook/failover-hook.ini"])![1]);
  return found;
}

describe("contract between the Terraform stacks and the Ansible tree", () => {
  const { stacks } = synthStacks(t);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const resources = (type: string) => stacks.flatMap((s) => Object.values(((s.json as any).resource?.[type] ?? {}) as Record<string, any>).map((r) => ({ stack: s.name, r })));

  it("names in the inventory exactly the droplets Terraform creates", () => {
    const inventory = yaml.load(tree["inventory/hosts.yml"]) as { all: { hosts: Record<string, unknown> } };
    expect(Object.keys(inventory.all.hosts).sort()).toEqual(resources("digitalocean_droplet").map(({ r }) => r.name).sort());
  });

  // A firewall applies to a tier's tag in a region, so it opens the union of what those hosts listen on
  // (in stretched mode only the first Redis host of a region runs a Sentinel).
  it("opens in each tier's firewall exactly the ports that tier's hosts listen on", () => {
    for (const region of t.regions) {
      const stack = stacks.find((s) => s.name === `region-${region.slug}`)!;
      for (const tier of Object.keys(region.tiers)) {
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const firewall = (stack.json as any).resource.digitalocean_firewall[`fw-${tier}`];
        const opened = new Set<string>(firewall.inbound_rule.map((rule: { protocol: string; port_range: string }) => `${rule.protocol}/${rule.port_range}`));
        const listening = new Set(hostsOf(t).filter((h) => h.region === region.slug && h.tier === tier).flatMap((h) => [...listeners(h)]));
        expect([`${region.slug}/${tier}`, [...listening].sort()]).toEqual([`${region.slug}/${tier}`, [...opened].sort()]);
      }
    }
  });

  // Prometheus runs on every monitoring host and scrapes or probes (through its local blackbox
  // exporter) every target of prometheus.yml: each must be open from there, or its alert fires forever.
  it("allows every Prometheus scrape and probe target port in the target tier's firewall from every monitoring host", () => {
    const config = yaml.load(tree["files/prometheus/prometheus.yml"]) as { scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }> };
    const hostOf = new Map(hostsOf(t).map((h) => [h.name, h]));
    const monitors = hostsOf(t).filter((h) => h.services.includes("prometheus"));
    const refused: string[] = [];
    for (const job of config.scrape_configs) {
      for (const target of job.static_configs.flatMap((c) => c.targets)) {
        const [, name, targetPort] = /^(?:https?:\/\/)?([^:/]+):(\d+)/.exec(target)!;
        const host = hostOf.get(name)!;
        const stack = stacks.find((s) => s.name === `region-${host.region}`)!;
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const rules = ((stack.json as any).resource.digitalocean_firewall[`fw-${host.tier}`].inbound_rule as Array<Record<string, any>>)
          .filter((rule) => rule.protocol === "tcp" && rule.port_range === targetPort);
        for (const monitor of monitors) {
          // By the monitoring host's tag, in its own region or across the peering alike.
          const from = (rule: Record<string, string[]>) => (rule.source_tags ?? []).includes(tierRegionTag(t, monitor.tier, monitor.region));
          if (!rules.some(from)) refused.push(`${job.job_name}: ${monitor.name} → ${target}`);
        }
      }
    }
    expect(monitors.length).toBeGreaterThan(1);
    expect(refused).toEqual([]);
  });

  // Every Alertmanager posts critical database alerts to the hook's URL, so the first of the cluster
  // delivers at once: the hook host's firewall must admit each of them, and nothing else.
  it("lets every Alertmanager, and only them, reach the failover hook the webhook names", () => {
    const am = yaml.load(tree["files/alertmanager/alertmanager.yml"]) as { receivers: Array<{ name: string; webhook_configs?: Array<{ url: string }> }> };
    const [, name, hookPort] = /^https:\/\/([^:/]+):(\d+)\/failover$/.exec(am.receivers.find((r) => r.name === "database-failover")!.webhook_configs![0].url)!;
    const host = hostsOf(t).find((h) => h.name === name)!;
    const stack = stacks.find((s) => s.name === `region-${host.region}`)!;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const rules = ((stack.json as any).resource.digitalocean_firewall[`fw-${host.tier}`].inbound_rule as Array<Record<string, any>>)
      .filter((rule) => rule.protocol === "tcp" && rule.port_range === hookPort);
    const allowed = new Set(rules.flatMap((r) => r.source_tags ?? []));
    const alertmanagers = hostsOf(t).filter((h) => h.services.includes("alertmanager"));
    expect(alertmanagers.length).toBeGreaterThan(1);
    expect([...allowed].sort()).toEqual([...new Set(alertmanagers.map((h) => tierRegionTag(t, h.tier, h.region)))].sort());
    expect(rules.flatMap((r) => [...(r.source_addresses ?? []), ...(r.source_load_balancer_uids ?? [])])).toEqual([]);
  });

  it("connects as the user cloud-init creates on every droplet (root SSH is disabled there)", () => {
    const all = yaml.load(tree["inventory/group_vars/all.yml"]) as { ansible_user: string; ansible_become_method: string };
    for (const { r } of resources("digitalocean_droplet")) {
      const cloudInit = yaml.load(String(r.user_data).replace(/\$\{[^}]*\}/g, "key")) as { disable_root: boolean; users: Array<{ name: string; sudo: string }> };
      expect(cloudInit.disable_root).toBe(true);
      expect(cloudInit.users.map((u) => u.name)).toEqual([all.ansible_user]);
      expect(cloudInit.users[0].sudo).toMatch(/NOPASSWD/);
    }
    expect(all.ansible_become_method).toBe("sudo");
  });
});
