/**
 * The audit step of every client request: exactly one audit event per request, allowed or denied,
 * written durably before anything the request asks for can change — fail closed.
 *
 * When the event is written (the choice, and why):
 * - An allowed request that may change state (every resource verb but get/list, every /v3 call but the
 *   read-only ones) or that streams (watches, whose response cannot be held back) is recorded in a
 *   preHandler hook, after the body is parsed and before the handler runs: stage `RequestReceived`,
 *   with the decision and, as the policy's level says, the request body. If the record is refused the
 *   handler never runs and the answer is 503. Such an event has no response code: it cannot know it,
 *   and writing a second event after the handler would either break "one event per request" or, if
 *   that second write failed, report a change the client was told failed.
 * - Every other request (reads, discovery, denied or unauthenticated requests, bad bodies, unknown
 *   paths) changes nothing, so it is recorded when its response is ready and before any byte of it is
 *   sent (onSend): stage `ResponseComplete`, with the response code. If the record is refused, the
 *   prepared response is dropped and the answer is 503 instead.
 *
 * Coffer fixes the stage of each request, so a policy's omitStages cannot drop a request's only event:
 * `withOneEventPerRequest` clears them (levels, including None, still apply).
 *
 * Bodies of /v3 calls are never handed to the audit core (a KV value may be a secret and only Secret
 * bodies are digested).
 *
 * A handler that hijacks its reply (streams) skips onSend, so it must be one recorded before the
 * handler: watches (verb watch) and POST /v3/watch are.
 *
 * Invariants: a request reaches its handler only after its event is durable or the policy says None;
 * a request's event is recorded at most once (the `recorded` mark); no secret value is put into an
 * event here — bodies go to the audit core, which digests Secret values.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditEvent, AuditEventInput, AuditObjectRef, AuditPolicy, AuditQuery, AuditStage, AuditUser, VerifyAuditResult } from '../audit/index.ts';
import { errorBody, grpc } from './errors.ts';
import type { RequestInfo } from './k8s/request-info.ts';
import { status } from './k8s/status.ts';

/** This member's verification of its own audit log. */
export type MemberAuditVerification = VerifyAuditResult & {
  member: string;
  /** The break found when the log was opened (the log then continues in a fresh segment), if any. */
  brokenAtOpen?: { file: string; seq: number; reason: string };
  /** Why records are being refused right now, if they are. */
  failure?: string;
};

/** What the API needs from the member's audit log (src/server implements it over src/audit). */
export interface ApiAudit {
  /** This member's name. */
  readonly member: string;
  /** Resolves when the event is durable or the policy does not record it; rejects when it cannot be made durable. */
  record(input: AuditEventInput): Promise<void>;
  /** Events of this member's own log, newest first. */
  queryLocal(query: AuditQuery): Promise<AuditEvent[]>;
  /** Verifies this member's own log against the checkpoints replicated for it. */
  verifyLocal(): Promise<MemberAuditVerification>;
  /**
   * A GET of `pathAndQuery` on another member's client URL, authenticated as this member, the server
   * checked to be that member; resolves with the JSON body of a 200, rejects otherwise.
   */
  askMember(member: { name: string; clientUrl: string }, pathAndQuery: string): Promise<unknown>;
  /** Problems to report in the member's status (a broken log, refused records). */
  problems(): string[];
}

interface Pending {
  auditID: string;
  receivedAt: Date;
  user: AuditUser;
  info: RequestInfo;
  decision: 'allow' | 'forbid';
  reason: string;
  recorded: boolean;
}

/** Per request, set by the identification/authorization hook; a WeakMap so nothing outlives the request. */
const pending = new WeakMap<object, Pending>();

/** The user recorded for a request without a verified certificate, as Kubernetes names it. */
export const anonymousUser: AuditUser = { username: 'system:anonymous', groups: ['system:unauthenticated'] };

/** Called by the authorization hook for every request, before it answers or lets the request through. */
export function noteDecision(request: FastifyRequest, user: AuditUser, info: RequestInfo, allowed: boolean, reason: string): void {
  pending.set(request, {
    auditID: randomUUID(), receivedAt: new Date(), user: { username: user.username, groups: [...user.groups] }, info,
    decision: allowed ? 'allow' : 'forbid', reason, recorded: false,
  });
}

/** The response header naming the request's audit event (Kubernetes' `Audit-ID`). */
export const auditIdHeader = 'audit-id';

/** Read-only calls of the etcd-shaped KV API: recorded with their response like any read. */
const readOnlyKvPaths = new Set(['/v3/kv/range', '/v3/maintenance/status', '/v3/maintenance/hashkv', '/v3/cluster/member/list']);
const readVerbs = new Set(['get', 'list', 'head']);

/** Whether a request is recorded before its handler runs (it may change state, or it streams). */
export function recordedBeforeHandler(info: RequestInfo): boolean {
  if (info.isResource) return !readVerbs.has(info.verb);
  if (info.path.startsWith('/v3/')) return !readOnlyKvPaths.has(info.path);
  return info.verb !== 'get' && info.verb !== 'head';
}

/** The policy as Coffer applies it: the stage of each request's one event is fixed, so no stage is omitted. */
export function withOneEventPerRequest(policy: AuditPolicy): AuditPolicy {
  return { omitStages: [], rules: policy.rules.map((rule) => ({ ...rule, omitStages: [] })) };
}

export function registerAuditPlugin(app: FastifyInstance, audit: ApiAudit): void {
  app.addHook('preHandler', async (request, reply) => {
    const p = pending.get(request);
    // As the Kubernetes API server does: the response names its audit event.
    if (p !== undefined) void reply.header(auditIdHeader, p.auditID);
    if (p === undefined || p.recorded || p.decision !== 'allow' || !recordedBeforeHandler(p.info)) return undefined;
    p.recorded = true;
    try {
      await audit.record(inputOf(request, p, 'RequestReceived', undefined));
    } catch {
      await sendUnavailable(request, reply);
      return reply;
    }
    return undefined;
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const p = pending.get(request);
    if (p !== undefined) void reply.header(auditIdHeader, p.auditID);
    if (p === undefined || p.recorded) return payload;
    p.recorded = true;
    try {
      await audit.record(inputOf(request, p, 'ResponseComplete', reply.statusCode));
      return payload;
    } catch {
      // Nothing was sent yet: the prepared answer is replaced by the refusal.
      const isKv = request.url.startsWith('/v3/');
      void reply.code(503).header('content-type', 'application/json; charset=utf-8');
      return JSON.stringify(isKv ? errorBody(unavailableKv) : unavailableStatus());
    }
  });
}

const unavailableMessage = 'the audit log cannot record this request; nothing was changed';
const unavailableKv = { status: 503, code: grpc.unavailable, message: unavailableMessage };
const unavailableStatus = () => status(503, 'ServiceUnavailable', unavailableMessage);

async function sendUnavailable(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  await reply.code(503).type('application/json').send(request.url.startsWith('/v3/') ? errorBody(unavailableKv) : unavailableStatus());
}

function inputOf(request: FastifyRequest, p: Pending, stage: AuditStage, code: number | undefined): AuditEventInput {
  const userAgent = request.headers['user-agent'];
  const input: AuditEventInput = {
    auditID: p.auditID,
    stage,
    requestURI: request.url,
    verb: p.info.verb,
    user: p.user,
    sourceIPs: [request.ip],
    decision: p.decision,
    decisionReason: p.reason,
    requestReceivedTimestamp: p.receivedAt,
    stageTimestamp: new Date(),
  };
  if (typeof userAgent === 'string') input.userAgent = userAgent;
  const ref = objectRefOf(p.info, request.body);
  if (ref !== undefined) input.objectRef = ref;
  if (code !== undefined) input.responseStatus = { code };
  // The body as parsed; the audit core keeps it only at levels Request/RequestResponse, Secret values
  // digested. Never a /v3 body: a KV value may be anything, and only Secret bodies are digested.
  const isKv = request.url.startsWith('/v3/');
  if (!isKv && request.body !== undefined && request.body !== null && p.decision === 'allow') input.requestObject = request.body;
  return input;
}

/** The object the request is about; a create names it in its body, as Kubernetes records it. */
function objectRefOf(info: RequestInfo, body: unknown): AuditObjectRef | undefined {
  if (!info.isResource) return undefined;
  const ref: AuditObjectRef = { resource: info.resource, apiVersion: info.apiVersion };
  if (info.apiGroup !== '') ref.apiGroup = info.apiGroup;
  if (info.namespace !== '') ref.namespace = info.namespace;
  if (info.name !== '') ref.name = info.name;
  else if (info.verb === 'create' && info.subresource === '') {
    const name = (body as { metadata?: { name?: unknown } } | null | undefined)?.metadata?.name;
    if (typeof name === 'string' && name !== '') ref.name = name;
  }
  if (info.subresource !== '') ref.subresource = info.subresource;
  return ref;
}
