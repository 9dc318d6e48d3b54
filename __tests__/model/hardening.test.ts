// Adversarial inputs that once slipped through validation and produced Terraform or an Ansible tree
// that would break or endanger a real account: each is refused at load time with the field and the fix.
import { derivedNames } from "../../lib/model/limits";
import { autoVpcOctet, DO_RESERVED, overlaps, parseCidr, type Cidr } from "../../lib/model/network";
import { example, problemsOf, variant } from "../support/topology";

const long = (n: number) => `p${"x".repeat(n - 2)}z`;

describe("names within provider limits", () => {
  it("fails when project + environment make the default bucket name longer than Spaces' 63", () => {
    const project = long(32);
    const environment = long(27);
    const bucket = `${project}-${environment}-pgbackrest`;
    expect(bucket).toHaveLength(71);
    expect(problemsOf((d) => { d.project = project; d.environment = environment; })).toContain(
      `project + environment make the bucket name "${bucket}" 71 characters, over Spaces' 63; shorten project or environment`,
    );
  });

  it("accepts the longest names that fit", () => {
    expect(() => variant((d) => { d.project = long(26); d.environment = long(25); })).not.toThrow(); // bucket: 26 + 25 + 12 = 63
  });

  it("checks droplets, volumes, tags, the project and the bucket", () => {
    const whats = new Set(derivedNames(example()).map((n) => n.what));
    expect([...whats].sort()).toEqual(["DigitalOcean project name", "bucket name", "droplet name", "tag", "volume name"]);
  });
});

describe("SSH not opened to the internet without /0", () => {
  it("fails when several admin ranges together cover all of IPv4", () => {
    const halves = ["0.0.0.0/1", "128.0.0.0/1"];
    expect(problemsOf((d) => { d.ssh.adminCidrs = halves; })).toContain(
      "ssh.adminCidrs together cover all of IPv4 (0.0.0.0/1, 128.0.0.0/1), which opens SSH to the whole internet as 0.0.0.0/0 would; list your office, VPN or bastion ranges",
    );
  });

  it("fails when 256 /8 ranges together cover all of IPv4", () => {
    const all = Array.from({ length: 256 }, (_, i) => `${i}.0.0.0/8`);
    expect(problemsOf((d) => { d.ssh.adminCidrs = all; }).join("\n")).toMatch(/^ssh\.adminCidrs together cover all of IPv4 \(0\.0\.0\.0\/8, 1\.0\.0\.0\/8, .*255\.0\.0\.0\/8\)/m);
  });

  it("fails on a range wider than /8", () => {
    expect(problemsOf((d) => { d.ssh.adminCidrs = ["198.51.100.0/24", "64.0.0.0/2"]; })).toContain(
      'ssh.adminCidrs[1] must be /8 or narrower (a /2 opens SSH to 1/4 of the internet), got "64.0.0.0/2"; list your office, VPN or bastion ranges',
    );
  });

  it("accepts office and bastion ranges", () => {
    expect(() => variant((d) => { d.ssh.adminCidrs = ["198.51.100.0/24", "203.0.113.7/32", "10.0.0.0/8"]; })).not.toThrow();
  });
});

describe("app commands that would render broken or leaky units", () => {
  it("fails on an environment assignment in front of the start command, suggesting env", () => {
    expect(problemsOf((d) => { d.app.startCommand = "NODE_ENV=production node dist/server.js"; })).toContain(
      'app.startCommand must not begin with an environment assignment (the unit runs "exec <command>", and exec cannot run "NODE_ENV=production"), got "NODE_ENV=production node dist/server.js"; write "env NODE_ENV=production node dist/server.js"',
    );
  });

  it("accepts the command written with env", () => {
    expect(() => variant((d) => { d.app.workerCommand = "env NODE_ENV=production node dist/worker.js"; })).not.toThrow();
  });

  it("fails on a password inside a URL in any app command, without repeating it", () => {
    const problems = problemsOf((d) => { d.app.workerCommand = "node dist/worker.js --db postgres://shop:hunter2@db.internal/shop"; });
    expect(problems).toContain(
      "app.workerCommand holds a password in a URL (user:password@…), which would land in world-readable generated files; take it out and give the app its credentials through Ansible Vault",
    );
    expect(problems.join("\n")).not.toContain("hunter2");
  });

  it("accepts a URL without credentials", () => {
    expect(() => variant((d) => { d.app.startCommand = "node dist/server.js --upstream https://api.example.com:8443/v1"; })).not.toThrow();
  });
});

describe("app port collisions", () => {
  it.each([[5000, "haproxy (haproxy_primary)"], [5001, "haproxy (haproxy_replicas)"], [7000, "haproxy (haproxy_stats)"], [9100, "node_exporter (node_exporter)"]])(
    "fails when app.port is %i, which the generator already binds on app hosts", (port, what) => {
      expect(problemsOf((d) => { d.app.port = port; })).toContain(`app.port must not be ${port}: ${what} already listens there on the app hosts; pick another port, e.g. 8080`);
    },
  );
});

describe("values the playbooks cannot serve", () => {
  it("fails on an image other than Debian 12", () => {
    expect(problemsOf((d) => { d.regions[0].tiers.postgres.image = "ubuntu-22-04-x64"; })).toContain(
      'regions[0].tiers.postgres.image must be "debian-12-x64" (the playbooks install Debian 12\'s packages: Patroni 3.0.2, PostgreSQL 15, etcd 3.4), got "ubuntu-22-04-x64"',
    );
  });

  it.each(["example", "Example.com", "-bad.example.com", "example..com", "exa mple.com"])("fails on the malformed zone %j", (zone) => {
    expect(problemsOf((d) => { d.domain.zone = zone; d.domain.hostname = `shop.${zone}`; })).toContain(
      `domain.zone must be a domain name like example.com (lowercase labels of letters, digits and inner hyphens, at least two), got ${JSON.stringify(zone)}`,
    );
  });
});

describe("backups away from the primary region", () => {
  it.each([["tor1", "atl1"], ["ams3", "ams3"]])("defaults to the next-closest Spaces region when the secondary (%s) has none of its own", (secondary, expected) => {
    const t = variant((d) => { d.regions[1].slug = secondary; });
    expect(t.backups.spacesRegion).toBe(expected); // tor1 maps to nyc3, the primary nyc1's Spaces
  });

  it("defaults to fra1 for a primary in ams3 with a secondary in lon1 (whose closest Spaces is ams3)", () => {
    const t = variant((d) => { d.regions[0].slug = "ams3"; d.regions[1].slug = "lon1"; d.regions[2].slug = "fra1"; });
    expect(t.backups.spacesRegion).toBe("fra1");
  });

  it("fails when backups.spacesRegion is the primary region's Spaces region", () => {
    expect(problemsOf((d) => { d.backups = { spacesRegion: "nyc3" }; })).toContain(
      'backups.spacesRegion must not be "nyc3", the Spaces region of the primary region nyc1: losing that region would take the backups with it; pick another Spaces region (e.g. "atl1") or leave it out for the default',
    );
  });
});

describe("automatic VPC plan per project and environment", () => {
  const ranges = (project: string, environment: string) => variant((d) => { d.project = project; d.environment = environment; }).regions.map((r) => r.vpcRange);

  it("gives staging and production of one project ranges that do not overlap (DigitalOcean refuses overlaps in one account)", () => {
    const [production, staging] = [ranges("shop", "production"), ranges("shop", "staging")];
    expect(production).toEqual(["10.219.0.0/20", "10.219.16.0/20", "10.219.32.0/20"]);
    expect(staging).toEqual(["10.148.0.0/20", "10.148.16.0/20", "10.148.32.0/20"]);
    for (const a of production) for (const b of staging) expect([a, b, overlaps(parseCidr(a) as Cidr, parseCidr(b) as Cidr)]).toEqual([a, b, false]);
  });

  it("is deterministic and never uses DigitalOcean's reserved ranges", () => {
    expect(ranges("shop", "production")).toEqual(ranges("shop", "production"));
    const octets = new Set<number>();
    for (let i = 0; i < 2000; i++) octets.add(autoVpcOctet("p", `env${i}`));
    expect(octets.size).toBeGreaterThan(240); // spread over the /8
    for (const o of octets) {
      const c = parseCidr(`10.${o}.0.0/16`) as Cidr;
      expect([o, DO_RESERVED.some((r) => overlaps(r, c))]).toEqual([o, false]);
      expect(o >= 1 && o <= 254).toBe(true);
    }
  });

  it("keeps a range stated in the topology (how an existing deployment keeps 10.100.0.0/20)", () => {
    const t = variant((d) => { d.regions[0].vpcRange = "10.100.0.0/20"; });
    expect(t.regions.map((r) => r.vpcRange)).toEqual(["10.100.0.0/20", "10.219.16.0/20", "10.219.32.0/20"]);
  });
});
