// The region's DigitalOcean load balancer: HTTPS with the origin certificate (HTTP redirected), app
// droplets by tag, health check on the app's health path, reachable only from Cloudflare's ranges.
import { Construct } from "constructs";
import { Fn } from "cdktf";
import { DataCloudflareIpRanges, Loadbalancer } from "../providers";
import { loadBalancerName, presetOf, type Topology } from "../model";

export interface RegionalLoadBalancerProps {
  readonly topology: Topology;
  readonly region: string;
  readonly vpcId: string;
  /** Tag of the region's app droplets. */
  readonly targetTag: string;
}

export class RegionalLoadBalancer extends Construct {
  readonly resource: Loadbalancer;

  constructor(scope: Construct, id: string, props: RegionalLoadBalancerProps) {
    super(scope, id);
    const t = props.topology;
    const lb = presetOf(t).loadBalancer;
    const cloudflare = new DataCloudflareIpRanges(this, "CloudflareRanges", {});
    cloudflare.overrideLogicalId("cloudflare");
    this.resource = new Loadbalancer(this, "Resource", {
      name: loadBalancerName(t, props.region),
      region: props.region,
      type: "REGIONAL",
      vpcUuid: props.vpcId,
      dropletTag: props.targetTag,
      redirectHttpToHttps: true,
      tlsCipherPolicy: "STRONG",
      forwardingRule: [
        { entryPort: 443, entryProtocol: "https", targetPort: t.app.port, targetProtocol: "http", certificateName: t.app.tlsCertificateName },
        { entryPort: 80, entryProtocol: "http", targetPort: t.app.port, targetProtocol: "http" },
      ],
      healthcheck: {
        protocol: "http",
        port: t.app.port,
        path: t.app.healthPath,
        checkIntervalSeconds: lb.intervalSeconds,
        responseTimeoutSeconds: lb.timeoutSeconds,
        unhealthyThreshold: lb.unhealthy,
        healthyThreshold: lb.healthy,
      },
      // Only Cloudflare reaches the origin (the edge proxies every request).
      firewall: { allow: Fn.formatlist("cidr:%s", [cloudflare.ipv4Cidrs]) },
    });
    this.resource.overrideLogicalId("lb");
  }
}
