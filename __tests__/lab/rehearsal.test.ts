// The rehearsal's pure parts: its address plan and deploy outputs (held against the model and the
// generator's own outputs parser), cloud-init's network metadata, reading Ansible's recap and failures,
// the converge verdict and the CLI's argument errors. Booting hosts is CI's job (.ci/run).
import * as yaml from "js-yaml";
import { hostsOf, loadTopology, parseCidr, parseDeployOutputs, type Cidr } from "../../lib/model";
import { judgeConverge, parseFailures, parseRecap } from "../../lab/backends/rehearsal/converge";
import { networkConfig } from "../../lab/backends/rehearsal/net";
import { deployOutputs, planOf, PUBLIC_NET } from "../../lab/backends/rehearsal/plan";
import { parseCli } from "../../lab/backends/rehearsal/cli";
import { packagesOf } from "../../lab/backends/rehearsal/image";

const t = loadTopology("examples/topology.yaml");
const plan = planOf(t);
const inCidr = (ip: string, c: Cidr) => {
  const n = ip.split(".").map(Number).reduce((a, o) => a * 256 + o, 0);
  return n > c.base && n < c.base + 2 ** (32 - c.prefix) - 1;
};

describe("rehearsal plan", () => {
  it("gives every host of the topology a namespace, a public address and a private one in its region's VPC", () => {
    expect(plan.hosts.map((h) => h.host.name)).toEqual(hostsOf(t).map((h) => h.name));
    for (const h of plan.hosts) {
      const region = t.regions.find((r) => r.slug === h.host.region)!;
      expect(inCidr(h.privateIpv4, parseCidr(region.vpcRange!) as Cidr)).toBe(true);
      expect(h.publicIpv4.startsWith(`${PUBLIC_NET}.`)).toBe(true);
    }
    const all = plan.hosts.flatMap((h) => [h.publicIpv4, h.privateIpv4]);
    expect(new Set(all).size).toBe(all.length);
  });

  it("keeps interface names within Linux's 15 characters and gateways out of the hosts' addresses", () => {
    const names = [...plan.hosts.flatMap((h) => [h.vethPublic, `${h.vethPublic}x`, h.vethPrivate, `${h.vethPrivate}x`]), ...plan.regions.flatMap((r) => [r.bridge, r.operatorVeth, `${r.operatorVeth}x`])];
    for (const n of names) expect(n.length).toBeLessThanOrEqual(15);
    expect(new Set(names).size).toBe(names.length);
    for (const r of plan.regions) expect(plan.hosts.map((h) => h.privateIpv4)).not.toContain(r.gateway);
  });

  it("writes deploy outputs in cdktf's shape that the generator reads back host for host", () => {
    const parsed = parseDeployOutputs(deployOutputs(plan), "rehearsal outputs");
    for (const h of plan.hosts) expect(parsed.hosts[h.host.name]).toEqual({ name: h.host.name, region: h.host.region, tier: h.host.tier, public_ipv4: h.publicIpv4, private_ipv4: h.privateIpv4 });
    expect(Object.keys(parsed.loadBalancers).sort()).toEqual(["ams3", "nyc1"]);
  });

  it("gives each host static addresses and routes to the peered VPCs through its region's gateway", () => {
    const h = plan.hosts.find((x) => x.host.name === "pg-ams3-1")!;
    const doc = yaml.load(networkConfig(plan, h)) as { config: Array<{ name: string; subnets: Array<Record<string, unknown>> }> };
    const eth1 = doc.config.find((c) => c.name === "eth1")!.subnets[0];
    expect(eth1.address).toBe(`${h.privateIpv4}/${h.prefixLength}`);
    expect((eth1.routes as Array<{ network: string; gateway: string }>).map((r) => `${r.network} via ${r.gateway}`)).toEqual(["10.219.0.0 via 10.219.16.1", "10.219.32.0 via 10.219.16.1"]);
  });

  it("mirrors every package the generated tree installs, with Jinja variables resolved", () => {
    const pkgs = packagesOf(t, deployOutputs(plan), ["python3", "sudo"]);
    expect(pkgs).toEqual(expect.arrayContaining(["postgresql-15", "patroni", "etcd-server", "haproxy", "redis-server", "redis-sentinel", "prometheus", "nodejs", "git", "sudo"]));
    expect(pkgs.filter((p) => p.includes("{{"))).toEqual([]);
  });
});

describe("converge report", () => {
  const out = [
    "TASK [patroni : Create the pgBackRest stanza in the bucket] ****",
    'fatal: [pg-nyc1-1]: FAILED! => {"changed": true, "msg": "non-zero return code", "stderr": "ERROR: [050]: unable to acquire lock"}',
    "PLAY RECAP *********",
    "app-nyc1-1                 : ok=40   changed=12   unreachable=0    failed=0    skipped=3    rescued=0    ignored=0",
    "pg-nyc1-1                  : ok=30   changed=9    unreachable=0    failed=1    skipped=2    rescued=0    ignored=0",
  ].join("\n");

  it("reads each host's PLAY RECAP counts", () => {
    expect(parseRecap(out)["pg-nyc1-1"]).toEqual({ ok: 30, changed: 9, unreachable: 0, failed: 1, skipped: 2, rescued: 0, ignored: 0 });
  });

  it("names the failed host, its task and Ansible's message", () => {
    expect(parseFailures(out)).toEqual([{ host: "pg-nyc1-1", task: "patroni : Create the pgBackRest stanza in the bucket", message: "non-zero return code | ERROR: [050]: unable to acquire lock" }]);
  });

  it("fails a converge with a failed host, a host missing from the recap, or a second run that changed something", () => {
    const ok = { ok: 1, changed: 0, unreachable: 0, failed: 0, skipped: 0, rescued: 0, ignored: 0 };
    const runs = [
      { wallSeconds: 1, exitCode: 0, hosts: { a: { ...ok, changed: 3 }, b: ok }, failures: [] },
      { wallSeconds: 1, exitCode: 0, hosts: { a: ok, b: { ...ok, changed: 1 } }, failures: [] },
    ];
    expect(judgeConverge(runs, ["a", "b"]).violations).toEqual(["run 2 (idempotence): b changed=1"]);
    expect(judgeConverge(runs, ["a", "b", "c"]).violations).toContain("run 1: c missing from the PLAY RECAP");
    expect(judgeConverge([runs[0]], ["a", "b"]).violations).toContain("the second run did not happen (the first failed)");
    expect(judgeConverge([runs[0], { ...runs[1], hosts: { a: ok, b: ok } }], ["a", "b"])).toEqual({ passed: true, idempotent: true, violations: [] });
  });
});

describe("npm run rehearse", () => {
  it.each([
    [["launch"], /unknown command "launch"/],
    [["up", "--wan-rtt", "fast"], /--wan-rtt must be a whole number of milliseconds/],
    [["exec", "pg-nyc1-1"], /exec takes one host and a command after --/],
    [["drill"], /drill needs at least one drill name/],
    [["check", "--wan-rtt", "60"], /--wan-rtt goes with up/],
    [["up", "--bogus"], /Unknown option '--bogus'/],
    [["wan"], /wan needs --wan-rtt MS/],
    [["wan", "--wan-rtt=-5"], /--wan-rtt must be a whole number of milliseconds/],
  ])("refuses %j with a clear message", (argv, message) => {
    expect(() => parseCli(argv)).toThrow(message);
  });

  it("changes the WAN of a running rehearsal with wan --wan-rtt", () => {
    expect(parseCli(["wan", "--wan-rtt", "60"])).toMatchObject({ command: "wan", wanRttMs: 60 });
    expect(parseCli(["wan", "--wan-rtt=0"])).toMatchObject({ command: "wan", wanRttMs: 0 });
  });

  it("takes the command after -- for exec", () => {
    expect(parseCli(["exec", "pg-nyc1-1", "--", "patronictl", "list"])).toMatchObject({ command: "exec", args: ["pg-nyc1-1", "patronictl", "list"] });
  });
});
