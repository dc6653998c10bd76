/**
 * The authorization step every request passes after identification: the request's RBAC attributes
 * (request-info.ts) and the caller (certificate user and groups, plus `system:authenticated`) are
 * decided by rbac's pure `authorize` over the policy holder's compiled policy. Default deny.
 *
 * As in Kubernetes, the group `system:masters` is allowed everything without consulting RBAC (its
 * privileged-group authorizer), so administrators cannot lock themselves out by a bad policy edit
 * and can reach a member before the default policies are loaded.
 */
import { authenticatedGroup, authorize, mastersGroup, type AuthorizationRequest, type CompiledPolicy } from '../../rbac/index.ts';
import type { ClientIdentity } from '../../pki/index.ts';
import type { RequestInfo } from '../request-info.ts';

export interface Caller {
  user: string;
  groups: string[];
}

export function callerOf(identity: ClientIdentity): Caller {
  return { user: identity.user, groups: identity.groups.includes(authenticatedGroup) ? [...identity.groups] : [...identity.groups, authenticatedGroup] };
}

export function isAllowed(policy: CompiledPolicy, caller: Caller, info: RequestInfo): boolean {
  return decide(policy, caller, info).allowed;
}

/** The decision and what made it (the binding and role, or the privileged group): the audit records the reason. */
export function decide(policy: CompiledPolicy, caller: Caller, info: RequestInfo): { allowed: boolean; reason: string } {
  if (caller.groups.includes(mastersGroup)) return { allowed: true, reason: `RBAC: allowed by the privileged group ${JSON.stringify(mastersGroup)}` };
  const { allowed, reason } = authorize(policy, toAuthorizationRequest(caller, info));
  return { allowed, reason };
}

export function toAuthorizationRequest(caller: Caller, info: RequestInfo): AuthorizationRequest {
  if (!info.isResource) return { user: caller.user, groups: caller.groups, verb: info.verb, nonResourcePath: info.path };
  return {
    user: caller.user, groups: caller.groups, verb: info.verb, apiGroup: info.apiGroup, resource: info.resource,
    ...(info.subresource !== '' ? { subresource: info.subresource } : {}),
    ...(info.namespace !== '' ? { namespace: info.namespace } : {}),
    ...(info.name !== '' ? { name: info.name } : {}),
  };
}

/** Kubernetes' wording of a refusal: `secrets "db" is forbidden: User "bob" cannot get resource "secrets" in API group "" in the namespace "a"`. */
export function forbiddenMessage(caller: Caller, info: RequestInfo): string {
  if (!info.isResource) return `forbidden: User ${JSON.stringify(caller.user)} cannot ${info.verb} path ${JSON.stringify(info.path)}`;
  const resource = info.subresource === '' ? info.resource : `${info.resource}/${info.subresource}`;
  const what = info.name === '' ? resource : `${resource} ${JSON.stringify(info.name)}`;
  const where = info.namespace === '' ? 'at the cluster scope' : `in the namespace ${JSON.stringify(info.namespace)}`;
  const groupPart = info.apiGroup === '' ? '' : `.${info.apiGroup}`;
  return `${what.replace(resource, `${resource}${groupPart}`)} is forbidden: User ${JSON.stringify(caller.user)} cannot ${info.verb} resource ${JSON.stringify(resource)} in API group ${JSON.stringify(info.apiGroup)} ${where}`;
}

/** The caller of each request, set by the authorization hook (a WeakMap: nothing outlives the request). */
const callers = new WeakMap<object, Caller>();

export function rememberCaller(request: object, caller: Caller): void {
  callers.set(request, caller);
}

export function callerFor(request: object): Caller {
  const caller = callers.get(request);
  if (caller === undefined) throw new Error('no caller: the authorization hook did not run');
  return caller;
}

