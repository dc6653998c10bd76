/**
 * The audit step of every client request: one audit event per request (one auditID), allowed or
 * denied, written durably before anything the request asks for can change — fail closed.
 *
 * When the event is written (the choice, and why):
 * - An allowed request that may change state (every resource verb but get/list, every call of the KV
 *   and gRPC APIs but those their routes declare read-only: `auditReadOnly`) or that streams (watches, whose response cannot be held back) is recorded in two
 *   stages, as the Kubernetes API server records them: stage `RequestReceived` in a preHandler hook,
 *   after the body is parsed and before the handler runs, with the decision and, as the policy's level
 *   says, the request body — if that record is refused the handler never runs and the answer is 503;
 *   then stage `ResponseComplete` under the same auditID when the response is ready (onSend), with the
 *   response code. A write on a route that changes the store only by proposing (`recordTravels`)
 *   does not wait for its RequestReceived record here: the record is shaped (refused: 503, nothing
 *   proposed) and travels in the write's Raft entry (audit-in-entry.ts), durable with the change; a
 *   handler that proposes nothing has it made durable in this member's log before its answer leaves.
 *   The change has happened by then, so the answer does not wait for that record to be
 *   durable (it is in the chain, and the next group commit covers it), and a refused completion record
 *   does not turn the answer into an error (that would tell the client a change failed that did not):
 *   the answer stands, the refusal is logged and the log reports itself broken (problems, metric). A watch has no
 *   completion record (its stream is hijacked and has no single response code).
 * - An allowed request that changes nothing (reads, discovery) is recorded in the same two stages, but
 *   its handler does not wait for the first: the `RequestReceived` record is appended in the preHandler
 *   hook and its fdatasync runs while the handler works (for a linearizable read, beside the ReadIndex
 *   round); the answer leaves only when both are done (onSend waits for the record). If that record is
 *   refused, the prepared answer is dropped and the answer is 503 instead: no answer without a durable
 *   record. The `ResponseComplete` record then follows as for a change, without holding the answer.
 * - Every request that never reaches a handler (denied or unauthenticated requests, bad bodies) is
 *   recorded once when its response is ready and before any byte of it is sent (onSend): stage
 *   `ResponseComplete`, with the response code. If the record is refused, the prepared response is
 *   dropped and the answer is 503 instead.
 * - A record the log refuses as it is (AuditRecordRefusedError: its content, not the sink) does not
 *   leave its request unrecorded: the request is recorded as `ResponseComplete` without its body,
 *   with the answer it gets (503 when the refused record was the one the request waited for) and the
 *   reason in `coffer.dev/truncated` (`recordWithoutBody`). Only a log that refuses every record
 *   (its sink failed, or it is closed) leaves a 503 unrecorded; its recovery record counts those.
 * Queries show one event per auditID (the latest stage: src/audit/query.ts); the file keeps each stage.
 *
 * Coffer fixes the stages of each request, so a policy's omitStages cannot drop a request's records:
 * `withOneEventPerRequest` clears them (levels, including None, still apply).
 *
 * Bodies are handed to the audit core only for resource requests, and never for a route
 * that declares `config: { auditOmitBody: true }` (bodies carrying key material): a KV value may be a
 * secret, and only Secret bodies are digested.
 *
 * Invariants: a request that may change state reaches its handler only after its first record is
 * durable, travels with its changes (audit-in-entry.ts), or the policy says None; no answer leaves before the request's first record is durable (or
 * the policy says None); each stage of a request is recorded at most once (the `state` mark); no secret value is put
 * into an event here — bodies go to the audit core, which digests Secret values.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  type AuditEventInput, type AuditObjectRef, type AuditPolicy, type AuditQuery, type AuditQueryResult, AuditRecordRefusedError, type AuditStage,
  type AuditUser, AuditUnavailableError, type RecordOptions, streamAnnotation, truncatedAnnotation, type VerifyAuditResult,
} from '../audit/index.ts';
import { TravellingRecord } from './audit-in-entry.ts';
import { answerRefusal, refusalPayload } from './dialect.ts';
import { dryRunValues, isValidDryRun } from './dry-run.ts';
import { recordedStatusCode } from './grpc/status.ts';
import { status, type StatusObject } from './k8s/status.ts';
import { parseOf } from './request.ts';
import type { RequestInfo } from './request-info.ts';
import { type ApiRouteConfig, routeConfigOf } from './route-config.ts';

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
  /**
   * Resolves when the event is durable or the policy does not record it; rejects when it cannot be made
   * durable. A `deferred` record (its answer does not wait for it) shares the next group commit.
   */
  record(input: AuditEventInput, options?: RecordOptions): Promise<void>;
  /**
   * The record of a write, shaped to travel in its Raft entry (audit-in-entry.ts); undefined when the
   * policy does not record it. Throws (AuditUnavailableError) when the log refuses records.
   */
  shape(input: AuditEventInput): string | undefined;
  /** Events of this member's own log, newest first. */
  queryLocal(query: AuditQuery): Promise<AuditQueryResult>;
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
  /** The user the request ran as, when the caller impersonated one. */
  impersonatedUser: AuditUser | undefined;
  info: RequestInfo;
  decision: 'allow' | 'forbid';
  reason: string;
  /** The message of the error the handler threw, if it threw. */
  failure?: string;
  /** 'received': the RequestReceived record is appended (see `received`); 'done': nothing more is recorded for the request. */
  state: 'none' | 'received' | 'done';
  /** Settles when the RequestReceived record is durable (or refused); the answer waits for it. */
  received: Promise<unknown> | undefined;
  /** The RequestReceived record travelling in the request's write (audit-in-entry.ts), if it travels. */
  travelling: TravellingRecord | undefined;
  /** The client's address, taken when the request is let in: a connection gone by the time a record is made no longer tells it. */
  sourceIPs: string[];
}

/** The request's client address, or none if its connection is already gone. */
function sourceIpsOf(request: FastifyRequest): string[] {
  const ip = request.ip as string | undefined;
  return ip === undefined ? [] : [ip];
}

/** Per request, set by the identification/authorization hook; a WeakMap so nothing outlives the request. */
const pending = new WeakMap<object, Pending>();
/** The log each request's events go to, for the requests made later inside its stream (recordStreamRequest). */
const logs = new WeakMap<object, ApiAudit>();
/** The routed request of each node request, so a request node gives up on can still be recorded (recordAbandoned). */
const routed = new WeakMap<IncomingMessage, FastifyRequest>();

/** The user recorded for a request without a verified certificate, as Kubernetes names it. */
export const anonymousUser: AuditUser = { username: 'system:anonymous', groups: ['system:unauthenticated'] };

/** Called by the authorization hook for every request, before it answers or lets the request through. */
export function noteDecision(request: FastifyRequest, user: AuditUser, info: RequestInfo, allowed: boolean, reason: string, impersonatedUser?: AuditUser): void {
  routed.set(request.raw, request);
  pending.set(request, {
    auditID: randomUUID(), receivedAt: new Date(), user: { username: user.username, groups: [...user.groups] },
    impersonatedUser: impersonatedUser === undefined ? undefined : { username: impersonatedUser.username, groups: [...impersonatedUser.groups] }, info,
    decision: allowed ? 'allow' : 'forbid', reason, state: 'none', received: undefined, travelling: undefined,
    sourceIPs: sourceIpsOf(request),
  });
}

/** Records a request the gate let through as refused after all (a step past it refused it), and why. */
export function noteRefusal(request: FastifyRequest, reason: string): void {
  const p = pending.get(request);
  if (p === undefined) return;
  p.decision = 'forbid';
  p.reason = reason;
}

/** Marks the audit record of a dry-run write. */
export const dryRunAnnotation = 'coffer.dev/dry-run';

/** The response header naming the request's audit event (Kubernetes' `Audit-ID`). */
export const auditIdHeader = 'audit-id';

const readVerbs = new Set(['get', 'list', 'head']);

/** Whether a request is recorded before its handler runs (it may change state, or it streams). */
export function recordedBeforeHandler(info: RequestInfo, route: ApiRouteConfig): boolean {
  if (info.isResource) return !readVerbs.has(info.verb);
  if (route.auditReadOnly === true) return false;
  return info.verb !== 'get' && info.verb !== 'head';
}

/**
 * Whether a request that has been handled may have changed anything: one on a route whose writes propose
 * (a KV transaction) did only if it proposed; any other, by its verb (recordedBeforeHandler). A request the
 * audit step did not see is judged by its verb too.
 */
export function mayHaveChanged(request: FastifyRequest): boolean {
  const travelling = pending.get(request)?.travelling;
  if (travelling !== undefined) return travelling.proposed;
  const parsed = parseOf(request.raw);
  return !parsed.ok || recordedBeforeHandler(parsed.info, routeConfigOf(request));
}

/**
 * Whether a request's RequestReceived record travels in its write's Raft entry instead of being made
 * durable before its handler runs: a write on a route that changes the store only by proposing.
 */
export function recordTravels(info: RequestInfo, route: ApiRouteConfig): boolean {
  // A watch streams: it has no answer the record could be written before, so its record never travels.
  return route.auditInEntry === true && recordedBeforeHandler(info, route) && info.verb !== 'watch';
}

/** The policy as Coffer applies it: the stage of each request's one event is fixed, so no stage is omitted. */
export function withOneEventPerRequest(policy: AuditPolicy): AuditPolicy {
  return { omitStages: [], rules: policy.rules.map((rule) => ({ ...rule, omitStages: [] })) };
}

export function registerAuditPlugin(app: FastifyInstance, audit: ApiAudit): void {
  // Every handler runs with its request's travelling record in scope, if it has one (audit-in-entry.ts).
  app.addHook('onRoute', (route) => {
    const handler = route.handler;
    route.handler = function withTravellingRecord(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
      const travelling = pending.get(request)?.travelling;
      return travelling === undefined ? handler.call(this, request, reply) : travelling.around(() => handler.call(this, request, reply));
    };
  });

  app.addHook('preHandler', async (request, reply) => {
    const p = pending.get(request);
    logs.set(request, audit);
    // As the Kubernetes API server does: the response names its audit event.
    if (p !== undefined) void reply.header(auditIdHeader, p.auditID);
    if (p === undefined || p.state !== 'none' || p.decision !== 'allow') return undefined;
    const input = inputOf(request, p, 'RequestReceived', undefined);
    if (recordTravels(p.info, routeConfigOf(request))) {
      // The record is shaped now and goes with the write (or, if none is made, into this member's log
      // before the answer leaves); a log that refuses records refuses the write before anything is proposed.
      let record: string | undefined;
      try {
        record = audit.shape(input);
      } catch (error) {
        p.state = 'done';
        await recordWithoutBody(audit, request, p, 503, error);
        await sendUnavailable(request, reply);
        return reply;
      }
      p.state = 'received';
      if (record !== undefined) p.travelling = new TravellingRecord(record, () => audit.record(input));
      return undefined;
    }
    const received = audit.record(input);
    p.state = 'received';
    if (!recordedBeforeHandler(p.info, routeConfigOf(request))) {
      // A request that changes nothing runs while its record becomes durable; onSend waits for it.
      p.received = received;
      received.catch(() => undefined);
      return undefined;
    }
    try {
      await received;
    } catch (error) {
      p.state = 'done';
      await recordWithoutBody(audit, request, p, 503, error);
      await sendUnavailable(request, reply);
      return reply;
    }
    return undefined;
  });

  // A check past the gate that refuses (a key range, a lease's keys, a cascade, a JSON patch that reads, a
  // blind write to an immutable Secret) throws; its message is the reason the refusal is recorded with.
  app.addHook('onError', async (request, _reply, error) => {
    const p = pending.get(request);
    if (p !== undefined) p.failure = error.message;
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const p = pending.get(request);
    if (p !== undefined) void reply.header(auditIdHeader, p.auditID);
    if (p === undefined || p.state === 'done') return payload;
    const completes = p.state === 'received';
    p.state = 'done';
    const received = p.received ?? p.travelling?.durable();
    if (received !== undefined) {
      try {
        await received;
      } catch (error) {
        await recordWithoutBody(audit, request, p, 503, error);
        return refusalPayload(request, reply, 503, 'ServiceUnavailable', unavailableMessage);
      }
    }
    const code = recordedStatusCode(request, reply);
    // Refused past the gate: the ResponseComplete record (the one queries show) says forbid, and why;
    // a RequestReceived record already written keeps the gate's allow.
    if (code === 403 && p.decision === 'allow') {
      p.decision = 'forbid';
      p.reason = p.failure ?? 'refused after authorization';
    }
    const input = inputOf(request, p, 'ResponseComplete', code);
    if (completes) {
      // The handler ran after a durable (or durable-by-now) RequestReceived record: its answer is the
      // truth about the store, whatever becomes of this record, so the answer does not wait for its
      // fdatasync. The record takes its place in the chain now and is deferred: it shares the next group
      // commit rather than starting one that the next request's record would queue behind. A refusal
      // leaves the RequestReceived record standing; the log itself reports it.
      const recorded = audit.record(input, { deferred: true });
      void recorded.catch(async (error: unknown) => {
        if (!await recordWithoutBody(audit, request, p, code, error, { deferred: true })) {
          request.log.error({ auditID: p.auditID, err: error }, 'audit completion record refused');
        }
      });
      return payload;
    }
    try {
      await audit.record(input);
      return payload;
    } catch (error) {
      // Nothing was sent yet: the prepared answer is replaced by the refusal.
      await recordWithoutBody(audit, request, p, 503, error);
      return refusalPayload(request, reply, 503, 'ServiceUnavailable', unavailableMessage);
    }
  });
}

/**
 * Records the end of a routed request node gave up on — its body did not arrive in time
 * (client-error.ts) — as ResponseComplete with `code`, unless it was already recorded. Resolves with
 * its auditID (undefined for a request that never reached the gate).
 */
export async function recordAbandoned(audit: ApiAudit, raw: IncomingMessage, code: number): Promise<string | undefined> {
  const request = routed.get(raw);
  const p = request === undefined ? undefined : pending.get(request);
  if (request === undefined || p === undefined) return undefined;
  if (p.state === 'done') return p.auditID;
  p.state = 'done';
  try {
    await audit.record(inputOf(request, p, 'ResponseComplete', code));
  } catch (error) {
    if (!await recordWithoutBody(audit, request, p, code, error)) throw error;
  }
  return p.auditID;
}

/**
 * Records a request made inside the open stream of `request` — a gRPC Watch create, served or refused by
 * the key check; a LeaseKeepAlive renewal refused: an event of its own, stage ResponseComplete, naming the
 * stream's event (coffer.dev/stream), so one stream is not one record however many key ranges it opens
 * watches on (each may replay a range's history) or how often it is refused. With a `refusal` reason the
 * event records it as the reason, and decision forbid when `code` is 403; without one, the stream's own
 * decision and reason. Resolves once the record is durable, before the client is told; rejects if the
 * log refuses it (the caller ends the stream). Nothing to do without an audit log.
 */
export async function recordStreamRequest(request: FastifyRequest, code: number, refusal?: string): Promise<void> {
  const p = pending.get(request);
  const audit = logs.get(request);
  if (p === undefined || audit === undefined) return;
  const input = inputOf(request, p, 'ResponseComplete', code);
  input.auditID = randomUUID();
  input.requestReceivedTimestamp = new Date();
  if (refusal !== undefined) {
    if (code === 403) input.decision = 'forbid';
    input.decisionReason = refusal;
  }
  input.annotations = { ...input.annotations, [streamAnnotation]: p.auditID };
  await audit.record(input);
}

/**
 * After `error` refused one of a request's records: unless the log refuses every record (closed, its
 * sink failed — its recovery record counts those refusals), the request is recorded again as
 * ResponseComplete with `code`, the answer it gets, without its body and with the truncation
 * annotation saying why — so a request whose record the log could not hold as it was (its content)
 * still fails closed, but recorded. Resolves true if that record was taken.
 */
async function recordWithoutBody(
  audit: ApiAudit, request: FastifyRequest, p: Pending, code: number, error: unknown, options?: RecordOptions,
): Promise<boolean> {
  if (error instanceof AuditUnavailableError && !(error instanceof AuditRecordRefusedError)) return false;
  const input = inputOf(request, p, 'ResponseComplete', code);
  delete input.requestObject;
  const why = error instanceof Error ? error.message : String(error);
  input.annotations = { ...input.annotations, [truncatedAnnotation]: `requestObject left out: the record holding it was refused (${why})` };
  try {
    await audit.record(input, options);
    request.log.warn({ auditID: p.auditID, err: error }, 'audit record refused as it was; the request is recorded without its body');
    return true;
  } catch (again) {
    request.log.error({ auditID: p.auditID, err: again, first: error }, 'audit record refused, and again without the request body');
    return false;
  }
}

const unavailableMessage = 'the audit log cannot record this request; nothing was changed';
export const unavailableStatus = (): StatusObject => status(503, 'ServiceUnavailable', unavailableMessage);

async function sendUnavailable(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  await answerRefusal(request, reply, 503, 'ServiceUnavailable', unavailableMessage);
}

function inputOf(request: FastifyRequest, p: Pending, stage: AuditStage, code: number | undefined): AuditEventInput {
  const userAgent = request.headers['user-agent'];
  const parsed = parseOf(request.raw);
  const input: AuditEventInput = {
    auditID: p.auditID,
    stage,
    // As received (an encoded attack shows as sent); the policy matches the parsed path.
    requestURI: parsed.rawUrl,
    path: parsed.ok ? parsed.path : '',
    verb: p.info.verb,
    user: p.user,
    sourceIPs: p.sourceIPs,
    decision: p.decision,
    decisionReason: p.reason,
    requestReceivedTimestamp: p.receivedAt,
    stageTimestamp: new Date(),
  };
  if (typeof userAgent === 'string') input.userAgent = userAgent;
  if (p.impersonatedUser !== undefined) input.impersonatedUser = p.impersonatedUser;
  // A dry run changes nothing; its record says so (the URI shows it too, but a query should not parse URIs).
  if (parsed.ok && isValidDryRun(dryRunValues(request))) input.annotations = { [dryRunAnnotation]: 'true' };
  const ref = objectRefOf(p.info, request.body);
  if (ref !== undefined) input.objectRef = ref;
  if (code !== undefined) input.responseStatus = { code };
  // The body as parsed; the audit core keeps it only at levels Request/RequestResponse, Secret values
  // digested. Only resource bodies: never a KV body (a KV value may be anything, and only Secret
  // bodies are digested), nor one of a route that carries key material.
  const omit = routeConfigOf(request).auditOmitBody === true;
  const hasBody = request.body !== undefined && request.body !== null;
  if (p.info.isResource && !omit && hasBody && p.decision === 'allow') input.requestObject = request.body;
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
