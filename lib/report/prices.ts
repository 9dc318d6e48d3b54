// The dated list prices the review page's monthly cost uses. Edit this table (and its date and
// sources) when the providers change their prices; a size without a price is reported as unpriced,
// never guessed. USD per month, list prices before taxes, credits and commitments.

export interface PriceTable {
  /** When the figures below were read from their sources. */
  readonly asOf: string;
  readonly sources: readonly string[];
  /** Droplet size slug → USD per month (billed hourly up to this monthly cap). */
  readonly droplets: Readonly<Record<string, number>>;
  readonly volumePerGibMonth: number;
  /** Per load balancer node (the stacks create one-node regional load balancers). */
  readonly loadBalancerPerNode: number;
  /** Spaces subscription: every bucket of the account, 250 GiB stored and 1 TiB out included. */
  readonly spacesSubscription: number;
  /** Cloudflare Load Balancing add-on: its base price includes `cloudflareLbIncludedOrigins` origins. */
  readonly cloudflareLoadBalancing: number;
  readonly cloudflareLbIncludedOrigins: number;
  readonly cloudflareLbPerExtraOrigin: number;
  /** Cloudflare zone plan billed monthly (null: by contract). */
  readonly cloudflarePlan: Readonly<Record<string, number | null>>;
}

export const PRICES: PriceTable = {
  asOf: "2026-12-02",
  sources: [
    "Droplets (Basic, regular SSD; monthly caps in force since DigitalOcean's July 2022 price change): https://docs.digitalocean.com/products/droplets/details/pricing and the change's table at https://gist.github.com/colinwilson/cd31bde012f6727b24b2fc4ebee749c0",
    "Volumes $0.10 per GiB per month: DigitalOcean Volumes pricing, as quoted in https://adhdecode-articles-1.pages.dev/articles/digitalocean/digitalocean-cost-estimation-guide/",
    "Load balancers $10.00 per node per month: https://docs.digitalocean.com/products/networking/load-balancers/ (the stored page; check the current price before budgeting)",
    "Spaces $5 per month for every bucket of the account (250 GiB, 1 TiB out): https://www.digitalocean.com/community/questions/prices-explanation-5-per-space-or-5-for-spaces",
    "Cloudflare Load Balancing from $5 per month (2 origins; extra origins $5 each): https://github.com/kyawswarthwin/cloudflare-workers-load-balancing and https://developers.cloudflare.com/load-balancing/about/",
    "Cloudflare plans billed monthly (Pro $25, Business $250; Enterprise by contract): https://www.cloudflare.com/plans/",
  ],
  droplets: {
    "s-1vcpu-512mb-10gb": 4,
    "s-1vcpu-1gb": 6,
    "s-1vcpu-2gb": 12,
    "s-2vcpu-2gb": 18,
    "s-2vcpu-4gb": 24,
    "s-4vcpu-8gb": 48,
    "s-8vcpu-16gb": 96,
  },
  volumePerGibMonth: 0.1,
  loadBalancerPerNode: 10,
  spacesSubscription: 5,
  cloudflareLoadBalancing: 5,
  cloudflareLbIncludedOrigins: 2,
  cloudflareLbPerExtraOrigin: 5,
  cloudflarePlan: { free: 0, pro: 25, business: 250, enterprise: null },
};
