import { parseTopology, TopologyError } from "../../lib/model";
import { example, exampleText, problemsOf, variant, standbyClusterEdit } from "../support/topology";

describe("loadTopology", () => {
  it("accepts the bundled example and fills defaults", () => {
    const t = example();
    expect(t.timing).toBe("balanced");
    expect(t.regions.map((r) => r.vpcRange)).toEqual(["10.219.0.0/20", "10.219.16.0/20", "10.219.32.0/20"]);
    expect(t.regions[0].tiers.postgres?.size).toBe("s-4vcpu-8gb");
    expect(t.regions[0].tiers.app?.image).toBe("debian-12-x64");
    expect(t.cloudflare.monitorIntervalSeconds).toBe(15); // business plan minimum
    expect(t.backups).toEqual({ spacesRegion: "ams3", bucket: "shop-production-pgbackrest" });
    expect(t.stateBackend).toEqual({ type: "local", path: "terraform-state" });
  });

  it("returns a frozen model", () => {
    const t = example();
    expect(Object.isFrozen(t)).toBe(true);
    expect(Object.isFrozen(t.regions[0].tiers)).toBe(true);
  });

  it("reports malformed YAML with line and column", () => {
    const text = exampleText().replace("environment: production", "environment: [production");
    expect(() => parseTopology(text, "bad.yaml", {})).toThrow(/bad\.yaml: 1 problem:\n {2}- line \d+, column \d+: /);
  });

  it("reports every problem at once", () => {
    const problems = problemsOf((d) => {
      d.regions[0].slug = "nyx1";
      d.ssh.adminCidrs = [];
    });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^regions\[0\]\.slug must be a DigitalOcean region/);
    expect(problems[1]).toMatch(/^ssh\.adminCidrs must list at least one operator CIDR/);
  });

  it("reports every schema problem at once, before the rules (they need a well-formed file)", () => {
    const problems = problemsOf((d) => {
      d.app.port = 80;
      d.regions[0].role = "main";
      delete d.ssh.keys;
    });
    expect(problems).toEqual([
      "app.port must be >= 1024, got 80",
      "ssh.keys is required: Names of SSH keys registered in DigitalOcean.",
      'regions[0].role must be one of "primary", "secondary", "witness", got "main"',
    ]);
  });

  it("fails on an unknown field with a suggestion", () => {
    expect(problemsOf((d) => { d.databse = {}; })).toEqual(['databse is not a known field (did you mean "database"?)']);
  });

  it("resolves env: references and names the unset variable", () => {
    const t = variant((d) => { d.cloudflare.zoneId = "env:CF_ZONE"; }, { CF_ZONE: "0".repeat(32) });
    expect(t.cloudflare.zoneId).toBe("0".repeat(32));
    expect(problemsOf((d) => { d.cloudflare.zoneId = "env:CF_ZONE"; })).toEqual([
      "cloudflare.zoneId refers to env:CF_ZONE, but CF_ZONE is not set; export CF_ZONE or write the value",
    ]);
  });

  it("fails on a missing file with what to do", () => {
    const { loadTopology } = jest.requireActual("../../lib/model");
    expect(() => loadTopology("/nonexistent/topology.yaml", {})).toThrow(TopologyError);
    expect(() => loadTopology("/nonexistent/topology.yaml", {})).toThrow(/file not found; pass an existing file with --topology FILE/);
  });

  it("accepts a standby-cluster topology with two regions", () => {
    const t = variant(standbyClusterEdit);
    expect(t.database.mode).toBe("standby-cluster");
    expect(t.regions).toHaveLength(2);
  });
});
