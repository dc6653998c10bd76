/**
 * The authorizer: a pure function of a compiled policy and one request. Default deny — a request is
 * allowed only if some binding that names the caller (as a user or through one of its groups), and
 * that is in scope for the request, refers to a role with a rule matching the request.
 *
 * Scope, with Kubernetes semantics:
 * - ClusterRoleBindings apply to every request;
 * - a RoleBinding applies only to requests in its own namespace — whether it refers to a Role or a
 *   ClusterRole — so requests without a namespace (cluster-scoped resources, lists across all
 *   namespaces, non-resource URLs) are granted by ClusterRoleBindings alone;
 * - the resources of catalogue.ts that are cluster-scoped (namespaces, clusterroles, …) are evaluated
 *   as requests without a namespace, whatever namespace the request carries.
 *
 * The reason names the binding and role that allowed, or restates the denied request; it never
 * contains anything but names (no object contents). The binding named is the first, in the policy's
 * order, whose role allows; each distinct role is evaluated at most once however many bindings grant it
 * (compile.ts: `rolesInScope`).
 */
import { assert } from '../base/index.ts';
import { isClusterScoped } from './catalogue.ts';
import { type ResourceAttributes, ruleMatchesNonResource, ruleMatchesResource } from './compiled-rule.ts';
import { type CompiledBinding, type CompiledPolicy, rolesInScope } from './compile.ts';
import type { BindingKind, RoleKind } from './model.ts';

interface Caller {
  user: string;
  groups: readonly string[];
  verb: string;
}

/** A request for an API resource: `get secrets "db" in team-a`, `list configmaps`, `create secrets/rotate`. */
export interface ResourceRequest extends Caller {
  /** '' for the core group. */
  apiGroup: string;
  resource: string;
  subresource?: string;
  /** Absent or '' for cluster-scoped resources and for requests across all namespaces. */
  namespace?: string;
  /** Absent or '' when the request names no object (list, watch, create, deletecollection). */
  name?: string;
  nonResourcePath?: undefined;
}

/** A request for a path outside the resource API (`/healthz`, `/version`, `/api`); verb = lowercase HTTP method. */
export interface NonResourceRequest extends Caller {
  nonResourcePath: string;
  apiGroup?: undefined;
  resource?: undefined;
  subresource?: undefined;
  namespace?: undefined;
  name?: undefined;
}

export type AuthorizationRequest = ResourceRequest | NonResourceRequest;

export interface DecidedBy {
  /** The role whose rule allowed the request. */
  kind: RoleKind;
  name: string;
  bindingKind: BindingKind;
  bindingName: string;
  /** The RoleBinding's namespace; absent for a ClusterRoleBinding. */
  bindingNamespace?: string;
}

export interface Decision {
  allowed: boolean;
  reason: string;
  /** Present exactly when allowed. */
  decidedBy?: DecidedBy;
}

export function authorize(policy: CompiledPolicy, request: AuthorizationRequest): Decision {
  assert(request.verb !== '', 'an authorization request carries a verb');
  if (request.nonResourcePath !== undefined) {
    assert(request.resource === undefined, 'a request is either for a resource or for a non-resource path');
    const { verb, nonResourcePath: path } = request;
    const grant = rolesInScope(policy, request, undefined).find((g) => g.rules.some((r) => ruleMatchesNonResource(r, verb, path)));
    return grant !== undefined ? allowedBy(grant.binding) : denied(request, `${verb} path ${JSON.stringify(path)}`);
  }

  assert(request.resource !== '', 'a resource request names its resource');
  const attributes: ResourceAttributes = {
    verb: request.verb,
    apiGroup: request.apiGroup,
    resource: request.resource,
    subresource: request.subresource ?? '',
    name: request.name ?? '',
  };
  const requested = request.namespace ?? '';
  const namespace = requested === '' || isClusterScoped(request.apiGroup, request.resource) ? undefined : requested;
  const grant = rolesInScope(policy, request, namespace).find((g) => g.rules.some((r) => ruleMatchesResource(r, attributes)));
  if (grant !== undefined) return allowedBy(grant.binding);

  const what = attributes.subresource === '' ? attributes.resource : `${attributes.resource}/${attributes.subresource}`;
  const named = attributes.name === '' ? '' : ` ${JSON.stringify(attributes.name)}`;
  const where = namespace === undefined ? 'at cluster scope' : `in namespace ${JSON.stringify(namespace)}`;
  return denied(request, `${request.verb} ${what}${named} in API group ${JSON.stringify(request.apiGroup)} ${where}`);
}

function allowedBy(binding: CompiledBinding): Decision {
  const bindingName = binding.namespace === undefined ? binding.name : `${binding.namespace}/${binding.name}`;
  const decidedBy: DecidedBy = { kind: binding.roleKind, name: binding.roleName, bindingKind: binding.kind, bindingName: binding.name };
  if (binding.namespace !== undefined) decidedBy.bindingNamespace = binding.namespace;
  return {
    allowed: true,
    reason: `RBAC: allowed by ${binding.kind} ${JSON.stringify(bindingName)} of ${binding.roleKind} ${JSON.stringify(binding.roleName)}`,
    decidedBy,
  };
}

function denied(caller: Caller, what: string): Decision {
  return { allowed: false, reason: `RBAC: no rule allows user ${JSON.stringify(caller.user)} to ${what} (default deny)` };
}
