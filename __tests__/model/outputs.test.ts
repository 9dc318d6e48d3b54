// The outputs contract: what `cdktf deploy --outputs-file` and `terraform output -json` write.
import * as fs from "fs";
import * as path from "path";
import { checkOutputs, missingHosts, OutputsError, parseDeployOutputs } from "../../lib/model";
import { example } from "../support/topology";

const host = (name: string, region: string, tier: string, pub: string, priv: string) => ({ name, region, tier, public_ipv4: pub, private_ipv4: priv });

describe("deploy outputs", () => {
  it("reads cdktf's outputs file (stacks of outputs; sensitive ones already left out)", () => {
    const outputs = parseDeployOutputs({
      "region-nyc1": { hosts: { "pg-nyc1-1": host("pg-nyc1-1", "nyc1", "postgres", "192.0.2.11", "10.219.0.11") }, load_balancer_ip: "192.0.2.100" },
      global: { backups_bucket: "shop-production-pgbackrest" },
    }, "outputs.json");
    expect(outputs.hosts["pg-nyc1-1"]).toEqual(host("pg-nyc1-1", "nyc1", "postgres", "192.0.2.11", "10.219.0.11"));
    expect(outputs.loadBalancers).toEqual({ nyc1: "192.0.2.100" });
  });

  it("reads `terraform output -json` of one stack ({value, type, sensitive} wrappers)", () => {
    const outputs = parseDeployOutputs({
      hosts: { sensitive: false, type: ["object", {}], value: { "app-ams3-1": host("app-ams3-1", "ams3", "app", "198.51.100.21", "10.219.16.21") } },
      load_balancer_ip: { sensitive: false, type: "string", value: "198.51.100.100" },
    }, "tf.json");
    expect(Object.keys(outputs.hosts)).toEqual(["app-ams3-1"]);
    expect(outputs.loadBalancers).toEqual({ ams3: "198.51.100.100" });
  });

  it("fails on a host without a valid address, naming the host and field", () => {
    expect(() => parseDeployOutputs({ "region-nyc1": { hosts: { "pg-nyc1-1": host("pg-nyc1-1", "nyc1", "postgres", "pending", "10.219.0.11") } } }, "outputs.json"))
      .toThrow(new OutputsError("outputs.json", ['stack region-nyc1: hosts.pg-nyc1-1.public_ipv4 must be an IPv4 address, got "pending"']));
  });

  it("fails on something that is not an outputs object", () => {
    expect(() => parseDeployOutputs([], "outputs.json")).toThrow(/outputs\.json: must be a JSON object of stacks/);
  });

  it("lists the model's hosts that a partial deploy did not output", () => {
    const outputs = parseDeployOutputs({ "region-lon1": { hosts: { "witness-lon1-1": host("witness-lon1-1", "lon1", "witness", "203.0.113.5", "10.219.32.5") } } }, "o.json");
    const missing = missingHosts(example(), outputs);
    expect(missing).toHaveLength(16);
    expect(missing).toContain("pg-nyc1-1");
    expect(missing).not.toContain("witness-lon1-1");
  });
});

describe("deploy outputs held against the topology", () => {
  const exampleOutputs = (): Record<string, any> => JSON.parse(fs.readFileSync(path.join(__dirname, "../../examples/outputs.json"), "utf8")); // eslint-disable-line @typescript-eslint/no-explicit-any
  const problems = (edit: (o: Record<string, any>) => void): string[] => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const o = exampleOutputs();
    edit(o);
    try {
      checkOutputs(example(), parseDeployOutputs(o, "outputs.json"), "outputs.json");
    } catch (e) {
      if (e instanceof OutputsError) return [...e.problems];
      throw e;
    }
    throw new Error("expected the outputs to be rejected, but they were accepted");
  };

  it("accepts the example's outputs", () => {
    expect(() => checkOutputs(example(), parseDeployOutputs(exampleOutputs(), "o.json"), "o.json")).not.toThrow();
  });

  it("fails on an octet above 255, naming the stack, host and field", () => {
    expect(problems((o) => { o["region-nyc1"].hosts["pg-nyc1-1"].public_ipv4 = "192.0.2.256"; })).toEqual([
      'stack region-nyc1: hosts.pg-nyc1-1.public_ipv4 must be an IPv4 address, got "192.0.2.256"',
    ]);
  });

  it("fails on two hosts with the same address", () => {
    expect(problems((o) => { o["region-nyc1"].hosts["pg-nyc1-2"].private_ipv4 = o["region-nyc1"].hosts["pg-nyc1-1"].private_ipv4; })).toEqual([
      `hosts.pg-nyc1-2.private_ipv4 "10.219.0.6" is already hosts.pg-nyc1-1.private_ipv4's; each host has its own addresses`,
    ]);
  });

  it("fails on a private address outside the region's VPC", () => {
    expect(problems((o) => { o["region-nyc1"].hosts["pg-nyc1-1"].private_ipv4 = "10.219.16.99"; })).toEqual([
      `hosts.pg-nyc1-1.private_ipv4 must be inside nyc1's VPC 10.219.0.0/20, got "10.219.16.99"`,
    ]);
  });

  it("fails on a host listed under another region's stack", () => {
    expect(problems((o) => {
      o["region-ams3"].hosts["pg-nyc1-1"] = o["region-nyc1"].hosts["pg-nyc1-1"];
      delete o["region-nyc1"].hosts["pg-nyc1-1"];
    })).toEqual(['stack region-ams3: hosts.pg-nyc1-1.region must be "ams3" (the stack\'s region), got "nyc1"']);
  });

  it("fails on a host whose region or tier differs from the topology's", () => {
    expect(problems((o) => { o["region-nyc1"].hosts["pg-nyc1-1"].tier = "redis"; })).toEqual([
      'hosts.pg-nyc1-1.tier must be "postgres" as in the topology, got "redis"',
    ]);
    expect(problems((o) => {
      const h = o["region-nyc1"].hosts["pg-nyc1-1"];
      delete o["region-nyc1"].hosts["pg-nyc1-1"];
      o["region-ams3"].hosts["pg-nyc1-1"] = { ...h, region: "ams3", private_ipv4: "10.219.16.99" };
    })).toContain('hosts.pg-nyc1-1.region must be "nyc1" as in the topology, got "ams3"');
  });

  it("fails on a host the topology does not have", () => {
    expect(problems((o) => { o["region-nyc1"].hosts["pg-nyc1-9"] = { ...o["region-nyc1"].hosts["pg-nyc1-1"], name: "pg-nyc1-9", public_ipv4: "192.0.2.99", private_ipv4: "10.219.0.99" }; }))
      .toEqual(["hosts.pg-nyc1-9 is not a host of the topology (an old outputs file, or another environment's?); write the outputs again with cdktf deploy --outputs-file"]);
  });
});
