/**
 * The gate every client request passes before any handler or 404 runs (fastify onRequest), deciding
 * from the one parsed request (request.ts):
 *   1. identity — the verified client certificate (identity.ts); none → 401;
 *   2. a URL that could not be parsed one way only → 400/414;
 *   3. impersonation headers (impersonation.ts) → the identity the request runs as, or 400/403;
 *   4. a member certificate reaches only the member-to-member operations (memberMayCall), whatever
 *      RBAC says: a leaked member key is not an administrator;
 *   5. RBAC (k8s/authorization.ts) over the request's attributes; default deny → 403;
 *   6. a route for system:masters only (route config `mastersOnly`: changing the cluster itself —
 *      membership, leadership, compaction, defragmentation, alarms —, the member's keys, backups of
 *      every Secret), whatever RBAC granted → 403: a grant to call the etcd API and reach some keys
 *      must not move or shrink the cluster, nor hand out every Secret. Refused here, before any
 *      handler, so the audit record says forbid.
 * Every outcome, refusals included, is noted for the audit step (audit-plugin.ts), which records it
 * before any byte of the answer leaves: no request escapes the audit log. A refusal answers in the
 * dialect of the API the request reached (dialect.ts).
 *
 * Invariant: a request reaches a handler only if all six allowed it, and then `callerFor(request)`
 * is the identity it was authorized as.
 */
import type { FastifyInstance } from 'fastify';
import { anonymousUser, noteDecision } from './audit-plugin.ts';
import { answerRefusal } from './dialect.ts';
import type { Identify } from './identity.ts';
import { impersonatedCaller, impersonationChecks, impersonationOf } from './impersonation.ts';
import { type Caller, callerOf, decide, forbiddenMessage, type Impersonator, isMaster, rememberCaller } from './k8s/authorization.ts';
import type { PolicyHolder } from './k8s/policy-holder.ts';
import { type ParsedRequest, parseOf, routeMatchesPath } from './request.ts';
import { routeConfigOf } from './route-config.ts';
import { mastersGroup } from '../rbac/index.ts';
import type { RequestInfo } from './request-info.ts';

/** Paths a member certificate may GET on another member's client port: its probes and metrics. */
const memberProbePaths = new Set(['/healthz', '/livez', '/readyz', '/version', '/metrics']);

/**
 * What members ask each other on the client port: probes, and each member's own audit log for
 * `coffer audit query|verify` (`?local=true`, read-only). Nothing else, whatever the policy grants.
 */
export function memberMayCall(parsed: ParsedRequest): boolean {
  const { info } = parsed;
  const reads = info.verb === 'get' || info.verb === 'head' || info.verb === 'list';
  if (!info.isResource) return reads && memberProbePaths.has(info.path);
  return reads && info.apiGroup === 'coffer.dev' && info.resource === 'auditevents' && parsed.query.local === 'true';
}

export function registerGate(app: FastifyInstance, options: { identify: Identify; policy: PolicyHolder }): void {
  const { identify, policy } = options;
  app.addHook('onRequest', async (request, reply) => {
    const parsed = parseOf(request.raw);
    const refuse = async (code: number, reason: string, message: string, caller: Caller | undefined, why: string) => {
      const user = caller === undefined ? anonymousUser : { username: caller.user, groups: caller.groups };
      noteDecision(request, user, parsed.info, false, why);
      await answerRefusal(request, reply, code, reason, message);
      return reply;
    };
    const identity = identify(request);
    if (identity === undefined) {
      return refuse(401, 'Unauthorized', 'a verified client certificate is required', undefined, 'no verified client certificate');
    }
    const real = callerOf(identity);
    if (!parsed.ok) {
      return refuse(parsed.code, parsed.code === 414 ? 'RequestURITooLong' : 'BadRequest', parsed.message, real, `malformed request: ${parsed.message}`);
    }
    if (!routeMatchesPath(request.routeOptions.url, request.params, parsed)) {
      const message = 'the request path cannot be read unambiguously';
      return refuse(400, 'BadRequest', message, real, `malformed request: ${message}`);
    }
    const impersonation = impersonationOf(request.raw);
    if (impersonation.kind === 'bad') return refuse(400, 'BadRequest', impersonation.message, real, `malformed request: ${impersonation.message}`);
    if (identity.kind === 'member') {
      if (impersonation.kind !== 'none' || !memberMayCall(parsed)) {
        const message = `member certificate ${JSON.stringify(real.user)} may only call the member-to-member operations (probes, metrics, ?local=true audit reads)`;
        return refuse(403, 'Forbidden', message, real, 'member certificates are confined to member-to-member operations');
      }
    }
    let caller = real;
    let impersonated: Caller | undefined;
    let impersonator: Impersonator | undefined;
    if (impersonation.kind === 'impersonate') {
      impersonator = { real, checks: impersonationChecks(impersonation.request) };
      for (const check of impersonator.checks) {
        if (!decide(policy.policy, real, check).allowed) {
          return refuse(403, 'Forbidden', forbiddenMessage(real, check), real, `impersonation refused: cannot impersonate ${check.resource} ${JSON.stringify(check.name)}`);
        }
      }
      impersonated = impersonatedCaller(impersonation.request);
      caller = impersonated;
    }
    const rbac = decide(policy.policy, caller, parsed.info);
    const mastersOnly = routeConfigOf(request).mastersOnly;
    const refusedToNonMasters = rbac.allowed && mastersOnly !== undefined && !isMaster(caller);
    const decision = refusedToNonMasters ? { allowed: false, reason: `only the group ${JSON.stringify(mastersGroup)} may ${mastersOnly}` } : rbac;
    noteDecision(request, { username: real.user, groups: real.groups }, parsed.info, decision.allowed, decision.reason,
      impersonated === undefined ? undefined : { username: impersonated.user, groups: impersonated.groups });
    if (!decision.allowed) {
      const message = refusedToNonMasters ? `${forbiddenMessage(caller, parsed.info)}: only ${mastersGroup} may ${mastersOnly}` : forbiddenMessage(caller, parsed.info);
      await answerRefusal(request, reply, 403, 'Forbidden', message, forbiddenDetails(parsed.info));
      return reply;
    }
    rememberCaller(request, caller, impersonator);
    return undefined;
  });
}

function forbiddenDetails(info: RequestInfo): { name?: string; group?: string; kind?: string } {
  if (!info.isResource) return {};
  return { ...(info.name !== '' ? { name: info.name } : {}), group: info.apiGroup, kind: info.resource };
}
