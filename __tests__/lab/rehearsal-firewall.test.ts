// The rehearsal's stand-in for DigitalOcean's cloud firewalls, pure: the synthesized firewalls of the
// bundled example resolved to the rehearsal's addresses and rendered as nftables rulesets. That the
// rulesets do what they say in a kernel: rehearsal-firewall-netns.test.ts.
import * as fs from "fs";
import * as path from "path";
import { hostsOf, loadTopology } from "../../lib/model";
import { planOf, OPERATOR_ADDRESS } from "../../lab/backends/rehearsal/plan";
import { readFirewalls, rehearsalAddressing, rehearsalHarness, rehearsalRulesets, renderRuleset, resolveFirewalls, FIREWALL_TABLE } from "../../lab/backends/rehearsal/firewall";
import { parseCli } from "../../lab/backends/rehearsal/cli";
import { withRehearsalAdmin, REHEARSAL_ADMIN_CIDR } from "../../lab/backends/rehearsal/firewall";
import { synthStacks, tempDir } from "../support/synth";

const t = loadTopology("examples/topology.yaml");
const plan = planOf(t);
const { outdir } = synthStacks(t);
const resolved = resolveFirewalls(readFirewalls(outdir), rehearsalAddressing(plan));
const of = (host: string) => resolved.find((f) => f.host === host)!;
const hp = (host: string) => plan.hosts.find((h) => h.host.name === host)!;
const rulesets = rehearsalRulesets(plan, outdir);
/** The accept lines of a ruleset for one port (inbound: "saddr", outbound: "daddr"). */
const lines = (host: string, dir: "saddr" | "daddr", match: string) => rulesets.get(host)!.split("\n").filter((l) => l.includes(` ${dir} `) && l.includes(match) && !l.includes("rehearsal harness"));

describe("the rehearsal's cloud firewalls, rendered", () => {
  it("renders one ruleset per host, each under the firewall of its tier and region", () => {
    expect([...rulesets.keys()].sort()).toEqual(hostsOf(t).map((h) => h.name).sort());
    expect(of("etcd-nyc1-1").firewalls).toEqual(["shop-production-etcd-nyc1"]);
    expect(of("witness-lon1-1").firewalls).toEqual(["shop-production-witness-lon1"]);
    for (const text of rulesets.values()) {
      expect(text).toContain(`table inet ${FIREWALL_TABLE} {`);
      expect(text).toMatch(/hook input priority filter; policy drop;/);
      expect(text).toMatch(/hook output priority filter; policy drop;/);
      expect(text).toContain("ct state established,related accept");
    }
  });

  it("admits etcd's client port from the tagged tiers' hosts on both their addresses, never from an app host", () => {
    const [rule] = lines("etcd-nyc1-1", "saddr", "tcp dport 2379 ");
    for (const h of ["pg-nyc1-1", "pg-ams3-1", "etcd-ams3-1", "mon-ams3-1", "witness-lon1-1"]) {
      expect(rule).toContain(hp(h).privateIpv4);
      expect(rule).toContain(hp(h).publicIpv4);
    }
    for (const h of plan.hosts.filter((x) => ["app", "worker", "redis"].includes(x.host.tier))) {
      expect(rule).not.toMatch(new RegExp(`[ {]${h.privateIpv4.replace(/\./g, "\\.")}[,} ]`));
    }
    // No peered VPC range anywhere inbound.
    for (const r of plan.regions) expect(rulesets.get("etcd-nyc1-1")!.split("chain output")[0]).not.toContain(r.vpc.text);
  });

  it("admits the app port from the region's load balancer stand-in and the monitoring hosts only", () => {
    const [rule] = lines("app-ams3-1", "saddr", "tcp dport 8080 ");
    const ams3 = plan.regions.find((r) => r.slug === "ams3")!;
    const nyc1 = plan.regions.find((r) => r.slug === "nyc1")!;
    expect(rule).toContain(ams3.operatorAddress);
    expect(rule).not.toContain(nyc1.operatorAddress);
    expect(rule).toContain(hp("mon-nyc1-1").privateIpv4);
    expect(rule).not.toContain(hp("app-nyc1-1").privateIpv4);
    expect(rule).toContain("load balancer ams3");
  });

  it("admits SSH from the topology's admin CIDRs as written", () => {
    expect(lines("pg-nyc1-1", "saddr", "tcp dport 22 ")).toEqual([expect.stringContaining(`ip saddr ${t.ssh.adminCidrs[0]} tcp dport 22 accept`)]);
  });

  it("lets hosts out to the VPCs on every port and to anywhere on DNS, HTTP(S) and NTP only", () => {
    const out = rulesets.get("app-ams3-1")!.split("chain output")[1];
    expect(out).toContain(`ip daddr { ${plan.regions.map((r) => r.vpc.text).join(", ")} } meta l4proto tcp accept`);
    expect(out).toContain("ip daddr 0.0.0.0/0 tcp dport 443 accept");
    expect(out).toContain("ip6 daddr ::/0 udp dport 53 accept");
    expect(out).toContain("ip daddr 0.0.0.0/0 udp dport 123 accept");
    expect(out).not.toContain("dport 22 ");
  });

  it("keeps the drills' harness apart and away from what the load balancer and the admins stand in for", () => {
    const h = rehearsalHarness(plan, of("app-nyc1-1"));
    expect(h).toEqual([
      expect.objectContaining({ from: [OPERATOR_ADDRESS], ports: [String(t.app.port)] }),
      expect.objectContaining({ from: plan.regions.map((r) => r.operatorAddress), exceptPorts: ["22", String(t.app.port)] }),
    ]);
    const text = rulesets.get("app-nyc1-1")!;
    expect(text).toContain("chain rehearsal_harness {");
    expect(text).toMatch(/tcp dport != \{ 22, 8080 \} accept comment "rehearsal harness/);
    // The harness is consulted after every cloud firewall rule.
    expect(text.indexOf("jump rehearsal_harness")).toBeGreaterThan(text.lastIndexOf("tcp dport 9100 accept"));
    expect(rehearsalHarness(plan, of("pg-nyc1-1"))).toEqual([expect.objectContaining({ exceptPorts: ["22"] })]);
  });

  it("passes everything on a droplet no firewall applies to, as DigitalOcean does", () => {
    const text = renderRuleset({ host: "bare", firewalls: [], inbound: [], outbound: [] }, rehearsalHarness(plan, of("pg-nyc1-1")));
    expect(text).toMatch(/policy accept;/);
    expect(text).not.toMatch(/policy drop;/);
    expect(text).not.toContain("rehearsal_harness");
  });

  it("replaces the table in one transaction, so loading it again changes nothing", () => {
    const text = rulesets.get("pg-nyc1-1")!;
    expect(text.indexOf(`table inet ${FIREWALL_TABLE} {}`)).toBeLessThan(text.indexOf(`delete table inet ${FIREWALL_TABLE}`));
    expect(text.indexOf(`delete table inet ${FIREWALL_TABLE}`)).toBeLessThan(text.indexOf(`table inet ${FIREWALL_TABLE} {\n`));
  });

  it("refuses stacks it cannot map, naming the stack, the firewall and the value", () => {
    const dir = tempDir();
    fs.cpSync(outdir, dir, { recursive: true });
    const file = path.join(dir, "stacks", "region-nyc1", "cdk.tf.json");
    const json = JSON.parse(fs.readFileSync(file, "utf8"));
    json.resource.digitalocean_firewall["fw-etcd"].inbound_rule[1].port_range = "70000";
    fs.writeFileSync(file, JSON.stringify(json));
    expect(() => resolveFirewalls(readFirewalls(dir), rehearsalAddressing(plan))).toThrow(/region-nyc1: firewall shop-production-etcd-nyc1, inbound rule 2: port_range "70000"/);
    json.resource.digitalocean_firewall["fw-etcd"].inbound_rule[1].port_range = "2379";
    json.resource.digitalocean_firewall["fw-etcd"].inbound_rule[1].source_load_balancer_uids = ["${digitalocean_loadbalancer.nope.id}"];
    fs.writeFileSync(file, JSON.stringify(json));
    expect(() => resolveFirewalls(readFirewalls(dir), rehearsalAddressing(plan))).toThrow(/inbound rule 2: names load balancer \$\{digitalocean_loadbalancer\.nope\.id\}/);
    expect(() => readFirewalls(path.join(dir, "nowhere"))).toThrow(/no synthesized stacks/);
  });

  it("lists the rehearsal's operator among the admin CIDRs of its topology copy, once", () => {
    expect(REHEARSAL_ADMIN_CIDR).toBe(`${OPERATOR_ADDRESS}/32`);
    const doc = withRehearsalAdmin({ ssh: { adminCidrs: ["198.51.100.0/24"] } });
    expect(doc.ssh.adminCidrs).toEqual(["198.51.100.0/24", REHEARSAL_ADMIN_CIDR]);
    expect(withRehearsalAdmin(doc).ssh.adminCidrs).toEqual(doc.ssh.adminCidrs);
  });

  it("takes --no-firewall with up only", () => {
    expect(parseCli(["up"])).toMatchObject({ firewall: true });
    expect(parseCli(["up", "--no-firewall"])).toMatchObject({ firewall: false });
    expect(() => parseCli(["check", "--no-firewall"])).toThrow(/--no-firewall goes with up/);
  });
});
