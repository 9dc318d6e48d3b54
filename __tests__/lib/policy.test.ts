// Policy rules (REFERENCE §2) over synthesized JSON: the example passes every rule, and each rule
// catches the fault it exists for. The aspect fails synthesis and writes nothing.
import * as fs from "fs";
import { checkPolicies, formatViolation } from "../../lib/policy/aspect";
import { POLICY_RULES, vpcOverlaps } from "../../lib/policy/rules";
import type { Json, StackJson } from "../../lib/policy/json";
import { buildApp } from "../../lib/stacks/app";
import { synthesize } from "../../lib/synth";
import { example, variant } from "../support/topology";
import { synthStacks, tempDir } from "../support/synth";

const t = example();
const clean = synthStacks(t).stacks;
const copy = (name: string): StackJson => structuredClone(clean.find((s) => s.name === name)!);
const ruleIds = (s: StackJson) => checkPolicies(t, s).map((v) => `${v.rule} ${v.resource}`);

function violating(name: string, mutate: (json: Json) => void): string[] {
  const s = copy(name);
  mutate(s.json);
  return ruleIds(s);
}

describe("policy rules", () => {
  it("finds nothing wrong with the example", () => {
    for (const s of clean) expect({ stack: s.name, violations: ruleIds(s) }).toEqual({ stack: s.name, violations: [] });
    expect(vpcOverlaps(clean)).toEqual([]);
  });

  it("covers the rules the project promises", () => {
    expect(POLICY_RULES.map((r) => r.id)).toEqual(["FW-1", "FW-2", "FW-3", "FW-4", "FW-5", "FW-6", "DR-1", "LB-1", "LB-2", "LB-3", "LB-4", "SP-1", "CF-3", "SEC-1", "SEC-2"]);
  });

  const fw = (j: Json, tier = "app") => j.resource.digitalocean_firewall[`fw-${tier}`];
  const lb = (j: Json) => j.resource.digitalocean_loadbalancer.lb;
  const cases: Array<[string, string, (j: Json) => void, string]> = [
    ["FW-1", "region-nyc1", (j) => fw(j).inbound_rule.push({ protocol: "tcp", port_range: "8080", source_addresses: ["0.0.0.0/0"] }), "digitalocean_firewall.fw-app"],
    ["FW-2", "region-nyc1", (j) => { fw(j).inbound_rule[0] = { protocol: "tcp", port_range: "22", source_tags: ["x"] }; }, "digitalocean_firewall.fw-app"],
    ["FW-3", "region-nyc1", (j) => fw(j, "postgres").inbound_rule.push({ protocol: "tcp", port_range: "5432", source_addresses: ["203.0.113.0/24"] }), "digitalocean_firewall.fw-postgres"],
    ["FW-3", "region-nyc1", (j) => fw(j, "redis").inbound_rule.push({ protocol: "tcp", port_range: "1-65535", source_tags: ["x"] }), "digitalocean_firewall.fw-redis"],
    ["FW-4", "region-nyc1", (j) => { j.resource.digitalocean_droplet["pg-nyc1-1"].tags = ["shop-production"]; }, "digitalocean_droplet.pg-nyc1-1"],
    ["FW-5", "region-nyc1", (j) => fw(j).outbound_rule.push({ protocol: "tcp", port_range: "25", destination_addresses: ["0.0.0.0/0"] }), "digitalocean_firewall.fw-app"],
    ["FW-6", "region-nyc1", (j) => fw(j, "etcd").inbound_rule.push({ protocol: "tcp", port_range: "2379", source_addresses: ["10.219.16.0/20"] }), "digitalocean_firewall.fw-etcd"],
    ["FW-6", "region-nyc1", (j) => fw(j, "redis").inbound_rule.push({ protocol: "tcp", port_range: "6379", source_tags: ["x"], source_addresses: ["10.219.16.8/29"] }), "digitalocean_firewall.fw-redis"],
    ["FW-6", "region-nyc1", (j) => fw(j).inbound_rule.push({ protocol: "tcp", port_range: "8080", source_addresses: ["10.219.0.0/24"] }), "digitalocean_firewall.fw-app"],
    ["DR-1", "region-nyc1", (j) => { j.resource.digitalocean_droplet["app-nyc1-1"].monitoring = false; }, "digitalocean_droplet.app-nyc1-1"],
    ["DR-1", "region-nyc1", (j) => { j.resource.digitalocean_droplet["app-nyc1-1"].ssh_keys = []; }, "digitalocean_droplet.app-nyc1-1"],
    ["DR-1", "region-nyc1", (j) => { j.resource.digitalocean_droplet["app-nyc1-1"].user_data += "\npassword: hunter2\n"; }, "digitalocean_droplet.app-nyc1-1"],
    ["DR-1", "region-nyc1", (j) => { delete j.resource.digitalocean_droplet["app-nyc1-1"].vpc_uuid; }, "digitalocean_droplet.app-nyc1-1"],
    ["LB-1", "region-nyc1", (j) => { lb(j).redirect_http_to_https = false; }, "digitalocean_loadbalancer.lb"],
    ["LB-2", "region-nyc1", (j) => { delete lb(j).forwarding_rule[0].certificate_name; }, "digitalocean_loadbalancer.lb"],
    ["LB-2", "region-nyc1", (j) => { lb(j).tls_cipher_policy = "DEFAULT"; }, "digitalocean_loadbalancer.lb"],
    ["LB-3", "region-nyc1", (j) => { lb(j).firewall = { allow: ["cidr:0.0.0.0/0"] }; }, "digitalocean_loadbalancer.lb"],
    ["LB-3", "region-nyc1", (j) => { delete lb(j).firewall; }, "digitalocean_loadbalancer.lb"],
    ["LB-4", "region-nyc1", (j) => { delete lb(j).healthcheck.path; }, "digitalocean_loadbalancer.lb"],
    ["SP-1", "global", (j) => { j.resource.digitalocean_spaces_bucket.backups.acl = "public-read"; }, "digitalocean_spaces_bucket.backups"],
    ["SP-1", "global", (j) => { j.resource.digitalocean_spaces_bucket.backups.versioning.enabled = false; }, "digitalocean_spaces_bucket.backups"],
    ["SP-1", "global", (j) => { j.resource.digitalocean_spaces_key["backups-key"].grant = [{ bucket: "", permission: "fullaccess" }]; }, "digitalocean_spaces_key.backups-key"],
    ["CF-3", "global", (j) => { delete j.resource.cloudflare_load_balancer_pool["pool-ams3"].monitor; }, "cloudflare_load_balancer_pool.pool-ams3"],
    ["CF-3", "global", (j) => { j.resource.cloudflare_load_balancer.edge.default_pools.pop(); }, "cloudflare_load_balancer.edge"],
    ["CF-3", "global", (j) => { j.resource.cloudflare_load_balancer.edge.proxied = false; }, "cloudflare_load_balancer.edge"],
    ["CF-3", "global", (j) => { delete j.resource.cloudflare_load_balancer_monitor.monitor.path; }, "cloudflare_load_balancer_monitor.monitor"],
    ["SEC-1", "global", (j) => { j.provider.digitalocean[0].token = "x"; }, "provider.digitalocean"],
    ["SEC-1", "global", (j) => { j.resource.digitalocean_project.project.description = `dop_v1_${"0".repeat(64)}`; }, "(stack)"],
    ["SEC-2", "global", (j) => { j.output.backups_secret_key.sensitive = false; }, "output.backups_secret_key"],
  ];

  it.each(cases)("%s catches a fault in %s", (rule, stack, mutate, resource) => {
    expect(violating(stack, mutate)).toContain(`${rule} ${resource}`);
  });

  it("FW-6 names the firewall, the port and the source it refuses, and accepts single addresses and SSH ranges", () => {
    const s = copy("region-nyc1");
    const etcd = s.json.resource.digitalocean_firewall["fw-etcd"];
    etcd.inbound_rule.push({ protocol: "tcp", port_range: "2379", source_addresses: ["10.219.16.0/20"] });
    etcd.inbound_rule.push({ protocol: "tcp", port_range: "2380", source_addresses: ["10.219.16.5/32", "10.219.16.6"] });
    expect(checkPolicies(t, s).filter((f) => f.rule === "FW-6").map(formatViolation)).toEqual([
      'FW-6 digitalocean_firewall.fw-etcd (stack region-nyc1): firewall "shop-production-etcd-nyc1": inbound tcp 2379 admits 10.219.16.0/20 (a whole VPC range); name the droplet tags of the tiers that use port 2379 (source_tags, from the port table) or single addresses (/32)',
    ]);
  });

  it("VPC-1 catches overlapping VPC ranges across stacks", () => {
    const network = copy("network");
    network.json.resource.digitalocean_vpc["vpc-ams3"].ip_range = "10.219.8.0/21";
    expect(vpcOverlaps([network]).map((v) => `${v.rule} ${v.stack} ${v.resource}`)).toEqual(["VPC-1 network digitalocean_vpc.vpc-nyc1"]);
  });
});

describe("PolicyAspect", () => {
  const openSsh = (dir: string) => {
    const shop = buildApp(t, dir);
    const nyc1 = shop.regions.find((r) => r.region.slug === "nyc1")!;
    (nyc1.node.findChild("firewall-app").node.findChild("Resource") as unknown as { addOverride(p: string, v: unknown): void })
      .addOverride("inbound_rule", [{ protocol: "tcp", port_range: "22", source_addresses: ["0.0.0.0/0"] }]);
    return shop.app;
  };

  it("fails synthesis with the rule id and the resource, and writes nothing", () => {
    const out = tempDir();
    expect(() => synthesize(t, out, openSsh)).toThrow(/FW-1 digitalocean_firewall\.fw-app \(stack region-nyc1\): inbound tcp 22 admits 0\.0\.0\.0\/0/);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it("fails synthesis when a service port admits a whole peered VPC range, naming firewall, port and source", () => {
    const out = tempDir();
    expect(() => synthesize(t, out, (dir) => {
      const shop = buildApp(t, dir);
      const nyc1 = shop.regions.find((r) => r.region.slug === "nyc1")!;
      (nyc1.node.findChild("firewall-etcd").node.findChild("Resource") as unknown as { addOverride(p: string, v: unknown): void })
        .addOverride("inbound_rule", [{ protocol: "tcp", port_range: "2379", source_addresses: ["10.219.16.0/20"] }]);
      return shop.app;
    })).toThrow(/FW-6 digitalocean_firewall\.fw-etcd \(stack region-nyc1\): firewall "shop-production-etcd-nyc1": inbound tcp 2379 admits 10\.219\.16\.0\/20 \(a whole VPC range\)/);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it("lets a declared exception through", () => {
    const excepted = variant((d) => {
      d.policyExceptions = ["FW-1", "FW-2"].map((rule) => ({ rule, resource: "digitalocean_firewall.fw-app", reason: "temporary: bastion migration, ticket OPS-42" }));
    });
    const out = tempDir();
    expect(() => synthesize(excepted, out, (dir) => {
      const shop = buildApp(excepted, dir);
      (shop.regions[0].node.findChild("firewall-app").node.findChild("Resource") as unknown as { addOverride(p: string, v: unknown): void })
        .addOverride("inbound_rule", [{ protocol: "tcp", port_range: "22", source_addresses: ["0.0.0.0/0"] }]);
      return shop.app;
    })).not.toThrow();
    expect(fs.readdirSync(out).sort()).toEqual(["manifest.json", "stacks"]);
  });
});
