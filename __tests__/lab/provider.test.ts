import { reusable } from "../../lab/backends/loopback/provider";

describe("reusing the lab `up` left running", () => {
  const stretched = "/repo/examples/topology.yaml";
  const standby = "/repo/examples/topology-standby-cluster.yaml";
  const running = { preset: "balanced" as const, topologyFile: stretched };

  it("reuses it for the same preset and topology, without a WAN", () => {
    expect(reusable(running, { topologyFile: stretched, wanRttMs: 0 }, "balanced")).toBe(true);
  });

  it("never for another topology: a stretched lab cannot stand in for the standby cluster's", () => {
    expect(reusable(running, { topologyFile: standby, wanRttMs: 0 }, "balanced")).toBe(false);
  });

  it("never for another preset, a WAN drill, or when nothing runs", () => {
    expect(reusable(running, { topologyFile: stretched, wanRttMs: 0 }, "stock")).toBe(false);
    expect(reusable(running, { topologyFile: stretched, wanRttMs: 60 }, "balanced")).toBe(false);
    expect(reusable(null, { topologyFile: stretched, wanRttMs: 0 }, "balanced")).toBe(false);
  });
});
