// The policy checks as the review page lists them: every rule that ran over the synthesized stacks,
// what it found, and the declared exceptions with their reasons and whether they still match anything.
import type { Topology } from "../model";
import type { StackJson } from "../policy/json";
import { POLICY_RULES, vpcOverlaps, type Violation } from "../policy/rules";

export interface PolicyResult {
  readonly rule: string;
  readonly title: string;
  /** Findings not covered by an exception (synthesis refuses these). */
  readonly violations: readonly Violation[];
  /** Findings an exception covers. */
  readonly excepted: readonly Violation[];
}

export interface ExceptionUse {
  readonly rule: string;
  readonly resource: string;
  readonly reason: string;
  /** The exception covers a finding of the current stacks (otherwise it can go). */
  readonly used: boolean;
}

export function policyResults(t: Topology, stacks: readonly StackJson[]): { rules: PolicyResult[]; exceptions: ExceptionUse[] } {
  const context = { vpcRanges: t.regions.map((r) => r.vpcRange) };
  const found = [...POLICY_RULES.flatMap((rule) => stacks.flatMap((s) => rule.check(s, context))), ...vpcOverlaps(stacks)];
  const isExcepted = (f: Violation) => t.policyExceptions.some((e) => e.rule === f.rule && e.resource === f.resource);
  const rules = [...POLICY_RULES.map((r) => ({ id: r.id, title: r.title })), { id: "VPC-1", title: "VPC ranges do not overlap across stacks" }].map((r) => {
    const mine = found.filter((f) => f.rule === r.id);
    return { rule: r.id, title: r.title, violations: mine.filter((f) => !isExcepted(f)), excepted: mine.filter(isExcepted) };
  });
  const exceptions = t.policyExceptions.map((e) => ({ ...e, used: found.some((f) => f.rule === e.rule && f.resource === e.resource) }));
  return { rules, exceptions };
}
