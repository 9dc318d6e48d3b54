// The contract between `cdktf deploy --outputs-file` (or `terraform output -json`) and the Ansible
// generator: every region stack exports `hosts` and `load_balancer_ip` in these shapes.
import { hostsOf } from "./hosts";
import { containsCidr, parseCidr, type Cidr } from "./network";
import type { Tier, Topology } from "./types";

export const OUTPUT_HOSTS = "hosts";
export const OUTPUT_LOAD_BALANCER_IP = "load_balancer_ip";

/** One host as exported by its region stack (snake_case: it is Terraform data). */
export interface HostOutput {
  readonly name: string;
  readonly region: string;
  readonly tier: Tier;
  readonly public_ipv4: string;
  readonly private_ipv4: string;
}

export interface DeployOutputs {
  readonly hosts: Readonly<Record<string, HostOutput>>;
  /** Region slug → public IP of its load balancer. */
  readonly loadBalancers: Readonly<Record<string, string>>;
}

export class OutputsError extends Error {
  constructor(readonly file: string, readonly problems: readonly string[]) {
    super(`${file}: ${problems.join("; ")}`);
    this.name = "OutputsError";
  }
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** `terraform output -json` wraps each output as {value, type, sensitive}; cdktf's outputs file does not. */
function unwrap(v: unknown): unknown {
  return v && typeof v === "object" && !Array.isArray(v) && "value" in v && ("type" in v || "sensitive" in v) ? (v as { value: unknown }).value : v;
}

/** An IPv4 address in dotted decimal, each octet 0–255. */
export function isIpv4(text: unknown): text is string {
  const m = typeof text === "string" ? IPV4.exec(text) : null;
  return !!m && m.slice(1).every((o) => Number(o) <= 255 && String(Number(o)) === o);
}

/** Reads either shape: {stack: {hosts, load_balancer_ip}} (cdktf) or {hosts, load_balancer_ip} per stack. */
export function parseDeployOutputs(json: unknown, file: string): DeployOutputs {
  if (!json || typeof json !== "object" || Array.isArray(json)) throw new OutputsError(file, ["must be a JSON object of stacks (cdktf deploy --outputs-file) or of outputs (terraform output -json)"]);
  const stacks: Array<[string | undefined, Record<string, unknown>]> = OUTPUT_HOSTS in json
    ? [[undefined, json as Record<string, unknown>]]
    : Object.entries(json).filter((e): e is [string, Record<string, unknown>] => !!e[1] && typeof e[1] === "object");
  const hosts: Record<string, HostOutput> = {};
  const loadBalancers: Record<string, string> = {};
  const problems: string[] = [];
  for (const [stackName, stack] of stacks) {
    const stackHosts = unwrap(stack[OUTPUT_HOSTS]);
    if (stackHosts === undefined) continue;
    const where = stackName === undefined ? "" : `stack ${stackName}: `;
    if (!stackHosts || typeof stackHosts !== "object") {
      problems.push(`${where}output "${OUTPUT_HOSTS}" must be an object of hosts, got ${JSON.stringify(stackHosts)}`);
      continue;
    }
    const stackRegion = stackName?.match(/^region-(.+)$/)?.[1];
    for (const [name, h] of Object.entries(stackHosts as Record<string, Record<string, unknown>>)) {
      for (const field of ["public_ipv4", "private_ipv4"] as const) {
        if (!isIpv4(h?.[field])) problems.push(`${where}hosts.${name}.${field} must be an IPv4 address, got ${JSON.stringify(h?.[field])}`);
      }
      if (stackRegion !== undefined && h?.region !== stackRegion) problems.push(`${where}hosts.${name}.region must be ${JSON.stringify(stackRegion)} (the stack's region), got ${JSON.stringify(h?.region)}`);
      if (hosts[name]) problems.push(`${where}hosts.${name} is listed twice (also in another stack); write the outputs again with cdktf deploy --outputs-file`);
      hosts[name] = { name, region: String(h?.region), tier: h?.tier as Tier, public_ipv4: String(h?.public_ipv4), private_ipv4: String(h?.private_ipv4) };
      const lb = unwrap(stack[OUTPUT_LOAD_BALANCER_IP]);
      if (typeof lb === "string" && h?.region) loadBalancers[String(h.region)] = lb;
    }
  }
  if (problems.length) throw new OutputsError(file, problems);
  return { hosts, loadBalancers };
}

/** The outputs held against the model: every host where the model puts it, addresses well-formed,
 * unique, and private ones inside their region's VPC. Throws OutputsError naming host and field. */
export function checkOutputs(t: Topology, outputs: DeployOutputs, file: string): void {
  const problems: string[] = [];
  const model = new Map(hostsOf(t).map((h) => [h.name, h]));
  const vpcs = new Map(t.regions.map((r) => [r.slug, parseCidr(r.vpcRange)]));
  const seen = new Map<string, string>(); // address → "host.field" that has it
  for (const h of Object.values(outputs.hosts)) {
    const m = model.get(h.name);
    if (!m) {
      problems.push(`hosts.${h.name} is not a host of the topology (an old outputs file, or another environment's?); write the outputs again with cdktf deploy --outputs-file`);
      continue;
    }
    if (h.region !== m.region) problems.push(`hosts.${h.name}.region must be ${JSON.stringify(m.region)} as in the topology, got ${JSON.stringify(h.region)}`);
    if (h.tier !== m.tier) problems.push(`hosts.${h.name}.tier must be ${JSON.stringify(m.tier)} as in the topology, got ${JSON.stringify(h.tier)}`);
    const vpc = vpcs.get(m.region);
    if (vpc && typeof vpc !== "string" && isIpv4(h.private_ipv4) && !containsCidr(vpc, parseCidr(`${h.private_ipv4}/32`) as Cidr)) {
      problems.push(`hosts.${h.name}.private_ipv4 must be inside ${m.region}'s VPC ${vpc.text}, got ${JSON.stringify(h.private_ipv4)}`);
    }
    for (const field of ["public_ipv4", "private_ipv4"] as const) {
      const other = seen.get(h[field]);
      if (other) problems.push(`hosts.${h.name}.${field} ${JSON.stringify(h[field])} is already ${other}'s; each host has its own addresses`);
      else seen.set(h[field], `hosts.${h.name}.${field}`);
    }
  }
  if (problems.length) throw new OutputsError(file, problems);
}

/** Hosts of the model missing from the outputs (a region stack not deployed, or an old outputs file). */
export function missingHosts(t: Topology, outputs: DeployOutputs): string[] {
  return hostsOf(t).filter((h) => !outputs.hosts[h.name]).map((h) => h.name);
}
