// Each construct: one snapshot (a review surface) beside assertions on the behaviour that matters.
import "cdktf/lib/testing/adapters/jest";
import { Testing } from "cdktf";
import { TierDroplets } from "../../lib/compute/tier-droplets";
import { PostgresVolumes } from "../../lib/data/postgres-volumes";
import { BackupsBucket } from "../../lib/data/backups-bucket";
import { RegionalLoadBalancer } from "../../lib/edge/regional-load-balancer";
import { CloudflareEdge } from "../../lib/edge/cloudflare-edge";
import { TierFirewall } from "../../lib/network/tier-firewall";
import { hostsOf } from "../../lib/model";
import { Droplet, Firewall, Loadbalancer, LoadBalancer, LoadBalancerMonitor, LoadBalancerPool, SpacesBucket, SpacesKey, Volume } from "../../lib/providers";
import { example } from "../support/topology";

const t = example();
const parse = (s: string) => JSON.parse(s);

describe("TierDroplets", () => {
  const synth = () => Testing.synthScope((scope) => {
    new TierDroplets(scope, "postgres", {
      hosts: hostsOf(t).filter((h) => h.tier === "postgres" && h.region === "nyc1"),
      vpcId: "vpc-id", sshKeyFingerprints: ["fp"], sshPublicKeys: ["ssh-ed25519 AAAA"], tags: ["shop-production", "shop-production-pg-nyc1"], preventDestroy: true,
    });
  });

  it("creates one monitored droplet per host, in the VPC, named and addressed by host name", () => {
    const out = synth();
    expect(out).toHaveResourceWithProperties(Droplet, { name: "pg-nyc1-1", region: "nyc1", size: "s-4vcpu-8gb", image: "debian-12-x64", monitoring: true, vpc_uuid: "vpc-id", ssh_keys: ["fp"] });
    expect(Object.keys(parse(out).resource.digitalocean_droplet)).toEqual(["pg-nyc1-1", "pg-nyc1-2"]);
  });

  it("keeps database droplets on destroy", () => {
    expect(parse(synth()).resource.digitalocean_droplet["pg-nyc1-1"].lifecycle).toMatchObject({ prevent_destroy: true });
  });

  it("creates an unprivileged deploy user with the SSH keys through cloud-init", () => {
    const userData: string = parse(synth()).resource.digitalocean_droplet["pg-nyc1-1"].user_data;
    expect(userData.startsWith("#cloud-config\n")).toBe(true);
    expect(userData).toContain("name: deploy");
    expect(userData).toContain("- ssh-ed25519 AAAA");
    expect(userData).toContain("disable_root: true");
    expect(userData).toMatch(/packages:\n {2}- python3\n/);
  });

  it("fails without SSH keys", () => {
    expect(() => Testing.synthScope((scope) => new TierDroplets(scope, "app", { hosts: [], vpcId: "v", sshKeyFingerprints: [], sshPublicKeys: [], tags: [] })))
      .toThrow(/sshKeyFingerprints must not be empty/);
  });

  it("matches the snapshot", () => expect(synth()).toMatchSnapshot());
});

describe("PostgresVolumes", () => {
  const synth = () => Testing.synthScope((scope) => {
    const droplets = new TierDroplets(scope, "postgres", { hosts: hostsOf(t).filter((h) => h.name === "pg-nyc1-1"), vpcId: "v", sshKeyFingerprints: ["fp"], sshPublicKeys: ["k"], tags: ["x"] }).droplets;
    new PostgresVolumes(scope, "volumes", { region: "nyc1", droplets, sizeGb: 100 });
  });

  it("keeps data volumes on destroy", () => {
    expect(synth()).toHaveResourceWithProperties(Volume, { name: "pg-nyc1-1-pgdata", size: 100, region: "nyc1", lifecycle: { prevent_destroy: true } });
  });

  it("attaches each volume to its droplet by numeric id", () => {
    expect(parse(synth()).resource.digitalocean_volume_attachment["pg-nyc1-1-pgdata-attachment"]).toMatchObject({
      droplet_id: "${digitalocean_droplet.pg-nyc1-1.id}",
      volume_id: "${digitalocean_volume.pg-nyc1-1-pgdata.id}",
    });
  });

  it("matches the snapshot", () => expect(synth()).toMatchSnapshot());
});

describe("TierFirewall", () => {
  const synth = (tier: "postgres" | "app") => Testing.synthScope((scope) => {
    new TierFirewall(scope, "fw", {
      topology: t, region: "nyc1", tier, targetTag: `tag-${tier}`, loadBalancerId: "lb-id",
    });
  });
  const rules = (tier: "postgres" | "app") => parse(synth(tier)).resource.digitalocean_firewall[`fw-${tier}`].inbound_rule as Array<Record<string, unknown>>;

  it("targets the tier by tag, not by droplet ids", () => {
    expect(synth("postgres")).toHaveResourceWithProperties(Firewall, { name: "shop-production-pg-nyc1", tags: ["tag-postgres"] });
  });

  it("admits PostgreSQL only from the database and HAProxy tiers' tags, in every region, and from no address range", () => {
    expect(rules("postgres").find((r) => r.port_range === "5432")).toEqual({
      port_range: "5432", protocol: "tcp",
      source_tags: ["shop-production-app-nyc1", "shop-production-worker-nyc1", "shop-production-pg-nyc1", "shop-production-app-ams3", "shop-production-worker-ams3", "shop-production-pg-ams3"],
    });
  });

  it("admits no service port from an address range: only SSH names addresses", () => {
    for (const tier of ["postgres", "app"] as const) {
      expect(rules(tier).filter((r) => r.source_addresses !== undefined).map((r) => r.port_range)).toEqual(["22"]);
    }
  });

  it("admits SSH only from the admin CIDRs", () => {
    expect(rules("postgres").find((r) => r.port_range === "22")).toEqual({ port_range: "22", protocol: "tcp", source_addresses: ["198.51.100.0/24"] });
  });

  it("admits web traffic to the app only from the load balancer, and the monitoring hosts' health probe", () => {
    expect(rules("app").find((r) => r.port_range === "8080")).toEqual({
      port_range: "8080", protocol: "tcp", source_load_balancer_uids: ["lb-id"], source_tags: ["shop-production-mon-nyc1", "shop-production-mon-ams3"],
    });
  });

  it("does not open loopback-only HAProxy frontends", () => {
    expect(rules("app").map((r) => r.port_range)).not.toEqual(expect.arrayContaining(["5000"]));
    expect(rules("app").map((r) => r.port_range)).not.toEqual(expect.arrayContaining(["5001"]));
  });

  it("matches the snapshot", () => expect(synth("postgres")).toMatchSnapshot());
});

describe("RegionalLoadBalancer", () => {
  const synth = () => Testing.synthScope((scope) => { new RegionalLoadBalancer(scope, "lb", { topology: t, region: "nyc1", vpcId: "vpc-id", targetTag: "tag-app" }); });

  it("serves HTTPS with the origin certificate and redirects HTTP", () => {
    expect(synth()).toHaveResourceWithProperties(Loadbalancer, {
      name: "shop-production-nyc1-lb", region: "nyc1", vpc_uuid: "vpc-id", droplet_tag: "tag-app", redirect_http_to_https: true, tls_cipher_policy: "STRONG",
      forwarding_rule: expect.arrayContaining([expect.objectContaining({ entry_port: 443, entry_protocol: "https", certificate_name: "shop-origin", target_port: 8080 })]),
    });
  });

  it("checks the app's health path with the preset's timings", () => {
    expect(parse(synth()).resource.digitalocean_loadbalancer.lb.healthcheck).toEqual({
      protocol: "http", port: 8080, path: "/healthz", check_interval_seconds: 5, response_timeout_seconds: 3, unhealthy_threshold: 3, healthy_threshold: 3,
    });
  });

  it("admits only Cloudflare's ranges", () => {
    expect(parse(synth()).resource.digitalocean_loadbalancer.lb.firewall.allow).toBe('${formatlist("cidr:%s", data.cloudflare_ip_ranges.cloudflare.ipv4_cidrs)}');
  });

  it("matches the snapshot", () => expect(synth()).toMatchSnapshot());
});

describe("CloudflareEdge", () => {
  const synth = (origins = [{ region: "nyc1", address: "192.0.2.10" }, { region: "ams3", address: "198.51.100.10" }]) =>
    Testing.synthScope((scope) => { new CloudflareEdge(scope, "edge", { topology: t, origins }); });

  it("tries the primary region's pool first and falls back to the secondary", () => {
    expect(synth()).toHaveResourceWithProperties(LoadBalancer, {
      name: "shop.example.com", steering_policy: "off", proxied: true,
      default_pools: ["${cloudflare_load_balancer_pool.pool-nyc1.id}", "${cloudflare_load_balancer_pool.pool-ams3.id}"],
      fallback_pool: "${cloudflare_load_balancer_pool.pool-ams3.id}",
    });
  });

  it("monitors the health path at the plan's interval", () => {
    expect(synth()).toHaveResourceWithProperties(LoadBalancerMonitor, { type: "https", path: "/healthz", interval: 15, expected_codes: "200", header: { Host: ["shop.example.com"] } });
  });

  it("has one pool per region whose origin is the region's load balancer", () => {
    expect(synth()).toHaveResourceWithProperties(LoadBalancerPool, {
      name: "shop-production-ams3", monitor: "${cloudflare_load_balancer_monitor.monitor.id}", check_regions: ["WEU"],
      origins: [expect.objectContaining({ address: "198.51.100.10", header: { host: ["shop.example.com"] } })],
    });
  });

  it("fails with a single region", () => {
    expect(() => synth([{ region: "nyc1", address: "192.0.2.10" }])).toThrow(/needs at least two serving regions/);
  });

  it("matches the snapshot", () => expect(synth()).toMatchSnapshot());
});

describe("BackupsBucket", () => {
  const synth = () => Testing.synthScope((scope) => { new BackupsBucket(scope, "backups", { topology: t }); });

  it("is private, versioned, never force-destroyed, in the secondary region's Spaces", () => {
    expect(synth()).toHaveResourceWithProperties(SpacesBucket, { name: "shop-production-pgbackrest", region: "ams3", acl: "private", force_destroy: false, versioning: { enabled: true } });
  });

  it("has a key scoped to the bucket", () => {
    expect(synth()).toHaveResourceWithProperties(SpacesKey, { grant: [{ bucket: "${digitalocean_spaces_bucket.backups.name}", permission: "readwrite" }] });
  });

  it("matches the snapshot", () => expect(synth()).toMatchSnapshot());
});
