/**
 * The audit event, shaped like Kubernetes `audit.k8s.io/v1` Event so log systems that read Kubernetes
 * audit logs read Coffer's. The authorization decision and the member travel as annotations, the way
 * the Kubernetes API server records them.
 *
 * Invariants: an event leaving `shapeEvent` holds bodies only as its policy level allows, and a body of
 * a Secret endpoint — or a ConfigMap endpoint, unless the policy rule opted in to clear values — only
 * with every stored value digested (digest.ts); its bodies hold nothing canonical JSON refuses (a
 * number JSON cannot write, a BigInt), so a body never keeps a request from being recorded.
 */
import { setOwnMember } from '../base/index.ts';
import { auditBodyDepthMax, auditRecordBytesMax, auditRecordDigestsMax } from '../config/index.ts';
import { countDigests, DigestSalts, redactValueBody, type ValueEndpoint } from './digest.ts';
import { capEventFields, noteTruncation, truncatedAnnotation } from './field-caps.ts';
import type { AuditLevel, AuditStage } from './levels.ts';

export const decisionAnnotation = 'authorization.k8s.io/decision';
export const reasonAnnotation = 'authorization.k8s.io/reason';
export const memberAnnotation = 'coffer.dev/member';
/** On a refusal made inside a stream (a gRPC Watch create, a LeaseKeepAlive renewal): the auditID of the stream's own event. */
export const streamAnnotation = 'coffer.dev/stream';
export { truncatedAnnotation };

export type AuditDecision = 'allow' | 'forbid';

export interface AuditUser {
  username: string;
  groups: string[];
}

export interface AuditObjectRef {
  resource?: string;
  namespace?: string;
  name?: string;
  /** '' (omitted) for the core group. */
  apiGroup?: string;
  apiVersion?: string;
  subresource?: string;
}

/** What the API plugin hands to `AuditLog.record`. */
export interface AuditEventInput {
  auditID: string;
  stage: AuditStage;
  requestURI: string;
  /**
   * The request's path as the API parsed and served it (decoded, canonical); what the policy's
   * nonResourceURLs match. '' for a request whose URL could not be parsed (no rule path matches it).
   */
  path?: string;
  /** The Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection, or the HTTP method lowercased for non-resource paths. */
  verb: string;
  user: AuditUser;
  /** The user the request ran as when the caller impersonated one (Kubernetes' impersonatedUser). */
  impersonatedUser?: AuditUser;
  sourceIPs: string[];
  userAgent?: string;
  objectRef?: AuditObjectRef;
  responseStatus?: { code: number; reason?: string; message?: string };
  decision: AuditDecision;
  /** The rule or binding that decided, e.g. "RBAC: allowed by ClusterRoleBinding admin of ClusterRole cluster-admin". */
  decisionReason: string;
  /** The request body as parsed JSON; recorded only at level Request or RequestResponse. */
  requestObject?: unknown;
  /** The response body as JSON; recorded only at level RequestResponse. */
  responseObject?: unknown;
  requestReceivedTimestamp: Date;
  stageTimestamp: Date;
  /** Further annotations; the decision and member annotations are always Coffer's own. */
  annotations?: Record<string, string>;
}

/** The event as written to the log (without the chain fields) and as returned by queries. */
export interface AuditEvent {
  kind: 'Event';
  apiVersion: 'audit.k8s.io/v1';
  level: Exclude<AuditLevel, 'None'>;
  auditID: string;
  stage: AuditStage;
  requestURI: string;
  verb: string;
  user: AuditUser;
  impersonatedUser?: AuditUser;
  sourceIPs: string[];
  userAgent?: string;
  objectRef?: AuditObjectRef;
  responseStatus?: { code: number; reason?: string; message?: string };
  requestObject?: unknown;
  responseObject?: unknown;
  /** RFC 3339 with milliseconds, UTC. */
  requestReceivedTimestamp: string;
  stageTimestamp: string;
  annotations: Record<string, string>;
}

/**
 * Builds the recorded event for `level` (never 'None'). Fields a caller controls are capped
 * (field-caps.ts); stored values in bodies are digested under `hmacKey` (see the invariant above), but a
 * body whose values would need more digests than auditRecordDigestsMax (with the other body's) is left
 * out before any is computed; an event whose line would be too long loses its bodies (withoutBodies).
 * Each cut is named in an annotation.
 */
export function shapeEvent(
  input: AuditEventInput,
  level: Exclude<AuditLevel, 'None'>,
  member: string,
  hmacKey: Uint8Array,
  options: { clearConfigMapValues?: boolean } = {},
): AuditEvent {
  const event: AuditEvent = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level,
    auditID: input.auditID,
    stage: input.stage,
    requestURI: input.requestURI,
    verb: input.verb,
    user: { username: input.user.username, groups: [...input.user.groups] },
    sourceIPs: [...input.sourceIPs],
    requestReceivedTimestamp: input.requestReceivedTimestamp.toISOString(),
    stageTimestamp: input.stageTimestamp.toISOString(),
    annotations: {
      ...input.annotations,
      [decisionAnnotation]: input.decision,
      [reasonAnnotation]: input.decisionReason,
      [memberAnnotation]: member,
    },
  };
  if (input.impersonatedUser !== undefined) event.impersonatedUser = { username: input.impersonatedUser.username, groups: [...input.impersonatedUser.groups] };
  if (input.userAgent !== undefined) event.userAgent = input.userAgent;
  if (input.objectRef !== undefined) event.objectRef = { ...input.objectRef };
  if (input.responseStatus !== undefined) event.responseStatus = { ...input.responseStatus };
  capEventFields(event, ownAnnotations);
  const endpoint = valueEndpointOf(input);
  // Where values are digested: a Secret endpoint, a ConfigMap one unless the rule records them in the clear.
  const digestAs = endpoint === 'secrets' || (endpoint === 'configmaps' && options.clearConfigMapValues !== true) ? endpoint : undefined;
  const bodies: ['requestObject' | 'responseObject', unknown][] = [];
  if ((level === 'Request' || level === 'RequestResponse') && input.requestObject !== undefined) bodies.push(['requestObject', input.requestObject]);
  if (level === 'RequestResponse' && input.responseObject !== undefined) bodies.push(['responseObject', input.responseObject]);
  // Digests are counted before any is computed, and before the body is made recordable: a body whose
  // digests the record could never hold is left out without that work, and the record's salts are drawn
  // in one call. Counted as sent: a number JSON cannot hold (then recorded as null, no digest) counts as one.
  let room = auditRecordDigestsMax;
  const kept: ['requestObject' | 'responseObject', unknown][] = [];
  for (const [name, value] of bodies) {
    if (deeperThan(value, auditBodyDepthMax)) {
      noteTruncation(event.annotations, `${name} left out: nested deeper than ${auditBodyDepthMax} levels`);
      continue;
    }
    if (digestAs !== undefined) {
      const count = countDigests(value, room);
      if (count > room) {
        noteTruncation(event.annotations, `${name} left out: its values need more digests than one record holds (auditRecordDigestsMax, ${auditRecordDigestsMax})`);
        continue;
      }
      room -= count;
    }
    kept.push([name, recordableBody(value, name, event.annotations)]);
  }
  const salts = new DigestSalts(digestAs === undefined ? 0 : auditRecordDigestsMax - room);
  for (const [name, value] of kept) event[name] = digestAs !== undefined ? redactValueBody(value, hmacKey, digestAs, salts) : value;
  return event;
}

/** Drops the bodies of an event whose line would exceed auditRecordBytesMax (measured by the caller). */
export function withoutBodies(event: AuditEvent): AuditEvent {
  const { requestObject: _request, responseObject: _response, ...rest } = event;
  const annotations = { ...rest.annotations };
  noteTruncation(annotations, `bodies dropped: line exceeded ${auditRecordBytesMax} bytes`);
  return { ...rest, annotations };
}

/** Annotations Coffer sets from its own short values; every other one (the reason included) is capped. */
const ownAnnotations: ReadonlySet<string> = new Set([decisionAnnotation, memberAnnotation, streamAnnotation]);

/** What a body held that a record cannot hold as it is. */
interface Unrecordable {
  /** Non-finite numbers by how JavaScript writes them (Infinity, -Infinity, NaN). */
  nonFinite: Map<string, number>;
  bigints: number;
}

/**
 * `value` (a body no deeper than auditBodyDepthMax) as the record can hold it, each replacement named
 * in the truncation annotation: a number JSON cannot write — JSON.parse reads 1e400 as Infinity, YAML
 * has .inf and .nan, and canonical JSON (canonical.ts) refuses them — becomes null, which is what
 * JSON.stringify would write; a BigInt (no JSON parser makes one, a decoder might) becomes its decimal
 * string. Everything else canonical JSON writes and reads back alike (-0 is written 0, a lone surrogate
 * escaped, undefined in an array null), so it is kept. Returns `value` itself when nothing was replaced.
 */
function recordableBody(value: unknown, name: string, annotations: Record<string, string>): unknown {
  const found: Unrecordable = { nonFinite: new Map(), bigints: 0 };
  const out = recordableValue(value, found);
  if (found.nonFinite.size > 0) {
    const kinds = [...found.nonFinite].map(([kind, count]) => `${count} × ${kind}`).join(', ');
    noteTruncation(annotations, `${name}: numbers JSON cannot hold recorded as null (${kinds})`);
  }
  if (found.bigints > 0) noteTruncation(annotations, `${name}: ${found.bigints} BigInt value(s) recorded as decimal strings`);
  return out;
}

function recordableValue(value: unknown, found: Unrecordable): unknown {
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value;
    const kind = String(value);
    found.nonFinite.set(kind, (found.nonFinite.get(kind) ?? 0) + 1);
    return null;
  }
  if (typeof value === 'bigint') {
    found.bigints++;
    return value.toString();
  }
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const items: readonly unknown[] = value;
    let copy: unknown[] | undefined;
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      const kept = recordableValue(item, found);
      if (kept !== item) (copy ??= [...items])[i] = kept;
    }
    return copy ?? value;
  }
  // A plain object is copied if a member changes; any other (a decoder's Buffer of bytes) is kept as it is.
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    const kept = recordableValue(item, found);
    if (kept === item) continue;
    if (copy === undefined) {
      copy = {};
      for (const k of Object.keys(value)) setOwnMember(copy, k, (value as Record<string, unknown>)[k]);
    }
    setOwnMember(copy, key, kept);
  }
  return copy ?? value;
}

function deeperThan(value: unknown, levels: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (levels === 0) return true;
  // Object.keys rather than Object.values: V8 lists a map of many members' keys far faster than its values.
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) if (deeperThan((value as Record<string, unknown>)[keys[i]!], levels - 1)) return true;
  return false;
}

/**
 * The value-bearing endpoint a request is about, if any: its objectRef's resource (the core group's
 * `secrets` or `configmaps`, or Coffer's secret subresources); failing that, as defence in depth for a
 * caller that forgot the objectRef, its parsed path, or a body whose kind names one.
 */
function valueEndpointOf(input: AuditEventInput): ValueEndpoint | undefined {
  const named = (text: string | undefined): ValueEndpoint | undefined =>
    text === undefined ? undefined : /^secrets?$|^Secret/i.test(text) ? 'secrets' : /^configmaps?$|^ConfigMap/i.test(text) ? 'configmaps' : undefined;
  const byRef = named(input.objectRef?.resource);
  if (byRef !== undefined) return byRef;
  const segments = (input.path ?? input.requestURI.split('?')[0] ?? '').split('/');
  if (segments.includes('secrets')) return 'secrets';
  if (segments.includes('configmaps')) return 'configmaps';
  for (const body of [input.requestObject, input.responseObject]) {
    const kind = body !== null && typeof body === 'object' ? (body as { kind?: unknown }).kind : undefined;
    const byKind = typeof kind === 'string' ? named(kind) : undefined;
    if (byKind !== undefined) return byKind;
  }
  return undefined;
}
