// Adversarial inputs that once slipped through validation and produced Terraform or an Ansible tree
// that would break or endanger a real account: each is refused at load time with the field and the fix.
import { derivedNames } from "../../lib/model/limits";
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
