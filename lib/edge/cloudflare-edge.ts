// The global edge: one health monitor, one pool per serving region (origin: that region's load
// balancer), and a proxied load balancer on the shop hostname that tries pools in order (primary
// region first) and falls back to the last one.
import { Construct } from "constructs";
import { LoadBalancer, LoadBalancerMonitor, LoadBalancerPool } from "../providers";
import { DO_REGIONS, poolName, presetOf, type Topology } from "../model";

export interface CloudflareEdgeProps {
  readonly topology: Topology;
  /** Serving regions in failover order, with their load balancer IPs (tokens). */
  readonly origins: ReadonlyArray<{ readonly region: string; readonly address: string }>;
}

export class CloudflareEdge extends Construct {
  readonly monitor: LoadBalancerMonitor;
  readonly pools: readonly LoadBalancerPool[];
  readonly loadBalancer: LoadBalancer;

  constructor(scope: Construct, id: string, props: CloudflareEdgeProps) {
    super(scope, id);
    const t = props.topology;
    if (props.origins.length < 2) throw new Error(`CloudflareEdge: needs at least two serving regions to fail over, got ${props.origins.length}`);
    const cf = presetOf(t).cloudflare;
    this.monitor = new LoadBalancerMonitor(this, "Monitor", {
      accountId: t.cloudflare.accountId,
      type: "https",
      method: "GET",
      path: t.app.healthPath,
      expectedCodes: "200",
      header: { Host: [t.domain.hostname] },
      interval: t.cloudflare.monitorIntervalSeconds,
      timeout: cf.timeoutSeconds,
      retries: cf.retries,
      description: `${t.domain.hostname} health (${t.app.healthPath})`,
    });
    this.monitor.overrideLogicalId("monitor");
    this.pools = props.origins.map(({ region, address }) => {
      const pool = new LoadBalancerPool(this, `Pool-${region}`, {
        accountId: t.cloudflare.accountId,
        name: poolName(t, region),
        description: `${t.domain.hostname} origin in ${region}`,
        monitor: this.monitor.id,
        minimumOrigins: 1,
        checkRegions: [DO_REGIONS[region].cloudflareCheckRegion],
        origins: [{ name: `${region}-lb`, address, enabled: true, weight: 1, header: { host: [t.domain.hostname] } }],
      });
      pool.overrideLogicalId(`pool-${region}`);
      return pool;
    });
    this.loadBalancer = new LoadBalancer(this, "Resource", {
      zoneId: t.cloudflare.zoneId,
      name: t.domain.hostname,
      description: `${t.project} ${t.environment}: regions in failover order`,
      steeringPolicy: "off",
      defaultPools: this.pools.map((p) => p.id),
      fallbackPool: this.pools[this.pools.length - 1].id,
      proxied: true,
      sessionAffinity: "none",
      adaptiveRouting: { failoverAcrossPools: true },
    });
    this.loadBalancer.overrideLogicalId("edge");
  }
}
