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
import type { RequestInfo, ResourceInfo } from '../request-info.ts';

export interface Caller {
  user: string;
  groups: string[];
}

export function callerOf(identity: ClientIdentity): Caller {
  return { user: identity.user, groups: identity.groups.includes(authenticatedGroup) ? [...identity.groups] : [...identity.groups, authenticatedGroup] };
}

/** Whether `caller` is in system:masters, which RBAC does not consult (Kubernetes' privileged group). */
export function isMaster(caller: Caller): boolean {
  return caller.groups.includes(mastersGroup);
}

export function isAllowed(policy: CompiledPolicy, caller: Caller, info: RequestInfo): boolean {
  return decide(policy, caller, info).allowed;
}

/** The decision and what made it (the binding and role, or the privileged group): the audit records the reason. */
export function decide(policy: CompiledPolicy, caller: Caller, info: RequestInfo): { allowed: boolean; reason: string } {
  if (isMaster(caller)) return { allowed: true, reason: `RBAC: allowed by the privileged group ${JSON.stringify(mastersGroup)}` };
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

/** The real caller behind a request run as another user, and the rights it used to (impersonation.ts). */
export interface Impersonator {
  real: Caller;
  /** What the real caller had to be allowed (impersonate the user and each group). */
  checks: ResourceInfo[];
}

/** The caller of each request, set by the authorization hook (a WeakMap: nothing outlives the request). */
const callers = new WeakMap<object, { caller: Caller; impersonator: Impersonator | undefined }>();

export function rememberCaller(request: object, caller: Caller, impersonator?: Impersonator): void {
  callers.set(request, { caller, impersonator });
}

/** The identity the request runs as (the impersonated one, if any). */
export function callerFor(request: object): Caller {
  return remembered(request).caller;
}

/** The identity that holds the connection: the real caller, whoever it impersonates (quotas count it). */
export function connectedCaller(request: object): Caller {
  const { caller, impersonator } = remembered(request);
  return impersonator?.real ?? caller;
}

/**
 * Whether the real caller may still run `request` as the caller it impersonates, under `policy` (true when
 * it impersonates nobody): an open stream's recheck when the policy changes, as the gate checks each request.
 */
export function mayStillImpersonate(policy: CompiledPolicy, request: object): boolean {
  const { impersonator } = remembered(request);
  return impersonator === undefined || impersonator.checks.every((check) => isAllowed(policy, impersonator.real, check));
}

/** The user holding the connection of a request the gate let through; undefined for one it refused. */
export function authorizedConnectedUser(request: object): string | undefined {
  return callers.has(request) ? connectedCaller(request).user : undefined;
}

function remembered(request: object): { caller: Caller; impersonator: Impersonator | undefined } {
  const entry = callers.get(request);
  if (entry === undefined) throw new Error('no caller: the authorization hook did not run');
  return entry;
}

