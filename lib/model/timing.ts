// Timing presets tune every failover layer together; the budget (budget.ts) says what they add up to.
import type { Topology, TimingPresetName } from "./types";

export interface TimingPreset {
  readonly patroni: { readonly ttl: number; readonly loopWait: number; readonly retryTimeout: number; readonly primaryStartTimeout: number };
  /** HAProxy health checks against Patroni's REST API, milliseconds. */
  readonly haproxy: { readonly interMs: number; readonly fastinterMs: number; readonly downinterMs: number; readonly fall: number; readonly rise: number };
  readonly sentinel: { readonly downAfterMs: number; readonly failoverTimeoutMs: number };
  /** etcd raft timings, tuned to the inter-region round trip (heartbeat ≈ RTT, election ≈ 10×). */
  readonly etcd: { readonly heartbeatMs: number; readonly electionMs: number };
  readonly loadBalancer: { readonly intervalSeconds: number; readonly timeoutSeconds: number; readonly unhealthy: number; readonly healthy: number };
  readonly cloudflare: { readonly timeoutSeconds: number; readonly retries: number };
}

export const TIMING_PRESETS: Readonly<Record<TimingPresetName, TimingPreset>> = {
  fast: {
    patroni: { ttl: 7, loopWait: 1, retryTimeout: 2, primaryStartTimeout: 5 },
    haproxy: { interMs: 300, fastinterMs: 150, downinterMs: 150, fall: 2, rise: 1 },
    sentinel: { downAfterMs: 2000, failoverTimeoutMs: 10000 },
    etcd: { heartbeatMs: 100, electionMs: 1000 },
    loadBalancer: { intervalSeconds: 3, timeoutSeconds: 3, unhealthy: 2, healthy: 2 },
    cloudflare: { timeoutSeconds: 3, retries: 1 },
  },
  // Measured in the lab: switchover write gap and region-loss recovery set these (README, "Measured
  // failover"); etcd's defaults (100/1000 ms) suit inter-region round trips up to ~100 ms.
  // retry_timeout leaves ttl a margin over loop_wait + 2 × retry_timeout: behind a partition (DCS
  // requests hang instead of failing) the lab saw the cut-off primary start demoting only that long
  // after its last refresh, i.e. as its key expired when the three were equal (region-partition).
  balanced: {
    patroni: { ttl: 10, loopWait: 2, retryTimeout: 3, primaryStartTimeout: 15 },
    haproxy: { interMs: 500, fastinterMs: 250, downinterMs: 250, fall: 2, rise: 1 },
    // failover-timeout also spaces a Sentinel's retries (2 ×): after a split vote among the surviving
    // Sentinels (the lab saw two start their election within 2 ms after a region loss) the next try
    // comes 2 × failover-timeout later; 30 s made that a 60 s Redis outage.
    sentinel: { downAfterMs: 4000, failoverTimeoutMs: 10000 },
    etcd: { heartbeatMs: 100, electionMs: 1000 },
    loadBalancer: { intervalSeconds: 5, timeoutSeconds: 3, unhealthy: 3, healthy: 3 },
    cloudflare: { timeoutSeconds: 5, retries: 2 },
  },
  "wan-safe": {
    patroni: { ttl: 30, loopWait: 10, retryTimeout: 8, primaryStartTimeout: 60 },
    haproxy: { interMs: 2000, fastinterMs: 1000, downinterMs: 1000, fall: 3, rise: 2 },
    sentinel: { downAfterMs: 10000, failoverTimeoutMs: 20000 },
    etcd: { heartbeatMs: 250, electionMs: 2500 },
    loadBalancer: { intervalSeconds: 10, timeoutSeconds: 5, unhealthy: 3, healthy: 5 },
    cloudflare: { timeoutSeconds: 5, retries: 2 },
  },
  // Patroni's shipped defaults with autobase-like HAProxy checks: the lab's baseline only.
  stock: {
    patroni: { ttl: 30, loopWait: 10, retryTimeout: 10, primaryStartTimeout: 300 },
    haproxy: { interMs: 3000, fastinterMs: 1000, downinterMs: 1000, fall: 3, rise: 2 },
    sentinel: { downAfterMs: 30000, failoverTimeoutMs: 180000 },
    etcd: { heartbeatMs: 100, electionMs: 1000 },
    loadBalancer: { intervalSeconds: 10, timeoutSeconds: 5, unhealthy: 3, healthy: 5 },
    cloudflare: { timeoutSeconds: 5, retries: 2 },
  },
};

/** Each Sentinel waits this much longer than the one before it (topology order) to call the primary
 * down. With equal down-after, Sentinels that see the primary die at the same moment (all of them,
 * after a region loss) start their elections together, each votes for itself, and the next try comes
 * only 2 × failover-timeout later: the lab saw one or two such retries after most region losses at
 * 60 ms between regions. Staggered by more than a round trip, the later Sentinel finds an earlier one
 * already calling the primary down and wins its vote before that one's next periodic check. */
export const SENTINEL_DOWN_AFTER_STAGGER_MS = 500;

/** Patroni's watchdog: armed by the leader, fed after every leader-key refresh, it resets a host whose
 * Patroni stalls `timeout` = ttl - safety_margin s after the last refresh. The timeout lets a leader
 * that sleeps loop_wait and then retries the DCS for retry_timeout still demote itself (which disarms
 * the watchdog) with a second to spare; the margin, ttl - timeout, is how long before the leader key
 * can expire the stalled host is gone. Patroni's stock defaults keep its stock margin (5 s). */
export function watchdogTiming(preset: TimingPresetName): { readonly timeoutSeconds: number; readonly safetyMarginSeconds: number } {
  const { ttl, loopWait, retryTimeout } = TIMING_PRESETS[preset].patroni;
  const timeoutSeconds = preset === "stock" ? ttl - 5 : loopWait + retryTimeout + 1;
  return { timeoutSeconds, safetyMarginSeconds: ttl - timeoutSeconds };
}

/** How soon a Patroni that exited with an error is started again (systemd drop-in; the lab does the
 * same for a host it booted). Patroni exits when it cannot reach the DCS at start-up. */
export const PATRONI_RESTART_SECONDS = 5;

export function presetOf(t: Pick<Topology, "timing">): TimingPreset {
  return TIMING_PRESETS[t.timing];
}

/** How many consecutive checks, one Patroni loop apart, the failover hook needs before it acts. In
 * stretched mode the leader key's expiry already proves a whole ttl without a leader, so two checks
 * that no surviving node took it suffice; a standby-cluster promotion (which fences a region) waits
 * for three. */
export function failoverConfirmations(t: Pick<Topology, "database">): number {
  return t.database.mode === "stretched" ? 2 : 3;
}

