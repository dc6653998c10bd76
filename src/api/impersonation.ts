/**
 * Kubernetes user impersonation (`kubectl --as USER --as-group GROUP`): the headers `Impersonate-User`
 * and `Impersonate-Group` (repeatable) make the request run as that user and those groups, if the real
 * caller may `impersonate` the user (resource `users`, core group, named by the user) and each group
 * (resource `groups`). As in Kubernetes, an impersonated user other than system:anonymous is also in
 * `system:authenticated`; the audit record keeps the real caller as `user` and names the impersonated
 * one (`impersonatedUser`).
 *
 * Never ignored: `Impersonate-Uid` and `Impersonate-Extra-*` (which Coffer has no use for) and groups
 * without a user are refused with 400, a member certificate may not impersonate at all, and a refused
 * impersonation is a 403 naming what the caller may not impersonate.
 */
import type { IncomingMessage } from 'node:http';
import { authenticatedGroup } from '../rbac/index.ts';
import type { ResourceInfo } from './request-info.ts';

export const impersonateUserHeader = 'impersonate-user';
export const impersonateGroupHeader = 'impersonate-group';
const unsupportedPrefixes = ['impersonate-uid', 'impersonate-extra-'];

export interface ImpersonationRequest {
  user: string;
  groups: string[];
}

/** What the headers ask for: nothing, an impersonation, or a refusal (400) with its message. */
export type ImpersonationHeaders = { kind: 'none' } | { kind: 'impersonate'; request: ImpersonationRequest } | { kind: 'bad'; message: string };

export function impersonationOf(raw: IncomingMessage): ImpersonationHeaders {
  const headers = distinctHeaders(raw, 'impersonate-');
  const names = Object.keys(headers);
  if (names.length === 0) return { kind: 'none' };
  const unsupported = names.find((name) => unsupportedPrefixes.some((prefix) => name.startsWith(prefix)));
  if (unsupported !== undefined) return { kind: 'bad', message: `header ${JSON.stringify(unsupported)} is not supported: Coffer impersonates users and groups only` };
  const unknown = names.find((name) => name !== impersonateUserHeader && name !== impersonateGroupHeader);
  if (unknown !== undefined) return { kind: 'bad', message: `unknown impersonation header ${JSON.stringify(unknown)}` };
  const users = headers[impersonateUserHeader] ?? [];
  const groups = headers[impersonateGroupHeader] ?? [];
  if (users.length !== 1 || users[0] === '') return { kind: 'bad', message: `impersonation needs exactly one non-empty ${impersonateUserHeader} header` };
  if (groups.some((group) => group === '')) return { kind: 'bad', message: `an ${impersonateGroupHeader} header is empty` };
  return { kind: 'impersonate', request: { user: users[0]!, groups: [...new Set(groups)] } };
}

/** Every header whose name starts with `prefix`, each with all its occurrences (a repeated header is not joined). */
function distinctHeaders(raw: IncomingMessage, prefix: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i + 1 < raw.rawHeaders.length; i += 2) {
    const name = raw.rawHeaders[i]!.toLowerCase();
    if (name.startsWith(prefix)) (out[name] ??= []).push(raw.rawHeaders[i + 1]!);
  }
  return out;
}

/** The RBAC questions an impersonation asks: `impersonate users/<user>`, then `impersonate groups/<group>` for each group. */
export function impersonationChecks(request: ImpersonationRequest): ResourceInfo[] {
  const check = (resource: string, name: string): ResourceInfo => ({
    isResource: true, verb: 'impersonate', apiGroup: '', apiVersion: 'v1', resource, subresource: '', namespace: '', name,
  });
  return [check('users', request.user), ...request.groups.map((group) => check('groups', group))];
}

/** The identity the request then runs as. */
export function impersonatedCaller(request: ImpersonationRequest): { user: string; groups: string[] } {
  const groups = [...request.groups];
  if (request.user !== 'system:anonymous' && !groups.includes(authenticatedGroup)) groups.push(authenticatedGroup);
  return { user: request.user, groups };
}
