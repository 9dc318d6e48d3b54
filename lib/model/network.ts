// IPv4 CIDR arithmetic and the VPC address plan (one non-overlapping RFC 1918 range per region).
import { createHash } from "crypto";

export interface Cidr {
  readonly base: number; // network address as an unsigned 32-bit integer
  readonly prefix: number;
  readonly text: string;
}

/** Parses `a.b.c.d/n`; returns a reason string when it is not a valid network. */
export function parseCidr(text: string): Cidr | string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  if (!m) return "is not an IPv4 CIDR like 10.10.0.0/20";
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32) return "has an octet above 255 or a prefix above 32";
  const addr = ipToInt(octets);
  const base = prefix === 0 ? 0 : (addr & maskOf(prefix)) >>> 0;
  if (base !== addr) return `has host bits set (the network is ${intToIp(base)}/${prefix})`;
  return { base, prefix, text };
}

export function ipToInt(octets: readonly number[]): number {
  return (((octets[0] << 24) >>> 0) + (octets[1] << 16) + (octets[2] << 8) + octets[3]) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + size(b) && b.base < a.base + size(a);
}

export function containsCidr(outer: Cidr, inner: Cidr): boolean {
  return inner.base >= outer.base && inner.base + size(inner) <= outer.base + size(outer);
}

const PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"].map((t) => parseCidr(t) as Cidr);

/** RFC 1918 private range. */
export function isPrivate(c: Cidr): boolean {
  return PRIVATE.some((p) => containsCidr(p, c));
}

/** Ranges DigitalOcean reserves for its own services; a VPC must not use them. */
export const DO_RESERVED = ["10.244.0.0/16", "10.245.0.0/16", "10.246.0.0/24", "10.229.0.0/16"].map((t) => parseCidr(t) as Cidr);

/** Second octets the automatic plan never uses: DigitalOcean's reserved 10.229/16 and 10.244–10.246. */
const AUTO_RESERVED_OCTETS = new Set(DO_RESERVED.map((c) => (c.base >>> 16) & 255));

/** The second octet of the automatic plan of a project and environment: a /16 picked by a hash of
 * `<project>-<environment>` (1–254, not reserved), so two environments in one account get different
 * ranges (DigitalOcean refuses overlapping VPC ranges in an account). */
export function autoVpcOctet(project: string, environment: string): number {
  const candidates = Array.from({ length: 254 }, (_, i) => i + 1).filter((o) => !AUTO_RESERVED_OCTETS.has(o));
  const digest = createHash("sha256").update(`${project}-${environment}`).digest();
  return candidates[digest.readUInt32BE(0) % candidates.length];
}

/** Automatic plan: region i (in file order) gets the i-th /20 of 10.<autoVpcOctet>.0.0/16. */
export function autoVpcRange(project: string, environment: string, index: number): string {
  if (index < 0 || index > 15) throw new Error(`the automatic VPC plan has 16 ranges, region index ${index} is out of it`);
  return `10.${autoVpcOctet(project, environment)}.${index * 16}.0/20`;
}
