import * as fs from "fs";
import * as path from "path";
import { hostsOf, OUTPUT_HOSTS, OUTPUT_LOAD_BALANCER_IP, PORTS, tierRegionTag, TIERS, type Tier } from "../../lib/model";
import { example, variant } from "../support/topology";
import { synthStacks } from "../support/synth";
import type { Json } from "../../lib/policy/json";

const { outdir, stacks } = synthStacks(example());
const stack = (name: string): Json => stacks.find((s) => s.name === name)!.json;

describe("stacks", () => {
  it("has a network stack, one stack per region and one global stack", () => {
    expect(stacks.map((s) => s.name)).toEqual(["global", "network", "region-ams3", "region-lon1", "region-nyc1"]);
  });

  it("puts every host of a region in that region's stack, named as in the model", () => {
    for (const region of ["nyc1", "ams3", "lon1"]) {
      const names = Object.values(stack(`region-${region}`).resource.digitalocean_droplet).map((d) => (d as Json).name).sort();
      expect(names).toEqual(hostsOf(example()).filter((h) => h.region === region).map((h) => h.name).sort());
    }
  });

  it("never replaces a droplet for an SSH key rotation: every droplet ignores ssh_keys and user_data changes", () => {
    const droplets = stacks.flatMap((s) => Object.entries((s.json.resource?.digitalocean_droplet ?? {}) as Record<string, Json>));
    expect(droplets).toHaveLength(hostsOf(example()).length);
    for (const [name, droplet] of droplets) expect([name, droplet.lifecycle.ignore_changes]).toEqual([name, ["ssh_keys", "user_data"]]);
    expect(stack("region-nyc1").resource.digitalocean_droplet["pg-nyc1-1"].lifecycle.prevent_destroy).toBe(true);
  });

  it("exports every host with public and private addresses, and the load balancer IP", () => {
    const outputs = stack("region-nyc1").output;
    expect(outputs[OUTPUT_HOSTS].value["pg-nyc1-1"]).toEqual({
      name: "pg-nyc1-1", region: "nyc1", tier: "postgres",
      public_ipv4: "${digitalocean_droplet.pg-nyc1-1.ipv4_address}", private_ipv4: "${digitalocean_droplet.pg-nyc1-1.ipv4_address_private}",
    });
    expect(outputs[OUTPUT_HOSTS].sensitive).toBeUndefined();
    expect(outputs[OUTPUT_LOAD_BALANCER_IP].value).toBe("${digitalocean_loadbalancer.lb.ip}");
    expect(stack("region-lon1").output[OUTPUT_LOAD_BALANCER_IP]).toBeUndefined(); // the witness serves no web traffic
  });

  it("peers every pair of region VPCs in the network stack, beside the VPCs", () => {
    expect(Object.keys(stack("network").resource.digitalocean_vpc_peering).sort()).toEqual(["peering-ams3-lon1", "peering-nyc1-ams3", "peering-nyc1-lon1"]);
    expect(Object.keys(stack("network").resource.digitalocean_vpc).sort()).toEqual(["vpc-ams3", "vpc-lon1", "vpc-nyc1"]);
    for (const s of stacks.filter((x) => x.name !== "network")) {
      expect([s.name, s.json.resource.digitalocean_vpc_peering, s.json.resource.digitalocean_vpc]).toEqual([s.name, undefined, undefined]);
    }
  });

  it("creates no droplet before the peerings: every region stack takes its VPC from the network stack, which cdktf applies first", () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(outdir, "manifest.json"), "utf8"));
    for (const region of ["nyc1", "ams3", "lon1"]) {
      const s = stack(`region-${region}`);
      expect(manifest.stacks[`region-${region}`].dependencies).toContain("network");
      for (const droplet of Object.values(s.resource.digitalocean_droplet) as Json[]) {
        expect(droplet.vpc_uuid).toMatch(/^\$\{data\.terraform_remote_state\.cross-stack-reference-input-network\.outputs\.[\w-]+\}$/);
      }
    }
    expect(manifest.stacks.network.dependencies).toEqual([]);
  });

  // Issue 11 item 7: cross-region rules name the tags of the tiers that use a port, not whole VPCs.
  const firewalls = () => stacks.flatMap((s) => Object.entries((s.json.resource?.digitalocean_firewall ?? {}) as Record<string, Json>).map(([id, fw]) => ({ stack: s.name, id, fw })));
  const inboundOn = (port: number) => firewalls().flatMap(({ stack: s, id, fw }) => (fw.inbound_rule as Json[]).filter((r) => r.port_range === String(port)).map((rule) => ({ s, id, name: fw.name as string, rule })));
  const tagsOf = (tiers: readonly Tier[]) => example().regions.flatMap((r) => TIERS.filter((tier) => tiers.includes(tier) && (r.tiers[tier]?.count ?? 0) > 0).map((tier) => tierRegionTag(example(), tier, r.slug)));

  it("admits the etcd client port only from the tags of the postgres, etcd, witness and monitoring tiers of every region, never an app tag or a range", () => {
    const etcd = inboundOn(PORTS.etcdClient);
    expect(etcd.map((e) => `${e.s} ${e.id}`).sort()).toEqual(["region-ams3 fw-etcd", "region-lon1 fw-witness", "region-nyc1 fw-etcd"]);
    const expected = tagsOf(["postgres", "etcd", "witness", "monitoring"]);
    expect(expected).toEqual(expect.arrayContaining(["shop-production-pg-ams3", "shop-production-witness-lon1", "shop-production-mon-nyc1"]));
    for (const { name, rule } of etcd) {
      expect([name, [...rule.source_tags].sort()]).toEqual([name, [...expected].sort()]);
      expect([name, rule.source_addresses]).toEqual([name, undefined]);
      expect([name, rule.source_tags.filter((tag: string) => /-(app|worker)-/.test(tag))]).toEqual([name, []]);
    }
  });

  it("admits no service port from an address range in any firewall: only SSH names addresses, the operators' CIDRs", () => {
    const withAddresses = firewalls().flatMap(({ fw }) => (fw.inbound_rule as Json[]).filter((r) => r.source_addresses !== undefined).map((r) => `${fw.name} ${r.protocol}/${r.port_range}`));
    expect(withAddresses.length).toBe(firewalls().length);
    expect(withAddresses.every((w) => w.endsWith(" tcp/22"))).toBe(true);
    const sshSources = new Set(firewalls().flatMap(({ fw }) => (fw.inbound_rule as Json[]).flatMap((r) => r.source_addresses ?? [])));
    expect([...sshSources]).toEqual([...example().ssh.adminCidrs]);
  });

  it("keeps web traffic to the app from the load balancer and the monitoring tags only", () => {
    const app = inboundOn(example().app.port);
    expect(app.map((a) => a.s).sort()).toEqual(["region-ams3", "region-nyc1"]);
    for (const { rule } of app) {
      expect(rule.source_load_balancer_uids).toEqual(["${digitalocean_loadbalancer.lb.id}"]);
      expect(rule.source_tags).toEqual(tagsOf(["monitoring"]));
    }
  });

  it("defines every tier tag in the network stack, and every tag a droplet, load balancer or firewall names is one of them", () => {
    const defined = Object.values(stack("network").resource.digitalocean_tag as Record<string, Json>).map((tag) => tag.name as string);
    expect([...defined].sort()).toEqual(tagsOf(TIERS).sort());
    expect(Object.keys(stack("network").resource.digitalocean_tag)).toContain("tag-postgres-nyc1");
    const regionStacks = stacks.filter((s) => s.name.startsWith("region-"));
    for (const s of stacks.filter((x) => x.name !== "network")) expect([s.name, s.json.resource.digitalocean_tag]).toEqual([s.name, undefined]);
    const named = new Set<string>();
    for (const s of regionStacks) {
      for (const d of Object.values(s.json.resource.digitalocean_droplet) as Json[]) (d.tags as string[]).filter((tag) => tag !== "shop-production").forEach((tag) => named.add(tag));
      for (const lb of Object.values((s.json.resource.digitalocean_loadbalancer ?? {}) as Record<string, Json>)) named.add(lb.droplet_tag);
      for (const fw of Object.values(s.json.resource.digitalocean_firewall) as Json[]) {
        (fw.tags as string[]).forEach((tag) => named.add(tag));
        for (const r of fw.inbound_rule as Json[]) (r.source_tags ?? []).forEach((tag: string) => named.add(tag));
      }
    }
    expect(named.size).toBe(defined.length);
    expect([...named].filter((tag) => !defined.includes(tag))).toEqual([]);
    const manifest = JSON.parse(fs.readFileSync(path.join(outdir, "manifest.json"), "utf8"));
    for (const s of regionStacks) expect(manifest.stacks[s.name].dependencies).toContain("network");
  });

  it("anchors local state at the project root so remote-state readers and backends meet", () => {
    const backends = new Map(stacks.map((s) => [s.name, path.posix.join("cdktf.out/stacks", s.name, s.json.terraform.backend.local.path)]));
    expect(backends.get("region-nyc1")).toBe("terraform-state/shop-production/region-nyc1.tfstate");
    const remote = stack("global").data.terraform_remote_state as Record<string, Json>;
    expect(Object.keys(remote)).toHaveLength(3);
    for (const [id, ds] of Object.entries(remote)) {
      const producer = id.replace("cross-stack-reference-input-", "");
      expect(path.posix.join("cdktf.out/stacks/global", ds.config.path)).toBe(backends.get(producer));
    }
  });

  it("stores state in Spaces with an S3 backend when asked, and reads remote state from the same keys", () => {
    const { stacks: s3 } = synthStacks(variant((d) => { d.stateBackend = { type: "s3", bucket: "shop-tfstate", region: "fra1" }; }));
    const region = s3.find((s) => s.name === "region-nyc1")!.json.terraform.backend.s3;
    expect(region).toMatchObject({ bucket: "shop-tfstate", key: "shop/production/region-nyc1.tfstate", endpoints: { s3: "https://fra1.digitaloceanspaces.com" } });
    const remote = s3.find((s) => s.name === "global")!.json.data.terraform_remote_state["cross-stack-reference-input-region-nyc1"];
    expect(remote.backend).toBe("s3");
    expect(remote.config).toMatchObject({ bucket: "shop-tfstate", key: "shop/production/region-nyc1.tfstate" });
  });

  it("orders Cloudflare pools primary first, with the load balancers' IPs from the region stacks", () => {
    const lb = stack("global").resource.cloudflare_load_balancer.edge;
    expect(lb.default_pools).toEqual(["${cloudflare_load_balancer_pool.pool-nyc1.id}", "${cloudflare_load_balancer_pool.pool-ams3.id}"]);
    expect(stack("global").resource.cloudflare_load_balancer_pool["pool-nyc1"].origins[0].address)
      .toMatch(/^\$\{data\.terraform_remote_state\.cross-stack-reference-input-region-nyc1\.outputs\.[\w-]+\}$/);
  });

  it("groups every droplet, volume, load balancer and the bucket in the DigitalOcean project", () => {
    const resources: string[] = stack("global").resource.digitalocean_project.project.resources;
    expect(resources).toHaveLength(hostsOf(example()).length + 3 /* volumes */ + 2 /* load balancers */ + 1 /* bucket */);
  });

  it("builds a standby-cluster topology's two regions without a witness", () => {
    const { stacks: sc } = synthStacks(variant((d) => {
      d.database.mode = "standby-cluster"; for (const r of d.regions) if (r.tiers.etcd) r.tiers.etcd.count = 3;
      d.regions = d.regions.filter((r: Json) => r.role !== "witness");
      d.regions[1].tiers.redis.count = 3; // Sentinels outside nyc1 must be a majority
    }));
    expect(sc.map((s) => s.name)).toEqual(["global", "network", "region-ams3", "region-nyc1"]);
  });
});
