// Which hosts belong together: one etcd and one Patroni cluster over all regions in `stretched` mode,
// one of each per region in `standby-cluster` mode; Redis and Sentinel always span the regions.
import { hostsRunning, type Host } from "../../lib/model/hosts";
import { namePrefix } from "../../lib/model/naming";
import type { Topology } from "../../lib/model/types";

const sameCluster = (t: Topology, region: string) => (h: Host) => t.database.mode === "stretched" || h.region === region;

/** etcd members that `region`'s Patroni nodes (and its etcd members) use. */
export function etcdClusterOf(t: Topology, region: string): readonly Host[] {
  return hostsRunning(t, "etcd").filter(sameCluster(t, region));
}

/** Patroni members of the cluster `region` belongs to. */
export function postgresClusterOf(t: Topology, region: string): readonly Host[] {
  return hostsRunning(t, "patroni").filter(sameCluster(t, region));
}

/** The node that creates a Patroni cluster on a fresh deploy: the first database host of the primary
 * region (a standby cluster: its own first host). Started alone, so the first leader is where the
 * model wants it, never a `nosync` replica of another region that happened to start first. */
export function bootstrapNodeOf(t: Topology, region: string): Host {
  const cluster = postgresClusterOf(t, region);
  const node = cluster.find((h) => h.region === primaryRegion(t)) ?? cluster[0];
  if (!node) throw new Error(`topology has no database host in the cluster of ${region}`);
  return node;
}

/** When a database host starts Patroni on a fresh deploy: 1, the primary cluster's bootstrap node;
 * 2, a standby cluster's bootstrap node (it clones from the primary cluster); 3, every other node
 * (they clone from their cluster's leader). */
export function patroniStartWave(t: Topology, host: Host): 1 | 2 | 3 {
  if (bootstrapNodeOf(t, host.region).name !== host.name) return 3;
  return postgresClusterOf(t, host.region).some((h) => h.region === primaryRegion(t)) ? 1 : 2;
}

/** The region whose database cluster leads (standby-cluster mode: the other region follows it). */
export function primaryRegion(t: Topology): string {
  const primary = t.regions.find((r) => r.role === "primary");
  if (!primary) throw new Error("topology has no region with role primary");
  return primary.slug;
}

/** Redis primary at bootstrap: the first Redis host of the primary region. Sentinel owns it afterwards. */
export function initialRedisPrimary(t: Topology): Host {
  const redis = hostsRunning(t, "redis");
  const first = redis.find((h) => h.region === primaryRegion(t)) ?? redis[0];
  if (!first) throw new Error("topology has no Redis host");
  return first;
}

/** Name Sentinel monitors the Redis primary under, and clients ask Sentinel for. */
export function sentinelMasterName(t: Topology): string {
  return namePrefix(t);
}

/** Sentinels needed to agree the primary is down: a majority of all Sentinels. */
export function sentinelQuorum(t: Topology): number {
  return Math.floor(hostsRunning(t, "sentinel").length / 2) + 1;
}

/** etcd cluster token: distinct per cluster so members of two clusters can never join each other. */
export function etcdClusterToken(t: Topology, region: string): string {
  return t.database.mode === "stretched" ? `${namePrefix(t)}-etcd` : `${namePrefix(t)}-${region}-etcd`;
}
