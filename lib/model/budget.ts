// The failover budget: for each failure class, the worst-case seconds each layer adds (and the worst-case
// acknowledged bytes lost), computed from the timing preset, the Cloudflare plan, the database mode and
// the stated round trip between regions. Objectives (objectives.ts) are held against it; the review page
// prints it beside measured figures.
import { hostsOf } from "./hosts";
import { failoverConfirmations, presetOf, SENTINEL_DOWN_AFTER_STAGGER_MS } from "./timing";
import { FAILURE_CLASSES, type FailureClass, type Topology } from "./types";

export const FAILURE_CLASS_LABELS: Readonly<Record<FailureClass, string>> = {
  primaryLoss: "primary host loss",
  postgresCrash: "PostgreSQL crash",
  regionLossDatabase: "region loss (database)",
  regionLossEdge: "region loss (customers through the edge)",
  redisPrimaryLoss: "Redis primary loss",
};

/** Round trip assumed between two regions the topology does not state (`interRegionRtt.defaultMs`). */
export const DEFAULT_INTER_REGION_RTT_MS = 100;

/** etcd round trips of the Patroni writes around a promotion (take the leader key, clear the failover
 * key, write the synchronous state, refresh the key; each a quorum write, forwarded to etcd's leader
 * when the writer's member is a follower). Calibrated on the lab: the switchover's candidate spent
 * 1.4 s there at 60 ms between regions against 0.4 s at 0 ms, i.e. ≈ 17 round trips. */
export const PROMOTION_ETCD_ROUND_TRIPS = 17;
/** etcd round trips of one `patronictl list` by the failover hook (connect, member discovery, a
 * linearizable read through an etcd with a lost member). Calibrated on the lab's CI run at 60 ms: the
 * two confirmations took 5.7 s against 4.0 s at 0 ms, i.e. ≈ 14 round trips per call. */
export const HOOK_CALL_ETCD_ROUND_TRIPS = 14;
/** One `patronictl` call of the hook without the WAN, worst measured: Python start-up, the etcd
 * client's set-up, a TLS handshake and a login (in etcd 3.4 an authentication is a raft proposal, so it
 * waits for an etcd leader) before its reads. The hook reaches only the etcd members outside the lost
 * region, without discovery (views/failover.ts failoverPatronictlView): before that, a call that tried
 * the lost member first waited out its failed connection, 6–11 s (the budget then counted 10.8 s).
 * Measured since, with etcd's leader lost with the region: the lab's hook 6.2–7.2 s from its trigger
 * to `edit-config` done (one 3 s interval and three calls, 1.1–1.4 s each; five runs); the rehearsal's
 * `edit-config` 2.8 s on a loaded machine (2026-12-02). */
const PATRONICTL_CALL_SECONDS = 2.8;
/** The hook's REST check of a lost node waits out this timeout (failover-hook.py `reachable`). */
const HOOK_REST_TIMEOUT_SECONDS = 2;
/** The hook gives up fencing after this long (views/failover.ts FENCE_TIMEOUT_SECONDS): the worst case
 * of a fence that still succeeds. The lab's DigitalOcean stand-in completes power-offs in 1 s. */
export const FENCE_BOUND_SECONDS = 120;
const LAB_FENCE_SECONDS = 1.5;
/** The alert path to the hook as the generator renders it (playbooks-gen/views/monitoring.ts, held
 * against the rendered Prometheus files by a test): Patroni probed every 5 s, rules evaluated every
 * 5 s, no group wait; PatroniNoLeader fires after `for: 2 × ttl`. */
export const ALERT_PATH = { probeIntervalSeconds: 5, ruleIntervalSeconds: 5, noLeaderForTtls: 2 } as const;
/* No Alertmanager cluster wait: in a cluster each instance waits its position × `--cluster.peer-timeout`
 * (15 s) before it notifies, so that the one before it has sent first, but every Alertmanager reaches the
 * hook (its host by name, HTTPS; views/failover.ts), so the first live one sends at once. The lost
 * region's Alertmanagers are out of the member list seconds after the loss (memberlist's suspicion
 * timeout, about 4 s for three peers), long before PatroniNoLeader fires. When only the hook's own host
 * could deliver (a loopback webhook), the rehearsal measured region-loss 28–30 s, 46.2 s and 67.0 s in
 * otherwise alike runs: steps of one peer timeout. */
const PROBE_INTERVAL_SECONDS = ALERT_PATH.probeIntervalSeconds;
const RULE_INTERVAL_SECONDS = ALERT_PATH.ruleIntervalSeconds;
/** The loopback lab triggers the hook itself: once the leader key is gone (stretched), or ≈ 1 s after
 * the freeze (standby-promote). */
const LAB_STANDBY_TRIGGER_SECONDS = 1;

export interface BudgetTerm {
  readonly layer: string;
  readonly seconds: number;
  /** How the term is computed, for people. */
  readonly why: string;
}

export interface ClassBudget {
  readonly failureClass: FailureClass;
  readonly terms: readonly BudgetTerm[];
  /** Sum of the terms; null when a person decides (manual cross-region promotion). */
  readonly totalSeconds: number | null;
  /** Worst-case acknowledged bytes lost; null when nothing bounds it. */
  readonly rpoBytes: number | null;
  readonly rpoWhy: string;
  /** Region classes: what a partition adds to the loss (the region is cut off, not gone). */
  readonly partition?: PartitionRpo;
}

/** A region cut off from the others keeps its primary acknowledging writes that no other region gets,
 * until that primary stops: those writes are lost when another region is promoted, beyond `rpoBytes`. */
export interface PartitionRpo {
  /** Seconds during which the cut-off primary may still acknowledge writes; null when nothing ends it
   * but a person. The loss bound is `rpoBytes` + the WAL of this many seconds of writes. */
  readonly ackWindowSeconds: number | null;
  readonly why: string;
}

export interface BudgetOptions {
  /** `alert`: production, the hook is triggered through Prometheus and Alertmanager. `lab`: the loopback
   * lab's own trigger (the leader key's expiry, or 1 s after a standby-promote freeze). */
  readonly trigger?: "alert" | "lab";
  /** Round trip between regions to use instead of the topology's (e.g. what a lab run used). */
  readonly rttMs?: number;
}

type BudgetTopology = Pick<Topology, "timing" | "cloudflare" | "database" | "regions" | "interRegionRtt">;

/** The stated round trip between two regions, ms (0 inside a region). */
export function interRegionRttMs(t: Pick<Topology, "interRegionRtt">, a: string, b: string): number {
  if (a === b) return 0;
  const pair = t.interRegionRtt.pairs.find((p) => {
    const [x, y] = p.regions.split("-");
    return (x === a && y === b) || (x === b && y === a);
  });
  return pair?.ms ?? t.interRegionRtt.defaultMs;
}

/** Worst round trip between any two regions holding a member of the etcd that `region`'s cluster uses
 * (stretched: every etcd region, minus `without`; standby-cluster: the region's own etcd, 0). */
function etcdRttSeconds(t: BudgetTopology, without: string | null, opts: BudgetOptions): number {
  if (t.database.mode !== "stretched") return 0;
  const regions = [...new Set(hostsOf(t as Topology).filter((h) => h.services.includes("etcd") && h.region !== without).map((h) => h.region))];
  let worst = 0;
  for (const a of regions) for (const b of regions) worst = Math.max(worst, opts.rttMs ?? interRegionRttMs(t, a, b));
  return worst / 1000;
}

const round = (n: number) => Math.round(n * 10) / 10;
const term = (layer: string, seconds: number, why: string): BudgetTerm => ({ layer, seconds: round(seconds), why });

function total(terms: readonly BudgetTerm[]): number {
  return round(terms.reduce((a, x) => a + x.seconds, 0));
}

/** Worst-case budget of every failure class, layer by layer. */
export function failoverBudget(t: BudgetTopology, opts: BudgetOptions = {}): Readonly<Record<FailureClass, ClassBudget>> {
  const p = presetOf(t);
  const { ttl, loopWait, primaryStartTimeout } = p.patroni;
  const primary = t.regions.find((r) => r.role === "primary")?.slug ?? null;
  const rttAll = etcdRttSeconds(t, null, opts);
  const rttSurvivors = etcdRttSeconds(t, primary, opts);
  const haproxy = term("HAProxy", (p.haproxy.rise * p.haproxy.downinterMs) / 1000 + p.haproxy.interMs / 1000,
    `rise ${p.haproxy.rise} × downinter ${p.haproxy.downinterMs} ms + inter ${p.haproxy.interMs} ms`);
  const keyExpiry = term("leader key expiry", ttl + 1, `ttl ${ttl} s after the last refresh, then the watch wakes the replicas (1 s)`);
  // Standby-cluster mode: each region's cluster has its own etcd, no write crosses the WAN.
  const promotionWrites = (rtt: number) => t.database.mode === "stretched" ? [term("Patroni writes over the WAN", PROMOTION_ETCD_ROUND_TRIPS * rtt,
    `${PROMOTION_ETCD_ROUND_TRIPS} etcd round trips × ${round(rtt * 1000)} ms`)] : [];
  const asyncRpo = t.database.maximumLagOnFailoverBytes;
  const inRegionRpo = t.database.synchronousMode
    ? { rpoBytes: 0, rpoWhy: "the synchronous standby in the primary region has every acknowledged write" }
    : { rpoBytes: asyncRpo, rpoWhy: `without synchronousMode an asynchronous replica within maximum_lag_on_failover (${asyncRpo} bytes) can be promoted` };

  const primaryLoss = [keyExpiry, ...promotionWrites(rttAll), haproxy];
  const postgresCrash = [
    term("Patroni notices", loopWait, `loop_wait ${loopWait} s`),
    term("restart in place", primaryStartTimeout, `primary_start_timeout ${primaryStartTimeout} s before failing over`),
    term("leader released", loopWait, `loop_wait ${loopWait} s`),
    keyExpiry, ...promotionWrites(rttAll), haproxy,
  ];

  const region = regionLoss(t, opts, rttSurvivors, haproxy, keyExpiry, promotionWrites);
  const edge = edgeTerms(t, region);
  const redisTerms = [
    term("Sentinel down-after", (p.sentinel.downAfterMs + 2 * SENTINEL_DOWN_AFTER_STAGGER_MS) / 1000,
      `down-after ${p.sentinel.downAfterMs} ms + 2 × ${SENTINEL_DOWN_AFTER_STAGGER_MS} ms stagger (the deciding Sentinel may be the third)`),
    term("split election retry", (2 * p.sentinel.failoverTimeoutMs) / 1000, `2 × failover-timeout ${p.sentinel.failoverTimeoutMs} ms`),
    term("election and promotion", 2, "≈ 1 s each"),
  ];
  return {
    primaryLoss: { failureClass: "primaryLoss", terms: primaryLoss, totalSeconds: total(primaryLoss), ...inRegionRpo },
    postgresCrash: { failureClass: "postgresCrash", terms: postgresCrash, totalSeconds: total(postgresCrash), ...inRegionRpo },
    regionLossDatabase: { failureClass: "regionLossDatabase", ...region },
    regionLossEdge: {
      failureClass: "regionLossEdge", terms: edge, totalSeconds: region.totalSeconds === null ? null : total(edge),
      rpoBytes: region.rpoBytes, rpoWhy: "as for the database: customers write to the surviving region's primary",
      ...(region.partition ? { partition: region.partition } : {}),
    },
    redisPrimaryLoss: {
      failureClass: "redisPrimaryLoss", terms: redisTerms, totalSeconds: total(redisTerms),
      rpoBytes: null, rpoWhy: "Redis replicates asynchronously: writes acknowledged before they reached a replica are lost",
    },
  };
}

/** Customers through the edge after a region loss. Cloudflare's monitor and the database's promotion
 * run side by side from the loss; an order succeeds only once both are done and the surviving region's
 * load balancer has its app hosts back: their /healthz writes through HAProxy :5000, so it took them
 * out while the database was not writable. The customers' gap is max(Cloudflare's detection, the
 * database's promotion + the load balancer's return): the database's terms, the load balancer's, and
 * whatever Cloudflare's monitor adds beyond both. (With both pools marked down, Cloudflare sends orders
 * to its fallback pool, the last region in failover order: the surviving region in a two-region shop.) */
function edgeTerms(t: BudgetTopology, region: Omit<ClassBudget, "failureClass">): BudgetTerm[] {
  const p = presetOf(t);
  const lb = p.loadBalancer;
  const cf = t.cloudflare.monitorIntervalSeconds * (p.cloudflare.retries + 1) + p.cloudflare.timeoutSeconds;
  const cfWhy = `${t.cloudflare.plan} plan: interval ${t.cloudflare.monitorIntervalSeconds} s × (retries ${p.cloudflare.retries} + 1) + timeout ${p.cloudflare.timeoutSeconds} s`;
  if (region.totalSeconds === null) {
    return [term("Cloudflare monitor", cf, cfWhy), term("database promoted in the surviving region", 0, "crossRegionPromotion manual: an operator promotes; not bounded")];
  }
  const database = term("database promoted in the surviving region", region.totalSeconds,
    `the region loss (database) budget: ${region.terms.map((x) => `${x.layer} ${x.seconds} s`).join(" + ")}`);
  const lbBack = term("load balancer takes the app hosts back", lb.healthy * lb.intervalSeconds + lb.timeoutSeconds,
    `their /healthz failed while the database was not writable; healthy_threshold ${lb.healthy} × check every ${lb.intervalSeconds} s, ` +
    `the first good one up to response_timeout ${lb.timeoutSeconds} s late (a check in flight as the database came back, the app's pool reconnecting through HAProxy)`);
  const beyond = cf - database.seconds - lbBack.seconds;
  return [database, lbBack, ...(beyond > 0 ? [term("Cloudflare monitor beyond them", beyond, `${cfWhy} = ${round(cf)} s from the loss, alongside the promotion`)] : [])];
}

/** How long a cut-off stretched primary keeps acknowledging writes: its Patroni renews the leader key
 * every loop_wait and, behind a partition (etcd requests hang rather than fail), gives up and demotes
 * only loop_wait + 2 × retry_timeout after its last renewal, as the lab measured (timing.ts, balanced).
 * Its synchronous standby is in its own region (remote replicas are nosync), so nothing stops it from
 * acknowledging before then; its watchdog, where the host has one, may end it sooner, not counted. */
export function partitionAckWindowSeconds(t: Pick<Topology, "timing">): number {
  const { loopWait, retryTimeout } = presetOf(t).patroni;
  return loopWait + 2 * retryTimeout;
}

function regionLoss(
  t: BudgetTopology, opts: BudgetOptions, rtt: number, haproxy: BudgetTerm, keyExpiry: BudgetTerm,
  promotionWrites: (rtt: number) => BudgetTerm[],
): Omit<ClassBudget, "failureClass"> {
  const p = presetOf(t);
  const { ttl, loopWait } = p.patroni;
  const lab = opts.trigger === "lab";
  const n = failoverConfirmations(t);
  const noLeaderFor = ALERT_PATH.noLeaderForTtls * ttl;
  const alertSeconds = PROBE_INTERVAL_SECONDS + RULE_INTERVAL_SECONDS + noLeaderFor;
  const alertWhy = `PatroniNoLeader for ${ALERT_PATH.noLeaderForTtls} × ttl ${noLeaderFor} s + probe ${PROBE_INTERVAL_SECONDS} s + rule evaluation ${RULE_INTERVAL_SECONDS} s`
    + " (the first live Alertmanager delivers: every one reaches the hook)";
  const manual = t.database.crossRegionPromotion === "manual";
  const operator = term("operator runs the promotion", 0, "crossRegionPromotion manual: the hook only confirms and alerts; not bounded");
  if (t.database.mode === "standby-cluster") {
    const terms = [
      lab ? term("trigger", LAB_STANDBY_TRIGGER_SECONDS, "the lab triggers the hook 1 s after the freeze") : term("alert path", alertSeconds, alertWhy),
      term("hook confirmations", (n - 1) * (loopWait + 1) + n * (PATRONICTL_CALL_SECONDS + HOOK_REST_TIMEOUT_SECONDS) + (manual ? 0 : PATRONICTL_CALL_SECONDS),
        `${n} checks, loop_wait + 1 s apart, each waiting out the lost nodes' ${HOOK_REST_TIMEOUT_SECONDS} s REST timeout and a ${PATRONICTL_CALL_SECONDS} s patronictl call`),
      ...(manual ? [operator] : [
        lab ? term("fence", LAB_FENCE_SECONDS, "the lab's DigitalOcean stand-in completes power-offs in 1 s; the hook polls every 0.5 s")
          : term("fence", FENCE_BOUND_SECONDS, "the hook's fence timeout: DigitalOcean power-offs of the old region's database droplets"),
        term("standby leader promoted", loopWait, `within one loop_wait ${loopWait} s`),
        haproxy,
      ]),
    ];
    // The cut-off region's cluster has its own etcd: its primary keeps its leader key and acknowledges
    // until the hook's fence powers it off.
    const fenced = manual ? null : total(terms.slice(0, 3));
    return {
      terms, totalSeconds: manual ? null : total(terms),
      rpoBytes: manual ? 0 : null,
      rpoWhy: manual
        ? "an operator promotes, choosing between waiting for the region and what the standby cluster lacks"
        : "the standby cluster replicates asynchronously and the hook promotes it without a lag check",
      partition: {
        ackWindowSeconds: fenced,
        why: fenced === null
          ? "a cut-off primary region keeps its own etcd and its leader key: it acknowledges writes until an operator fences it"
          : `a cut-off primary region keeps its own etcd and its leader key: it acknowledges writes the standby cluster never gets until the hook's fence powers it off (${terms.slice(0, 3).map((x) => `${x.layer} ${x.seconds} s`).join(" + ")} = ${fenced} s); unbounded in bytes like the promotion itself`,
      },
    };
  }
  // Stretched: etcd may lose its raft leader with the region; a new leader restarts every lease's ttl.
  const etcd = term("etcd election", (3 * p.etcd.electionMs) / 1000, `up to 2 × election ${p.etcd.electionMs} ms randomized, plus a split vote`);
  const terms: BudgetTerm[] = [etcd, keyExpiry];
  if (t.database.synchronousMode) {
    // PatroniNoLeader starts counting at the loss (the leader stops answering), the key expiry after
    // the etcd election: the hook waits for whichever is later.
    const beyondKey = alertSeconds - etcd.seconds - keyExpiry.seconds;
    if (!lab && beyondKey > 0) terms.push(term("alert path beyond the key's expiry", beyondKey, `${alertWhy} = ${alertSeconds} s from the loss`));
    // Each check waits out the lost nodes' REST timeout (in production their packets go nowhere; the
    // lab's stopped processes refuse at once), then lists the cluster; acting is one more call.
    const rest = lab ? 0 : HOOK_REST_TIMEOUT_SECONDS;
    const call = PATRONICTL_CALL_SECONDS + HOOK_CALL_ETCD_ROUND_TRIPS * rtt;
    terms.push(term("hook confirmations", (n - 1) * (loopWait + 1) + n * (rest + call) + (manual ? 0 : call),
      `${n} checks, loop_wait + 1 s apart, each ${rest ? `a ${rest} s REST timeout and ` : ""}a patronictl call${manual ? "" : ", then edit-config"}: ${PATRONICTL_CALL_SECONDS} s + ${HOOK_CALL_ETCD_ROUND_TRIPS} etcd round trips × ${round(rtt * 1000)} ms per call`));
    if (manual) terms.push(operator);
  }
  if (!manual || !t.database.synchronousMode) terms.push(...promotionWrites(rtt), haproxy);
  const { loopWait: lw, retryTimeout } = p.patroni;
  const window = partitionAckWindowSeconds(t);
  return {
    terms, totalSeconds: manual && t.database.synchronousMode ? null : total(terms),
    rpoBytes: manual ? 0 : t.database.maximumLagOnFailoverBytes,
    rpoWhy: manual
      ? "an operator promotes, choosing between waiting for the region and the remote replicas' lag"
      : `remote replicas are asynchronous: Patroni promotes one within maximum_lag_on_failover (${t.database.maximumLagOnFailoverBytes} bytes)`,
    partition: {
      ackWindowSeconds: window,
      why: `a region cut off, not lost: its primary keeps acknowledging writes that no other region receives until its Patroni gives up renewing the leader key and demotes, loop_wait ${lw} s + 2 × retry_timeout ${retryTimeout} s = ${window} s after its last renewal (the last position the promoted replica's lag is checked against)${manual ? ", lost if the operator then promotes" : ""}: ${manual ? "" : "maximum_lag_on_failover + "}the WAL of ${window} s of writes; only synchronous replication across regions bounds it in bytes`,
    },
  };
}

/** Worst-case recovery seconds per failure class; region loss (database and edge) is null when a person promotes. */
export type RtoBudget = Readonly<Record<Exclude<FailureClass, "regionLossDatabase" | "regionLossEdge">, number> & { regionLossDatabase: number | null; regionLossEdge: number | null }>;

export function rtoBudget(t: BudgetTopology, opts: BudgetOptions = {}): RtoBudget {
  const b = failoverBudget(t, opts);
  return Object.fromEntries(FAILURE_CLASSES.map((c) => [c, b[c].totalSeconds])) as unknown as RtoBudget;
}
