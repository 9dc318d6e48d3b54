// Every cdktf provider binding the stacks use, imported deeply in this one file: deep imports
// type-check far faster than the package barrels, and a future switch (e.g. to CDK Terrain) touches
// only here.
export { DigitaloceanProvider } from "@cdktf/provider-digitalocean/lib/provider";
export { Droplet } from "@cdktf/provider-digitalocean/lib/droplet";
export { Vpc } from "@cdktf/provider-digitalocean/lib/vpc";
export { VpcPeering } from "@cdktf/provider-digitalocean/lib/vpc-peering";
export { Firewall, type FirewallInboundRule, type FirewallOutboundRule } from "@cdktf/provider-digitalocean/lib/firewall";
export { Loadbalancer } from "@cdktf/provider-digitalocean/lib/loadbalancer";
export { Volume } from "@cdktf/provider-digitalocean/lib/volume";
export { VolumeAttachment } from "@cdktf/provider-digitalocean/lib/volume-attachment";
export { Tag } from "@cdktf/provider-digitalocean/lib/tag";
export { SpacesBucket } from "@cdktf/provider-digitalocean/lib/spaces-bucket";
export { SpacesKey } from "@cdktf/provider-digitalocean/lib/spaces-key";
export { Project } from "@cdktf/provider-digitalocean/lib/project";
export { DataDigitaloceanSshKey } from "@cdktf/provider-digitalocean/lib/data-digitalocean-ssh-key";
export { CloudflareProvider } from "@cdktf/provider-cloudflare/lib/provider";
export { LoadBalancerMonitor } from "@cdktf/provider-cloudflare/lib/load-balancer-monitor";
export { LoadBalancerPool } from "@cdktf/provider-cloudflare/lib/load-balancer-pool";
export { LoadBalancer } from "@cdktf/provider-cloudflare/lib/load-balancer";
export { DataCloudflareIpRanges } from "@cdktf/provider-cloudflare/lib/data-cloudflare-ip-ranges";
