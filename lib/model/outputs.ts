// The contract between `cdktf deploy --outputs-file` (or `terraform output -json`) and the Ansible
// generator: every region stack exports `hosts` and `load_balancer_ip` in these shapes.
import { hostsOf } from "./hosts";
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

/** Reads either shape: {stack: {hosts, load_balancer_ip}} (cdktf) or {hosts, load_balancer_ip} per stack. */
export function parseDeployOutputs(json: unknown, file: string): DeployOutputs {
  if (!json || typeof json !== "object" || Array.isArray(json)) throw new OutputsError(file, ["must be a JSON object of stacks (cdktf deploy --outputs-file) or of outputs (terraform output -json)"]);
  const stacks: Array<Record<string, unknown>> = OUTPUT_HOSTS in json ? [json as Record<string, unknown>] : Object.values(json).filter((s): s is Record<string, unknown> => !!s && typeof s === "object");
  const hosts: Record<string, HostOutput> = {};
  const loadBalancers: Record<string, string> = {};
  const problems: string[] = [];
  for (const stack of stacks) {
    const stackHosts = unwrap(stack[OUTPUT_HOSTS]);
    if (stackHosts === undefined) continue;
    if (!stackHosts || typeof stackHosts !== "object") {
      problems.push(`output "${OUTPUT_HOSTS}" must be an object of hosts, got ${JSON.stringify(stackHosts)}`);
      continue;
    }
    for (const [name, h] of Object.entries(stackHosts as Record<string, Record<string, unknown>>)) {
      for (const field of ["public_ipv4", "private_ipv4"] as const) {
        if (typeof h?.[field] !== "string" || !IPV4.test(h[field] as string)) problems.push(`hosts.${name}.${field} must be an IPv4 address, got ${JSON.stringify(h?.[field])}`);
      }
      hosts[name] = { name, region: String(h?.region), tier: h?.tier as Tier, public_ipv4: String(h?.public_ipv4), private_ipv4: String(h?.private_ipv4) };
      const lb = unwrap(stack[OUTPUT_LOAD_BALANCER_IP]);
      if (typeof lb === "string" && h?.region) loadBalancers[String(h.region)] = lb;
    }
  }
  if (problems.length) throw new OutputsError(file, problems);
  return { hosts, loadBalancers };
}

/** Hosts of the model missing from the outputs (a region stack not deployed, or an old outputs file). */
export function missingHosts(t: Topology, outputs: DeployOutputs): string[] {
  return hostsOf(t).filter((h) => !outputs.hosts[h.name]).map((h) => h.name);
}
