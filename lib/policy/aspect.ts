// Runs the policy rules at synth time: an aspect gives every stack a validation that checks the
// stack's synthesized JSON; cdktf runs validations before writing a stack and fails synthesis with
// every violation listed. Exceptions must be declared, with a reason, in the topology file.
import { TerraformStack, type IAspect } from "cdktf";
import type { IConstruct } from "constructs";
import type { Topology } from "../model";
import type { StackJson } from "./json";
import { POLICY_RULES, vpcOverlaps, type Violation } from "./rules";

export function stackJson(stack: TerraformStack): StackJson {
  return { name: stack.node.id, json: stack.toTerraform() };
}

/** Violations of one stack (and, with `siblings`, of the rules that span stacks). */
export function checkPolicies(t: Topology, stack: StackJson, siblings: readonly StackJson[] = []): Violation[] {
  const context = { vpcRanges: t.regions.map((r) => r.vpcRange) };
  const found = [...POLICY_RULES.flatMap((rule) => rule.check(stack, context)), ...(siblings.length ? vpcOverlaps([stack, ...siblings]) : [])];
  return found.filter((f) => !t.policyExceptions.some((e) => e.rule === f.rule && e.resource === f.resource));
}

export function formatViolation(f: Violation): string {
  return `${f.rule} ${f.resource} (stack ${f.stack}): ${f.message}`;
}

export class PolicyAspect implements IAspect {
  private readonly seen = new Set<TerraformStack>();

  /** `crossStack` names the stack that also checks rules spanning every stack (VPC-1). */
  constructor(private readonly topology: Topology, private readonly crossStack: string) {}

  visit(node: IConstruct): void {
    if (!(node instanceof TerraformStack) || this.seen.has(node)) return;
    this.seen.add(node);
    const stack = node;
    stack.node.addValidation({
      validate: () => {
        const siblings = stack.node.id === this.crossStack
          ? stack.node.scope!.node.children.filter((c): c is TerraformStack => c instanceof TerraformStack && c !== stack).map(stackJson)
          : [];
        return checkPolicies(this.topology, stackJson(stack), siblings).map(formatViolation);
      },
    });
  }
}
