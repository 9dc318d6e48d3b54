// `npm run lab` arguments: which drills fit which topology, and what the WAN needs, said before
// anything boots.
import * as path from "path";
import { main, parseArgs, type Args } from "../../lab/cli";

const ROOT = path.resolve(__dirname, "../..");
const STANDBY = path.join(ROOT, "examples/topology-standby-cluster.yaml");
const STRETCHED = path.join(ROOT, "examples/topology.yaml");

describe("npm run lab arguments", () => {
  it("refuses standby-promote on a stretched topology and names the topology to use", () => {
    expect(() => parseArgs(["drill", "standby-promote", "--topology", STRETCHED])).toThrow(
      /database\.mode is "stretched", which drill standby-promote \(needs standby-cluster\) does not apply to; .*use --topology examples\/topology-standby-cluster\.yaml/,
    );
  });

  it("refuses the stretched-mode region drills on a standby-cluster topology, listing the drills that fit", () => {
    expect(() => parseArgs(["drill", "region-loss", "etcd-quorum-loss", "--topology", STANDBY])).toThrow(
      /region-loss \(needs stretched\), etcd-quorum-loss \(needs stretched\) does not apply to; drills for this topology: primary-loss, postgres-crash, patroni-freeze, switchover, .*standby-promote/,
    );
  });

  it("needs --wan-rtt for region-partition, and keeps the WAN to drill runs", () => {
    expect(() => parseArgs(["drill", "region-partition"])).toThrow(/region-partition cuts a region off through the lab WAN: run it with --wan-rtt MS/);
    expect(() => parseArgs(["up", "--wan-rtt", "60"])).toThrow(/--wan-rtt works with drill only/);
    expect(() => parseArgs(["drill", "--wan-rtt=-5"])).toThrow(/--wan-rtt must be a round trip in ms between 0 and 1000, got -5/);
  });

  it("moves a WAN lab to its own /24 unless --net says otherwise", () => {
    expect((parseArgs(["drill", "region-partition", "--wan-rtt", "60"]) as Args).options).toMatchObject({ net: "127.0.40", wanRttMs: 60 });
    expect((parseArgs(["drill", "primary-loss"]) as Args).options).toMatchObject({ net: "127.0.0", wanRttMs: 0 });
    expect((parseArgs(["drill", "primary-loss", "--wan-rtt", "40", "--net", "127.0.41"]) as Args).options.net).toBe("127.0.41");
  });

  it("follows the shared CLI convention: --help exits 0, a bad value or drill exits 2 with one error line, before anything boots", async () => {
    const run = async (argv: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(argv, { log: (l) => out.push(l), error: (l) => err.push(l) });
      return { code, out: out.join("\n"), err: err.join("\n") };
    };
    const help = await run(["--help"]);
    expect([help.code, help.err]).toEqual([0, ""]);
    expect(help.out).toMatch(/^usage: npm run lab -- <up\|status\|drill/);
    const bad = await run(["drill", "--repeat", "0"]);
    expect([bad.code, bad.err]).toEqual([2, "error: --repeat must be a positive integer, got 0"]);
    const unknown = await run(["drill", "--wan", "5"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/^error: Unknown option '--wan'.*\nusage: npm run lab/);
    const misplaced = await run(["drill", "standby-promote", "--topology", STRETCHED]);
    expect(misplaced.code).toBe(2);
    expect(misplaced.err).toMatch(/^error: .*database\.mode is "stretched", which drill standby-promote/);
  });
});
