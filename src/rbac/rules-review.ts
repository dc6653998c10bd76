/**
 * What a caller may do in one namespace, as Kubernetes' rule resolver lists it for a
 * SelfSubjectRulesReview (`kubectl auth can-i --list`): the rules of every binding in scope that names
 * the caller — every ClusterRoleBinding, plus the RoleBindings of the namespace when one is given — as
 * written, split into resource rules and non-resource rules, in policy order.
 *
 * Pure, like `authorize`: the list answers the same question `authorize` decides, from the same index.
 */
import { bindingsInScope, type CompiledPolicy } from './compile.ts';

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
}

/** `namespace` '' asks about cluster scope only (ClusterRoleBindings). */
export function rulesOf(policy: CompiledPolicy, caller: { user: string; groups: readonly string[] }, namespace: string): CallerRules {
  const resourceRules: ResourceRuleView[] = [];
  const nonResourceRules: NonResourceRuleView[] = [];
  for (const binding of bindingsInScope(policy, caller, namespace === '' ? undefined : namespace)) {
    for (const rule of binding.policyRules) {
      if (rule.nonResourceURLs !== undefined && rule.nonResourceURLs.length > 0) {
        nonResourceRules.push({ verbs: [...rule.verbs], nonResourceURLs: [...rule.nonResourceURLs] });
        continue;
      }
      resourceRules.push({
        verbs: [...rule.verbs], apiGroups: [...(rule.apiGroups ?? [])], resources: [...(rule.resources ?? [])],
        ...(rule.resourceNames !== undefined && rule.resourceNames.length > 0 ? { resourceNames: [...rule.resourceNames] } : {}),
      });
    }
  }
  return { resourceRules, nonResourceRules };
}
