import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { hostsOf, hostsRunning } from "../../lib/model/hosts";
import { TIMING_PRESETS } from "../../lib/model/timing";
import { renderEtcdConfig } from "../../playbooks-gen/render/etcd";
import { renderHaproxyConfig } from "../../playbooks-gen/render/haproxy";
import { renderPatroniConfig } from "../../playbooks-gen/render/patroni";
import { renderRedisConfig, renderSentinelConfig } from "../../playbooks-gen/render/redis";
import { productionRenderEnv } from "../../playbooks-gen/render-env";
import { MARKER } from "../../playbooks-gen/engine/marker";
import { requireDebianPackages } from "../support/debian";
import { LabPki } from "../../lab/backends/loopback/pki";
import { parseTopology } from "../../lib/model/load";
import { example, EXAMPLE_TOPOLOGY, hostNamed } from "./fixtures";

const t = example();
const env = productionRenderEnv(t);

describe("service config renderers (production env, example topology)", () => {
  beforeAll(() => requireDebianPackages(["haproxy"]));

  it("start every file with the regenerate marker", () => {
    const host = hostNamed(t, "witness-lon1-1");
    for (const text of [renderEtcdConfig(t, host, env), renderSentinelConfig(t, host, env)]) {
      expect(text.split("\n")[0]).toBe(`# ${MARKER}`);
    }
  });

  describe("etcd", () => {
    const config = yaml.load(renderEtcdConfig(t, hostNamed(t, "etcd-ams3-1"), env)) as Record<string, unknown>;

    it("lists every etcd member of the three regions, by name", () => {
      expect(config["initial-cluster"]).toBe(
        "etcd-nyc1-1=https://etcd-nyc1-1:2380,etcd-ams3-1=https://etcd-ams3-1:2380,witness-lon1-1=https://witness-lon1-1:2380");
    });

    it("listens on every interface and advertises the host name", () => {
      expect(config).toMatchObject({
        name: "etcd-ams3-1",
        "listen-client-urls": "https://0.0.0.0:2379",
        "advertise-client-urls": "https://etcd-ams3-1:2379",
        "initial-advertise-peer-urls": "https://etcd-ams3-1:2380",
        "initial-cluster-state": "new",
        "enable-v2": false,
      });
    });

    it("takes raft timings from the preset", () => {
      expect(config).toMatchObject({ "heartbeat-interval": 100, "election-timeout": 1000 });
    });

    it("turns pre-vote on, so a member returning from a partition does not depose the majority's leader", () => {
      expect(config["pre-vote"]).toBe(true);
    });
  });

  describe("patroni", () => {
    const load = (name: string) => yaml.load(renderPatroniConfig(t, hostNamed(t, name), env)) as any; // eslint-disable-line @typescript-eslint/no-explicit-any

    it("tags remote-region replicas nosync and keeps primary-region nodes sync-eligible", () => {
      expect(load("pg-ams3-1").tags.nosync).toBe(true);
      expect(load("pg-nyc1-2").tags.nosync).toBe(false);
      expect(load("pg-nyc1-2").tags).not.toHaveProperty("failover_priority");
    });

    it("rewinds a diverged node and rebuilds it when the rewind fails", () => {
      expect(load("pg-nyc1-1").bootstrap.dcs.postgresql).toMatchObject({ use_pg_rewind: true, remove_data_directory_on_rewind_failure: true });
    });

    it("takes DCS timings from the preset and bounds primary_start_timeout", () => {
      expect(load("pg-nyc1-1").bootstrap.dcs).toMatchObject({
        ttl: 10, loop_wait: 2, retry_timeout: 3, primary_start_timeout: 15,
        maximum_lag_on_failover: 1048576, synchronous_mode: true,
      });
    });

    it("arms /dev/watchdog to fire before the leader key can expire, after a DCS retry could demote", () => {
      const { patroni } = TIMING_PRESETS.balanced;
      expect(load("pg-nyc1-1").watchdog).toEqual({ mode: "automatic", device: "/dev/watchdog", safety_margin: 4 });
      const timeout = patroni.ttl - load("pg-nyc1-1").watchdog.safety_margin;
      expect(timeout).toBeGreaterThan(patroni.loopWait + patroni.retryTimeout);
      // The lab swaps the device for its named pipe and Patroni's testing driver, nothing else.
      const lab = yaml.load(renderPatroniConfig(t, hostNamed(t, "pg-nyc1-1"), { ...env, watchdog: () => ({ device: "/lab/run/watchdog", driver: "testing" }) })) as { watchdog: unknown };
      expect(lab.watchdog).toEqual({ mode: "automatic", device: "/lab/run/watchdog", driver: "testing", safety_margin: 4 });
    });

    it("allows only the VPC ranges, over TLS with scram-sha-256, in both pg_hba lists", () => {
      const config = load("pg-nyc1-1");
      expect(config.bootstrap.pg_hba).toEqual(config.postgresql.pg_hba);
      const tcp = (config.postgresql.pg_hba as string[]).filter((l) => !l.startsWith("local "));
      // Every TCP rule but the superuser's refusal is hostssl: a plain-text connection matches none.
      expect(tcp.filter((l) => !l.startsWith("hostssl ")).every((l) => l.endsWith(" reject"))).toBe(true);
      expect(tcp.filter((l) => l.startsWith("hostssl ")).every((l) => l.endsWith(" scram-sha-256"))).toBe(true);
      expect(tcp.join("\n")).toContain("hostssl all all 10.219.16.0/20 scram-sha-256");
      expect(tcp.join("\n")).not.toMatch(/0\.0\.0\.0\/0|trust|md5|password/);
    });

    it("keeps the superuser local: the socket only, every TCP login refused before any other rule", () => {
      const hba = load("pg-nyc1-1").postgresql.pg_hba as string[];
      expect(hba.filter((l) => / postgres /.test(l))).toEqual(["local all postgres peer", "host all postgres all reject"]);
      expect(hba.indexOf("host all postgres all reject")).toBeLessThan(hba.findIndex((l) => l.startsWith("hostssl")));
      // The lab lets its own clients' address in as the superuser, over TLS, and nothing else.
      const lab = yaml.load(renderPatroniConfig(t, hostNamed(t, "pg-nyc1-1"), { ...env, superuserNetworks: ["127.0.0.1/32"] })) as { postgresql: { pg_hba: string[] } };
      expect(lab.postgresql.pg_hba.filter((l) => / postgres /.test(l))).toEqual(["local all postgres peer", "hostssl all postgres 127.0.0.1/32 scram-sha-256", "host all postgres all reject"]);
    });

    it("lets the replicator connect from the node itself, so Patroni can read a replica's timeline", () => {
      expect(load("pg-ams3-1").postgresql.pg_hba).toContain("hostssl replication replicator 127.0.0.1/32 scram-sha-256");
    });

    it("turns TLS on with the host's certificate, TLS 1.2 at least, and verifies the CA on replication and rewind", () => {
      const config = load("pg-nyc1-1");
      expect(config.postgresql.parameters).toMatchObject({
        ssl: "on", ssl_cert_file: "/etc/ssl/shop/host.crt", ssl_key_file: "/etc/ssl/private/shop-host.key", ssl_ca_file: "/etc/ssl/shop/ca.crt",
        ssl_min_protocol_version: "TLSv1.2", password_encryption: "scram-sha-256",
      });
      for (const user of ["replication", "rewind"]) {
        expect(config.postgresql.authentication[user]).toMatchObject({ sslmode: "verify-ca", sslrootcert: "/etc/ssl/shop/ca.crt" });
      }
    });

    it("serves the REST API over HTTPS, asking for a client certificate from the CA (Patroni requires one on state changes)", () => {
      expect(load("pg-nyc1-1").restapi).toEqual({
        listen: "0.0.0.0:8008", connect_address: "pg-nyc1-1:8008",
        certfile: "/etc/ssl/shop/host.crt", keyfile: "/etc/ssl/private/shop-host.key", cafile: "/etc/ssl/shop/ca.crt", verify_client: "optional",
      });
    });

    it("names users but carries no passwords", () => {
      const auth = load("pg-nyc1-1").postgresql.authentication;
      expect(auth.superuser).toEqual({ username: "postgres" });
      expect(JSON.stringify(auth)).not.toContain("password");
    });

    it("takes every path from the env", () => {
      const config = load("pg-nyc1-1");
      expect(config.postgresql).toMatchObject({
        data_dir: "/var/lib/postgresql/15/main", bin_dir: "/usr/lib/postgresql/15/bin",
        pgpass: "/var/run/postgresql/pgpass", listen: "0.0.0.0:5432", connect_address: "pg-nyc1-1:5432",
      });
      expect(config.postgresql.parameters.unix_socket_directories).toBe("/var/run/postgresql");
      expect(config.etcd3.hosts).toEqual(["etcd-nyc1-1:2379", "etcd-ams3-1:2379", "witness-lon1-1:2379"]);
    });
  });

  describe("haproxy", () => {
    const text = renderHaproxyConfig(t, hostNamed(t, "app-nyc1-1"), env);

    it("routes :5000 to the primary and :5001 to replicas within the lag bound", () => {
      expect(text).toContain("bind 127.0.0.1:5000");
      // OPTIONS: Patroni writes the status line only (a GET's body met a closed TLS connection).
      expect(text).toContain("http-check send meth OPTIONS uri /primary");
      expect(text).toContain("bind 127.0.0.1:5001");
      expect(text).toContain("uri /replica?lag=1048576");
    });

    it("checks every PostgreSQL node through Patroni's REST port", () => {
      for (const pg of hostsRunning(t, "patroni")) expect(text).toContain(`server ${pg.name} ${pg.name}:5432 check port 8008`);
      expect(text).toContain("inter 500ms fastinter 250ms downinter 250ms fall 2 rise 1 on-marked-down shutdown-sessions");
    });

    it("fails a refused connection at once instead of retrying the old primary a second later", () => {
      // HAProxy waits min(timeout connect, 1 s) before each retry on the same server: the lab's
      // switchover clients waited through it while the new primary was already up.
      expect(text).toMatch(/^ {4}retries 0$/m);
      expect(text).not.toMatch(/^ {4}retries [1-9]/m);
    });

    it("checks Patroni over TLS, verifying its certificate against the deployment CA, and passes PostgreSQL's TLS through", () => {
      const servers = text.split("\n").filter((l) => /^ {4}server /.test(l));
      expect(servers.length).toBe(2 * hostsRunning(t, "patroni").length);
      for (const l of servers) expect(l).toMatch(/ check port 8008 check-ssl verify required ca-file \/etc\/ssl\/shop\/ca\.crt$/);
      expect(text).not.toMatch(/ ssl verify| crt /);
    });

    it("passes haproxy -c", () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haproxy-"));
      try {
        // The CA file must exist: on the hosts the pki role installs it before HAProxy's config.
        const ca = new LabPki(path.join(dir, "pki")).caFile;
        fs.writeFileSync(path.join(dir, "haproxy.cfg"), text.split("/etc/ssl/shop/ca.crt").join(ca));
        execFileSync("haproxy", ["-c", "-f", path.join(dir, "haproxy.cfg")], { stdio: "pipe", timeout: 20_000 });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe("redis and sentinel", () => {
    it("makes the primary region's first Redis the initial primary", () => {
      expect(renderRedisConfig(t, hostNamed(t, "redis-nyc1-1"), env)).not.toMatch(/^replicaof/m);
      expect(renderRedisConfig(t, hostNamed(t, "redis-ams3-1"), env)).toContain("\nreplicaof redis-nyc1-1 6379\n");
    });

    it("starts a replica's resync at once, so a promoted primary takes writes again quickly", () => {
      expect(renderRedisConfig(t, hostNamed(t, "redis-ams3-1"), env)).toContain("\nrepl-diskless-sync-delay 0\n");
    });

    it("requires a replica for writes only when losing one Redis host or one region still leaves a primary and a replica", () => {
      // The example: losing nyc1 leaves ams3's single Redis host, which could then take no writes.
      expect(hostsRunning(t, "redis")).toHaveLength(3);
      expect(renderRedisConfig(t, hostNamed(t, "redis-nyc1-1"), env)).toContain("min-replicas-to-write 0\nmin-replicas-max-lag 10\n");
      const four = parseTopology(fs.readFileSync(EXAMPLE_TOPOLOGY, "utf8").replace(/redis: \{ count: 1 \}/, "redis: { count: 2 }"), "four-redis.yaml");
      expect(hostsRunning(four, "redis")).toHaveLength(4);
      expect(renderRedisConfig(four, hostNamed(four, "redis-ams3-1"), productionRenderEnv(four))).toContain("min-replicas-to-write 1\nmin-replicas-max-lag 10\n");
      const two = parseTopology(fs.readFileSync(EXAMPLE_TOPOLOGY, "utf8").replace(/redis: \{ count: 2 \}.*/, "redis: { count: 1 }"), "two-redis.yaml");
      expect(hostsRunning(two, "redis")).toHaveLength(2);
      expect(renderRedisConfig(two, hostNamed(two, "redis-nyc1-1"), productionRenderEnv(two))).toContain("min-replicas-to-write 0\nmin-replicas-max-lag 10\n");
    });

    it("keeps the password out of the file", () => {
      const text = renderRedisConfig(t, hostNamed(t, "redis-ams3-1"), env);
      expect(text).toContain("replica-announce-ip redis-ams3-1\n");
      expect(text).toContain("include /etc/redis/redis-auth.conf\n");
      expect(text).not.toMatch(/^requirepass/m);
    });

    it("monitors the primary with a majority quorum of the three Sentinels, by name", () => {
      const text = renderSentinelConfig(t, hostNamed(t, "witness-lon1-1"), env);
      expect(text).toContain("sentinel monitor shop-production redis-nyc1-1 6379 2\n");
      expect(text).toMatch(/^sentinel resolve-hostnames yes$/m);
      expect(text).toMatch(/^sentinel announce-hostnames yes$/m);
      expect(text).toContain("sentinel announce-ip witness-lon1-1\n");
    });

    it("staggers down-after by 500 ms per Sentinel in topology order, so no two start an election together", () => {
      const downAfter = (name: string) => /^sentinel down-after-milliseconds shop-production (\d+)$/m.exec(renderSentinelConfig(t, hostNamed(t, name), env))?.[1];
      expect(["redis-nyc1-1", "redis-ams3-1", "witness-lon1-1"].map(downAfter)).toEqual(["4000", "4500", "5000"]);
    });
  });

  it("matches the reviewed rendering of every host", () => {
    const rendered: Record<string, string> = {};
    for (const host of hostsOf(t)) {
      if (host.services.includes("etcd")) rendered[`${host.name}/etcd.yml`] = renderEtcdConfig(t, host, env);
      if (host.services.includes("patroni")) rendered[`${host.name}/patroni.yml`] = renderPatroniConfig(t, host, env);
      if (host.services.includes("haproxy")) rendered[`${host.name}/haproxy.cfg`] = renderHaproxyConfig(t, host, env);
      if (host.services.includes("redis")) rendered[`${host.name}/redis.conf`] = renderRedisConfig(t, host, env);
      if (host.services.includes("sentinel")) rendered[`${host.name}/sentinel.conf`] = renderSentinelConfig(t, host, env);
    }
    expect(rendered).toMatchSnapshot();
  });
});
