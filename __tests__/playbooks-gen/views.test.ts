import * as yaml from "js-yaml";
import { compareKeys, dumpDocumented, dumpYaml } from "../../playbooks-gen/engine/yaml";
import { renderTemplate } from "../../playbooks-gen/engine/templates";
import { productionRenderEnv } from "../../playbooks-gen/render-env";
import { etcdClusterOf, initialRedisPrimary, postgresClusterOf, sentinelQuorum } from "../../playbooks-gen/views/clusters";
import { failoverPatronictlView } from "../../playbooks-gen/views/failover";
import { groupVarsView } from "../../playbooks-gen/views/groupvars";
import { etcHostsBlock, hostVarsView } from "../../playbooks-gen/views/inventory";
import { example, exampleOutputs, hostNamed, standbyExample } from "./fixtures";

const t = example();
const env = productionRenderEnv(t);
const names = (hosts: ReadonlyArray<{ name: string }>) => hosts.map((h) => h.name);

describe("cluster membership", () => {
  it("spans the three regions in stretched mode", () => {
    expect(names(etcdClusterOf(t, "ams3"))).toEqual(["etcd-nyc1-1", "etcd-ams3-1", "witness-lon1-1"]);
    expect(names(postgresClusterOf(t, "ams3"))).toEqual(["pg-nyc1-1", "pg-nyc1-2", "pg-ams3-1"]);
  });

  it("stays inside the region in standby-cluster mode", () => {
    const s = standbyExample();
    expect(names(etcdClusterOf(s, "ams3"))).toEqual(["etcd-ams3-1", "etcd-ams3-2", "etcd-ams3-3"]);
    expect(names(postgresClusterOf(s, "nyc1"))).toEqual(["pg-nyc1-1", "pg-nyc1-2"]);
  });

  it("gives the failover hook's patronictl only the etcd members outside the region it watches", () => {
    // The hook acts once nyc1 is lost; listing nyc1's member made calls that tried it first wait out a
    // failed connection (5.7 s instead of 0.6 s in the lab).
    expect(failoverPatronictlView(t, env).etcd.hosts).toEqual(["etcd-ams3-1:2379", "witness-lon1-1:2379"]);
    const s = standbyExample();
    expect(failoverPatronictlView(s, productionRenderEnv(s)).etcd.hosts).toEqual(["etcd-ams3-1:2379", "etcd-ams3-2:2379", "etcd-ams3-3:2379"]);
  });

  it("bootstraps Redis on the primary region and needs a majority of Sentinels", () => {
    expect(initialRedisPrimary(t).name).toBe("redis-nyc1-1");
    expect(sentinelQuorum(t)).toBe(2);
  });
});

describe("Ansible data views", () => {
  it("turns the model into snake_case, role-prefixed group variables", () => {
    const vars = groupVarsView(t, exampleOutputs(), env);
    expect(vars.postgres_cluster).toEqual({
      patroni_ttl: 10, patroni_loop_wait: 2, patroni_retry_timeout: 3, patroni_postgres_version: 15, patroni_app_database: "shop", patroni_app_user: "shop",
    });
    expect(vars.sentinel).toEqual({ redis_sentinel_master_name: "shop-production", redis_sentinel_quorum: 2 });
    expect(vars.workers.app_systemd_units).toEqual(["shop-worker"]);
    for (const group of Object.values(vars)) for (const key of Object.keys(group)) expect(key).toMatch(/^[a-z][a-z0-9_]*$/);
  });

  it("gives PostgreSQL hosts their paths and the DigitalOcean volume device", () => {
    expect(hostVarsView(t, hostNamed(t, "pg-nyc1-2"), env)).toMatchObject({
      shop_region: "nyc1", patroni_scope: "shop-production", patroni_data_dir: "/var/lib/postgresql/15/main",
      patroni_volume_device: "/dev/disk/by-id/scsi-0DO_Volume_pg-nyc1-2-pgdata",
    });
    expect(hostVarsView(t, hostNamed(t, "app-nyc1-1"), env)).not.toHaveProperty("patroni_data_dir");
  });

  it("maps every host name to its private address for /etc/hosts", () => {
    const block = etcHostsBlock(t, exampleOutputs()).split("\n");
    expect(block).toContain("10.219.0.6 pg-nyc1-1");
    expect(block).toContain("10.219.32.3 witness-lon1-1");
  });
});

describe("engine", () => {
  it("orders task keys name first, blocks last, the rest alphabetically", () => {
    expect(["when", "block", "ansible.builtin.copy", "name", "become"].sort(compareKeys)).toEqual(["name", "ansible.builtin.copy", "become", "when", "block"]);
  });

  it("dumps YAML with the marker and a document start, and documents each default", () => {
    expect(dumpYaml({ b: 1, a: [2] }).split("\n").slice(1)).toEqual(["---", "a:", "  - 2", "b: 1", ""]);
    const doc = dumpDocumented("Title", [{ name: "x_port", description: "Port.", value: 5 }]);
    expect(doc.split("\n").slice(1)).toEqual(["# Title", "---", "# Port.", "x_port: 5", ""]);
    expect(yaml.load(doc)).toEqual({ x_port: 5 });
  });

  it("renders templates strictly: a missing field is an error, not an empty string", () => {
    expect(() => renderTemplate("redis/redis.conf.hbs", {})).toThrow(/not defined/);
  });
});
