// The outputs contract: what `cdktf deploy --outputs-file` and `terraform output -json` write.
import { missingHosts, OutputsError, parseDeployOutputs } from "../../lib/model";
import { example } from "../support/topology";

const host = (name: string, region: string, tier: string, pub: string, priv: string) => ({ name, region, tier, public_ipv4: pub, private_ipv4: priv });

describe("deploy outputs", () => {
  it("reads cdktf's outputs file (stacks of outputs; sensitive ones already left out)", () => {
    const outputs = parseDeployOutputs({
      "region-nyc1": { hosts: { "pg-nyc1-1": host("pg-nyc1-1", "nyc1", "postgres", "192.0.2.11", "10.100.0.11") }, load_balancer_ip: "192.0.2.100" },
      global: { backups_bucket: "shop-production-pgbackrest" },
    }, "outputs.json");
    expect(outputs.hosts["pg-nyc1-1"]).toEqual(host("pg-nyc1-1", "nyc1", "postgres", "192.0.2.11", "10.100.0.11"));
    expect(outputs.loadBalancers).toEqual({ nyc1: "192.0.2.100" });
  });

  it("reads `terraform output -json` of one stack ({value, type, sensitive} wrappers)", () => {
    const outputs = parseDeployOutputs({
      hosts: { sensitive: false, type: ["object", {}], value: { "app-ams3-1": host("app-ams3-1", "ams3", "app", "198.51.100.21", "10.101.0.21") } },
      load_balancer_ip: { sensitive: false, type: "string", value: "198.51.100.100" },
    }, "tf.json");
    expect(Object.keys(outputs.hosts)).toEqual(["app-ams3-1"]);
    expect(outputs.loadBalancers).toEqual({ ams3: "198.51.100.100" });
  });

  it("fails on a host without a valid address, naming the host and field", () => {
    expect(() => parseDeployOutputs({ "region-nyc1": { hosts: { "pg-nyc1-1": host("pg-nyc1-1", "nyc1", "postgres", "pending", "10.100.0.11") } } }, "outputs.json"))
      .toThrow(new OutputsError("outputs.json", ['hosts.pg-nyc1-1.public_ipv4 must be an IPv4 address, got "pending"']));
  });

  it("fails on something that is not an outputs object", () => {
    expect(() => parseDeployOutputs([], "outputs.json")).toThrow(/outputs\.json: must be a JSON object of stacks/);
  });

  it("lists the model's hosts that a partial deploy did not output", () => {
    const outputs = parseDeployOutputs({ "region-lon1": { hosts: { "witness-lon1-1": host("witness-lon1-1", "lon1", "witness", "203.0.113.5", "10.102.0.5") } } }, "o.json");
    const missing = missingHosts(example(), outputs);
    expect(missing).toHaveLength(16);
    expect(missing).toContain("pg-nyc1-1");
    expect(missing).not.toContain("witness-lon1-1");
  });
});
