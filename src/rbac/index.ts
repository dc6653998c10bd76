/**
 * rbac — Kubernetes RBAC for Coffer: the rbac.authorization.k8s.io/v1 object model (Role,
 * ClusterRole, RoleBinding, ClusterRoleBinding), their validation, compilation into a per-subject
 * index, the authorizer, Kubernetes' escalation check for writes of RBAC objects (escalate/bind or
 * hold every permission granted), and reading policy YAML (`policies/`, `coffer policy apply`).
 *
 * Invariants: default deny — `authorize` allows a request only when a binding in scope names the
 * caller and its role has a rule matching the request; `authorize` and `compilePolicy` are pure (no
 * I/O, clock or randomness) and the compiled policy is immutable; a RoleBinding never grants outside
 * its namespace nor cluster-scoped resources; only load.ts touches the file system. Coffer's own
 * operations are `secrets` subresources in `coffer.dev` (see catalogue.ts), so there are no custom verbs.
 * `rulesOf` lists what a caller may do (SelfSubjectRulesReview) from the same index `authorize` reads.
 */
export { RbacError, type RbacErrorCode, type FieldCause, isRbacError } from './errors.ts';
export {
  type BindingKind, type ClusterRole, type ClusterRoleBinding, type ObjectMeta, type PolicyRule, type RbacKind,
  type RbacObject, type ResourceVerb, type Role, type RoleBinding, type RoleKind, type RoleRef, type Subject,
  type SubjectKind, nonResourceVerbs, rbacApiGroup, rbacApiVersion, rbacKinds, rbacResourceOf, resourceVerbs, wildcard,
} from './model.ts';
export {
  authenticatedGroup, authenticationApiGroup, authorizationApiGroup, cofferApiGroup, coreApiGroup, isClusterScoped, mastersGroup,
} from './catalogue.ts';
export { parseRbacObject } from './validate.ts';
export { type CompiledBinding, type CompiledPolicy, type CompiledRulesCache, type DanglingBinding, type RoleGrant, compilePolicy } from './compile.ts';
export {
  type AuthorizationRequest, type DecidedBy, type Decision, type NonResourceRequest, type ResourceRequest, authorize,
} from './authorize.ts';
export {
  type PolicyDocument, type SelectedPolicies, loadPolicies, parsePolicyYaml, readPolicyDocuments, selectRbacObjects,
} from './load.ts';
export { type RbacWriteDecision, authorizeRbacWrite } from './escalation.ts';
export { type KeyRangeRequest, type KeyRangeVerb, authorizeKeyRange, kvKeysResource } from './key-ranges.ts';
export { type CallerRules, type NonResourceRuleView, type ResourceRuleView, rulesOf } from './rules-review.ts';
