// Redis health as both backends judge it, from their own probes (DrillBackend's sentinelMaster and
// redisReplication): one place for "the Sentinels agree" and "every replica is connected".
import { waitFor } from "../proc";
import type { DrillBackend } from "./types";

/** The Redis primary every live Sentinel names (host name), or null while they disagree or none answers. */
export async function agreedRedisPrimary(backend: Pick<DrillBackend, "hostsRunning" | "sentinelMaster">): Promise<string | null> {
  const answers = await Promise.all(backend.hostsRunning("sentinel").map((h) => backend.sentinelMaster(h.name).catch(() => undefined)));
  const live = answers.filter((a) => a !== undefined);
  return live.length > 0 && live.every((a) => a && a === live[0]) ? (live[0] as string) : null;
}

/** Waits until the Sentinels agree on a primary that has every other Redis server connected. */
export async function waitRedisHealthy(backend: Pick<DrillBackend, "hostsRunning" | "redisPrimary" | "redisReplication">, timeoutMs: number): Promise<void> {
  const redisCount = backend.hostsRunning("redis").length;
  await waitFor("Sentinels agreeing on a Redis primary with all replicas", timeoutMs, async () => {
    const primary = await backend.redisPrimary();
    const r = primary === null ? null : await backend.redisReplication(primary);
    return r?.role === "master" && r.connectedReplicas === redisCount - 1;
  }, 250);
}
