/**
 * What a caller may do in one namespace, as Kubernetes' rule resolver lists it for a
 * SelfSubjectRulesReview (`kubectl auth can-i --list`): the rules of every role in scope that some
 * binding grants to the caller — through every ClusterRoleBinding, plus the RoleBindings of the namespace
 * when one is given — as written, split into resource rules and non-resource rules, in policy order.
 *
 * Each distinct role is listed once however many bindings grant it (compile.ts: `rolesInScope`), and the
 * answer is bounded by rbacRulesReviewRulesMax and rbacRulesReviewBytesMax: past either, the list stops
 * there and `evaluationError` says why (the review then answers `incomplete: true`).
 *
 * Pure, like `authorize`: the list answers the same question `authorize` decides, from the same index.
 */
import { Buffer } from 'node:buffer';
import { rbacRulesReviewBytesMax, rbacRulesReviewRulesMax } from '../config/index.ts';
import { type CompiledPolicy, rolesInScope } from './compile.ts';

export interface ResourceRuleView {
  verbs: string[];
  apiGroups: string[];
  resources: string[];
  resourceNames?: string[];
}

export interface NonResourceRuleView {
  verbs: string[];
  nonResourceURLs: string[];
}

export interface CallerRules {
  resourceRules: ResourceRuleView[];
  nonResourceRules: NonResourceRuleView[];
  /** Present exactly when the lists were cut at a limit: which one. */
  evaluationError?: string;
}

/** `namespace` '' asks about cluster scope only (ClusterRoleBindings). */
export function rulesOf(policy: CompiledPolicy, caller: { user: string; groups: readonly string[] }, namespace: string): CallerRules {
  const resourceRules: ResourceRuleView[] = [];
  const nonResourceRules: NonResourceRuleView[] = [];
  let count = 0;
  let bytes = 0;
  for (const grant of rolesInScope(policy, caller, namespace === '' ? undefined : namespace)) {
    for (const rule of grant.policyRules) {
      if (count >= rbacRulesReviewRulesMax) {
        return { resourceRules, nonResourceRules, evaluationError: cut(`rbacRulesReviewRulesMax (${rbacRulesReviewRulesMax} rules)`) };
      }
      const view: ResourceRuleView | NonResourceRuleView = rule.nonResourceURLs !== undefined && rule.nonResourceURLs.length > 0
        ? { verbs: [...rule.verbs], nonResourceURLs: [...rule.nonResourceURLs] }
        : {
          verbs: [...rule.verbs], apiGroups: [...(rule.apiGroups ?? [])], resources: [...(rule.resources ?? [])],
          ...(rule.resourceNames !== undefined && rule.resourceNames.length > 0 ? { resourceNames: [...rule.resourceNames] } : {}),
        };
      bytes += Buffer.byteLength(JSON.stringify(view)) + 1;
      if (bytes > rbacRulesReviewBytesMax) {
        return { resourceRules, nonResourceRules, evaluationError: cut(`rbacRulesReviewBytesMax (${rbacRulesReviewBytesMax} bytes)`) };
      }
      count++;
      if ('nonResourceURLs' in view) nonResourceRules.push(view);
      else resourceRules.push(view);
    }
  }
  return { resourceRules, nonResourceRules };
}

function cut(limit: string): string {
  return `the rules in scope exceed ${limit}; the list stops there`;
}
