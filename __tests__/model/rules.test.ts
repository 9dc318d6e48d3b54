// One test per validation rule, asserting the message users see.
import { problemsOf, variant } from "../support/topology";

describe("topology validation rules", () => {
  it("fails on an unknown region slug, suggesting the closest", () => {
    expect(problemsOf((d) => { d.regions[1].slug = "ams4"; })).toContain(
      'regions[1].slug must be a DigitalOcean region (nyc1, nyc2, nyc3, tor1, atl1, sfo2, sfo3, ams3, lon1, fra1, sgp1, syd1, blr1), got "ams4" (did you mean "ams3"?)',
    );
  });

  it("fails on a size slug typo", () => {
    expect(problemsOf((d) => { d.regions[0].tiers.postgres.size = "s-4vcpu-8g"; })).toContain(
      'regions[0].tiers.postgres.size must be a DigitalOcean droplet size slug (e.g. s-2vcpu-4gb), got "s-4vcpu-8g" (did you mean "s-4vcpu-8gb"?)',
    );
  });

  it("fails when the failover hook's region has no monitoring host to run it (and Alertmanager to trigger it)", () => {
    expect(problemsOf((d) => { delete d.regions[1].tiers.monitoring; })).toContain(
      "regions[1].tiers.monitoring.count must be >= 1 in the secondary region ams3, got 0: with database.synchronousMode true the failover hook runs on that region's monitoring host and must outlive the primary region; add tiers.monitoring to ams3",
    );
    // Without synchronous_mode a stretched cluster fails over on its own: no hook, no such rule.
    expect(() => variant((d) => { delete d.regions[1].tiers.monitoring; d.database.synchronousMode = false; })).not.toThrow();
  });

  it("fails on duplicate regions", () => {
    expect(problemsOf((d) => { d.regions[1].slug = "nyc1"; })).toContain('regions[1].slug must be unique, got "nyc1" again (already regions[0])');
  });

  it("fails with fewer than two serving regions", () => {
    const problems = problemsOf((d) => { d.regions[1].tiers.app.count = 0; });
    expect(problems).toContain("regions must include at least two serving regions (role primary or secondary with tiers.app.count >= 1) to survive a region loss, got 1 (nyc1)");
  });

  it("fails on zero app droplets", () => {
    expect(problemsOf((d) => { d.regions[0].tiers.app.count = 0; })).toContain(
      "regions[0].tiers.app.count must be >= 1 in a primary region (nyc1 serves web traffic), got 0",
    );
  });

  it("fails when stretched mode has no third region for etcd", () => {
    const problems = problemsOf((d) => { d.regions = d.regions.slice(0, 2); });
    expect(problems).toContain(
      'database.mode "stretched" needs etcd members in three regions (two regions cannot keep an etcd majority when the bigger one is lost), got 2 (nyc1: 1, ams3: 1); add a witness region with tiers.witness or use mode "standby-cluster"',
    );
  });

  it("fails when etcd members are even", () => {
    expect(problemsOf((d) => { d.regions[1].tiers.etcd.count = 2; })).toContain(
      "etcd member count (tiers.etcd + tiers.witness over all regions) must be odd and >= 3 (3 or 5), got 4 (nyc1: 1, ams3: 2, lon1: 1)",
    );
  });

  it("fails when one region holds an etcd majority", () => {
    expect(problemsOf((d) => { d.regions[0].tiers.etcd.count = 3; })).toContain(
      "etcd members in nyc1 must be fewer than a majority (3 of 5), got 3: losing nyc1 would lose etcd quorum",
    );
  });

  it("fails on overlapping VPC ranges", () => {
    expect(problemsOf((d) => { d.regions[0].vpcRange = "10.50.0.0/16"; d.regions[1].vpcRange = "10.50.16.0/20"; })).toContain(
      'regions[1].vpcRange must not overlap regions[0].vpcRange "10.50.0.0/16" (peered VPCs need distinct ranges), got "10.50.16.0/20"',
    );
  });

  it("fails on a non-private VPC range", () => {
    expect(problemsOf((d) => { d.regions[0].vpcRange = "100.64.0.0/20"; })).toContain(
      'regions[0].vpcRange must be an RFC 1918 private range (10/8, 172.16/12, 192.168/16), got "100.64.0.0/20"',
    );
  });

  it("fails on a VPC range with host bits set", () => {
    expect(problemsOf((d) => { d.regions[0].vpcRange = "10.50.0.5/20"; })).toContain(
      'regions[0].vpcRange has host bits set (the network is 10.50.0.0/20), got "10.50.0.5/20"',
    );
  });

  it("fails on peering in BLR1", () => {
    expect(problemsOf((d) => { d.regions[2].slug = "blr1"; })).toContain(
      'regions[2].slug "blr1" cannot be used: cross-region VPC peering is not available in BLR1, and replication and etcd need private addresses; pick another region',
    );
  });

  it("fails on an empty admin CIDR list", () => {
    expect(problemsOf((d) => { d.ssh.adminCidrs = []; })).toContain(
      "ssh.adminCidrs must list at least one operator CIDR allowed to SSH (e.g. your office or bastion /32), got an empty list",
    );
  });

  it("fails on an admin CIDR open to the internet", () => {
    expect(problemsOf((d) => { d.ssh.adminCidrs = ["198.51.100.0/24", "0.0.0.0/0"]; })).toContain(
      'ssh.adminCidrs[1] must not open SSH to the whole internet, got "0.0.0.0/0"; list your office, VPN or bastion ranges',
    );
    expect(problemsOf((d) => { d.ssh.adminCidrs = ["::/0"]; })).toContain(
      'ssh.adminCidrs[0] must not open SSH to the whole internet, got "::/0"; list your office, VPN or bastion ranges',
    );
  });

  it("fails on a monitor interval below the plan's minimum", () => {
    expect(problemsOf((d) => { d.cloudflare.plan = "pro"; d.cloudflare.monitorIntervalSeconds = 15; })).toContain(
      "cloudflare.monitorIntervalSeconds must be >= 60 on the pro plan, got 15; raise it or change cloudflare.plan",
    );
  });

  it("fails on a hostname outside the zone", () => {
    expect(problemsOf((d) => { d.domain.hostname = "shop.example.org"; })).toContain(
      'domain.hostname must be inside the zone "example.com" (e.g. shop.example.com), got "shop.example.org"',
    );
  });

  it("fails on a literal password in the file", () => {
    expect(problemsOf((d) => { d.database.password = "hunter2hunter2"; })[0]).toMatch(
      /^line \d+ holds a literal secret field; secrets never go in the topology: use environment variables/,
    );
  });

  it("fails on a DigitalOcean token in the file", () => {
    expect(problemsOf((d) => { d.project = `dop_v1_${"a".repeat(64)}`; })[0]).toMatch(/^line \d+ holds a DigitalOcean API token \(dop_v1_…\)/);
  });

  it("fails without an in-region synchronous standby when synchronousMode is on", () => {
    expect(problemsOf((d) => { d.regions[0].tiers.postgres.count = 1; })).toContain(
      "regions[0].tiers.postgres.count must be >= 2 for database.synchronousMode (an in-region synchronous standby), got 1; add a node or set synchronousMode: false",
    );
  });

  it("fails with fewer than three Sentinels", () => {
    expect(problemsOf((d) => { d.regions[1].tiers.redis.count = 0; })).toContain(
      "Redis Sentinels (one per region with redis hosts, one per witness host) must number at least 3, got 2; add redis hosts in another region or a witness",
    );
  });

  it("fails when one region holds a Sentinel majority", () => {
    expect(problemsOf((d) => { d.regions[2].tiers.witness.count = 3; })).toContain(
      "Redis Sentinels in lon1 must be fewer than a majority (3 of 5), got 3: losing lon1 would leave no quorum to fail over",
    );
  });

  it("fails on a two-region standby-cluster Redis placement whose Sentinels cannot elect when the primary region is lost", () => {
    expect(problemsOf((d) => { d.database.mode = "standby-cluster"; d.regions.pop(); for (const r of d.regions) if (r.tiers.etcd) r.tiers.etcd.count = 3; })).toContain(
      "Redis Sentinels outside the primary region nyc1 must be a majority (2 of 3) to elect a new Redis primary when nyc1 is lost, got 1 (one per redis host); add a witness region with tiers.witness, or move Redis hosts out of nyc1",
    );
    expect(problemsOf((d) => { d.database.mode = "standby-cluster"; d.regions.pop(); for (const r of d.regions) if (r.tiers.etcd) r.tiers.etcd.count = 3; d.regions[1].tiers.redis.count = 2; })).toContain(
      "Redis Sentinels outside the primary region nyc1 must be a majority (3 of 4) to elect a new Redis primary when nyc1 is lost, got 2 (one per redis host); add a witness region with tiers.witness, or move Redis hosts out of nyc1",
    );
  });

  it("accepts two regions when the secondary's Sentinels are a majority", () => {
    expect(() => variant((d) => { d.database.mode = "standby-cluster"; d.regions.pop(); for (const r of d.regions) if (r.tiers.etcd) r.tiers.etcd.count = 3; d.regions[1].tiers.redis.count = 3; })).not.toThrow();
  });

  it("fails on service tiers in a witness region", () => {
    expect(problemsOf((d) => { d.regions[2].tiers.app = { count: 1 }; })).toContain(
      "regions[2].tiers.app is not allowed in a witness region (lon1); a witness region holds only tiers.witness",
    );
  });

  it("fails on an unsupported PostgreSQL version", () => {
    expect(problemsOf((d) => { d.database.postgresVersion = 12; })).toContain(
      "database.postgresVersion must be one of 15 (packaged by Debian 12), got 12",
    );
  });

  it("fails on a standby cluster whose region has a single etcd member (its loss stops that region's cluster)", () => {
    const standby = (d: Parameters<Parameters<typeof problemsOf>[0]>[0]) => { d.database.mode = "standby-cluster"; d.regions[0].tiers.etcd = { count: 1 }; d.regions[1].tiers.etcd = { count: 3 }; };
    expect(problemsOf(standby)).toContain(
      "regions[0].tiers.etcd.count must be 3 or 5 in standby-cluster mode, where each region runs its own etcd, got 1: losing that one etcd droplet stops nyc1's Patroni cluster (its primary demotes itself without its DCS); set tiers.etcd.count: 3",
    );
    expect(problemsOf((d) => { standby(d); d.regions[0].tiers.etcd = { count: 2 }; })).toContain(
      "regions[0].tiers.etcd.count must be odd and >= 3 (3 or 5) in standby-cluster mode, where each region runs its own etcd, got 2",
    );
    expect(() => variant((d) => { standby(d); d.regions[0].tiers.etcd = { count: 3 }; })).not.toThrow();
  });

  it("fails on a standby cluster with more than one secondary region", () => {
    expect(problemsOf((d) => { d.database.mode = "standby-cluster"; for (const r of d.regions) if (r.tiers.etcd) r.tiers.etcd.count = 3; d.regions[2] = { ...d.regions[1], slug: "fra1", vpcRange: "10.120.0.0/20" }; })).toContain(
      'database.mode "standby-cluster" needs exactly one secondary region (the standby cluster), got 2',
    );
  });

  it("fails on an unknown enum value with a suggestion", () => {
    expect(problemsOf((d) => { d.timing = "balance"; })).toEqual([
      'timing must be one of "fast", "balanced", "wan-safe", got "balance" (did you mean "balanced"?)',
    ]);
  });
});
