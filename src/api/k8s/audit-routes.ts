/**
 * Coffer's audit API, `coffer.dev/v1`, RBAC resource `auditevents` (cluster-scoped):
 *
 *   GET /apis/coffer.dev/v1/audit/events?user=&group=&verb=&resource=&namespace=&name=&decision=&since=&until=&limit=
 *       → list auditevents: an `AuditEventList`, newest first, merged from every member's own log
 *   GET /apis/coffer.dev/v1/audit/verify
 *       → get auditevents/verify: an `AuditVerification`, each member verifying its own log
 *
 * With `local=true` a member answers for its own log only; that is how members ask each other
 * (authenticated by their member certificates, which the default policies allow to read audit).
 * A member that cannot be reached is named in `members[].error`, never silently left out.
 *
 * Invariant: every filter is validated (AuditQueryError → 400) before any member is asked.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { type AuditEvent, type AuditQuery, compileAuditQuery, latestStagePerRequest, memberAnnotation } from '../../audit/index.ts';
import type { ApiAudit, MemberAuditVerification } from '../audit-plugin.ts';
import type { KvBackend } from '../kv/backend.ts';
import { status } from './status.ts';

const base = '/apis/coffer.dev/v1/audit';
const filterNames = ['user', 'group', 'verb', 'resource', 'namespace', 'name', 'decision', 'since', 'until', 'limit'] as const;

/** How one member took part in a cluster-wide answer. */
export interface MemberOutcome {
  name: string;
  /** Events it returned (for a query). */
  events?: number;
  /** Its older matches were left out: its events reached auditQueryMemberBytesMax (narrow the query). */
  truncated?: true;
  /** Why it could not answer. */
  error?: string;
}

export interface AuditEventList {
  kind: 'AuditEventList';
  apiVersion: 'coffer.dev/v1';
  metadata: Record<string, never>;
  items: AuditEvent[];
  members: MemberOutcome[];
}

export interface AuditVerification {
  kind: 'AuditVerification';
  apiVersion: 'coffer.dev/v1';
  /** True only if every member was reached and its log verified. */
  ok: boolean;
  members: Array<MemberAuditVerification | { member: string; ok: false; error: string }>;
}

export function registerAuditRoutes(app: FastifyInstance, options: { audit: ApiAudit; backend: KvBackend }): void {
  const { audit, backend } = options;

  app.get(`${base}/events`, async (request, reply) => {
    const params = request.query as Record<string, unknown>;
    let query: AuditQuery;
    let limit: number;
    try {
      query = parseQuery(params);
      limit = compileAuditQuery(query).limit;
    } catch (error) {
      return badRequest(reply, (error as Error).message);
    }
    const own = await audit.queryLocal(query);
    const ownOutcome: MemberOutcome = { name: audit.member, events: own.events.length, ...(own.truncated ? { truncated: true } : {}) };
    if (params.local === 'true') return list(own.events, [ownOutcome]);
    const search = new URLSearchParams();
    for (const name of filterNames) {
      const value = params[name];
      if (typeof value === 'string') search.set(name, value);
    }
    // A duration (`1h`) is resolved once, here, so every member filters on the same instant.
    if (query.since instanceof Date) search.set('since', query.since.toISOString());
    if (query.until instanceof Date) search.set('until', query.until.toISOString());
    search.set('local', 'true');
    const outcomes: MemberOutcome[] = [ownOutcome];
    const items = [...own.events];
    await Promise.all(peersOf(backend, audit.member).map(async (peer) => {
      try {
        if (peer.clientUrl === '') throw new Error('the member has not published its client URL');
        const body = await audit.askMember(peer, `${base}/events?${search.toString()}`);
        const { items: events, members } = body as { items?: unknown; members?: { truncated?: unknown }[] };
        if (!Array.isArray(events)) throw new Error('the member answered without items');
        items.push(...(events as AuditEvent[]));
        outcomes.push({ name: peer.name, events: events.length, ...(members?.[0]?.truncated === true ? { truncated: true } : {}) });
      } catch (error) {
        outcomes.push({ name: peer.name, error: (error as Error).message });
      }
    }));
    const merged = latestStagePerRequest(items).sort(newestFirst);
    outcomes.sort((a, b) => a.name.localeCompare(b.name));
    return list(merged.slice(0, limit), outcomes);
  });

  app.get(`${base}/verify`, async (request): Promise<AuditVerification> => {
    const own = await audit.verifyLocal();
    const local = (request.query as Record<string, unknown>).local === 'true';
    const members: AuditVerification['members'] = [own];
    if (!local) {
      await Promise.all(peersOf(backend, audit.member).map(async (peer) => {
        try {
          if (peer.clientUrl === '') throw new Error('the member has not published its client URL');
          const body = await audit.askMember(peer, `${base}/verify?local=true`) as Partial<AuditVerification>;
          const theirs = body.members?.[0];
          if (theirs === undefined || typeof theirs.ok !== 'boolean') throw new Error('the member answered without a verification');
          members.push(theirs);
        } catch (error) {
          members.push({ member: peer.name, ok: false, error: (error as Error).message });
        }
      }));
    }
    members.sort((a, b) => a.member.localeCompare(b.member));
    return { kind: 'AuditVerification', apiVersion: 'coffer.dev/v1', ok: members.every((m) => m.ok), members };
  });
}

function list(items: AuditEvent[], members: MemberOutcome[]): AuditEventList {
  return { kind: 'AuditEventList', apiVersion: 'coffer.dev/v1', metadata: {}, items, members };
}

function peersOf(backend: KvBackend, self: string): Array<{ name: string; clientUrl: string }> {
  return backend.memberList().filter((m) => !m.removed && m.name !== self).map((m) => ({ name: m.name, clientUrl: m.clientUrl }));
}

/** Newest first; ties (same millisecond) by member, then audit ID, so every member merges alike. */
function newestFirst(a: AuditEvent, b: AuditEvent): number {
  const byTime = Date.parse(b.requestReceivedTimestamp) - Date.parse(a.requestReceivedTimestamp);
  if (byTime !== 0) return byTime;
  const byMember = (a.annotations[memberAnnotation] ?? '').localeCompare(b.annotations[memberAnnotation] ?? '');
  return byMember !== 0 ? byMember : a.auditID.localeCompare(b.auditID);
}

/** `since`/`until` take RFC 3339 or a duration back from now (`90s`, `15m`, `1h`, `7d`). */
function parseQuery(params: Record<string, unknown>): AuditQuery {
  const query: AuditQuery = {};
  const text = (name: string): string | undefined => {
    const value = params[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw new Error(`${name} may be given once`);
    return value;
  };
  for (const name of ['user', 'group', 'verb', 'resource', 'namespace', 'name'] as const) {
    const value = text(name);
    if (value !== undefined) query[name] = value;
  }
  const decision = text('decision');
  if (decision !== undefined) {
    if (decision !== 'allow' && decision !== 'deny' && decision !== 'forbid') throw new Error(`decision ${JSON.stringify(decision)} is not allow or deny`);
    query.decision = decision;
  }
  const since = text('since');
  if (since !== undefined) query.since = timeOf(since, 'since');
  const until = text('until');
  if (until !== undefined) query.until = timeOf(until, 'until');
  const limit = text('limit');
  if (limit !== undefined) {
    if (!/^\d{1,9}$/.test(limit)) throw new Error(`limit ${JSON.stringify(limit)} is not a positive integer`);
    query.limit = Number(limit);
  }
  return query;
}

const durationUnitsMs: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function timeOf(value: string, name: string): Date {
  const duration = /^(\d{1,9})([smhd])$/.exec(value);
  if (duration) return new Date(Date.now() - Number(duration[1]) * durationUnitsMs[duration[2]!]!);
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || !Number.isFinite(ms)) throw new Error(`${name} ${JSON.stringify(value)} is neither RFC 3339 nor a duration like 1h`);
  return new Date(ms);
}

async function badRequest(reply: FastifyReply, message: string): Promise<FastifyReply> {
  return reply.code(400).type('application/json').send(status(400, 'BadRequest', message));
}
