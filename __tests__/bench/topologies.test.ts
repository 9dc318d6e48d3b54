import { hostsOf, parseTopology } from "../../lib/model";
import { generatedTopology } from "../../bench/topologies";

describe("benchmark topologies", () => {
  it.each([3, 6, 12])("generates a valid %i-region topology", (n) => {
    const t = parseTopology(generatedTopology(n), `generated-${n}.yaml`, {});
    expect(t.regions).toHaveLength(n);
    expect(t.regions.filter((r) => r.role === "witness")).toHaveLength(1);
    expect(hostsOf(t).filter((h) => h.services.includes("etcd")).length % 2).toBe(1);
  });

  it("refuses more regions than it has slugs for", () => {
    expect(() => generatedTopology(13)).toThrow(/regions must be 3\.\.12, got 13/);
  });
});
