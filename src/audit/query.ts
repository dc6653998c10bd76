/**
 * Querying one member's audit files. Results are newest first (reverse log order, i.e. descending seq),
 * so `limit` keeps the most recent matches, as an auditor looking at "what happened lately" wants; the
 * API merges members' results by stageTimestamp. Only event records are returned, without the chain
 * fields; lines that do not parse (a torn tail, a damaged file) are skipped — query is not verify.
 *
 * One event per request: a request recorded in two stages (RequestReceived before its handler,
 * ResponseComplete with the response code after) has two records under one auditID; the query shows
 * the latest stage only, which the newest-first scan meets first. Both records carry the same
 * filtered fields, so filtering either gives the same answer.
 *
 * A query's cost is bounded whatever the log holds: files are read auditQueryReadChunkBytes at a time
 * (never whole), and one file's candidates are kept only while they fit the query's limit and
 * auditQueryMemberBytesMax — beyond that the oldest are let go and the answer says `truncated`.
 */
import { open } from 'node:fs/promises';
import { auditQueryLimitDefault, auditQueryLimitMax, auditQueryMemberBytesMax, auditQueryReadChunkBytes } from '../config/index.ts';
import { AuditQueryError } from './errors.ts';
import { type AuditEvent, decisionAnnotation } from './event.ts';
import { listAuditFiles, soundLinesEnd } from './files.ts';
import { auditStages } from './levels.ts';

export interface AuditQuery {
  user?: string;
  /** Matches events whose user is in this group. */
  group?: string;
  verb?: string;
  resource?: string;
  namespace?: string;
  name?: string;
  /** 'deny' is accepted as another name for 'forbid'. */
  decision?: 'allow' | 'forbid' | 'deny';
  /** Inclusive lower bound on requestReceivedTimestamp (a Date or an RFC 3339 string). */
  since?: Date | string;
  /** Exclusive upper bound on requestReceivedTimestamp. */
  until?: Date | string;
  /** 1..auditQueryLimitMax; default auditQueryLimitDefault. */
  limit?: number;
}

interface CompiledQuery {
  filters: AuditQuery;
  decision: 'allow' | 'forbid' | undefined;
  sinceMs: number;
  untilMs: number;
  limit: number;
}

export function compileAuditQuery(query: AuditQuery): CompiledQuery {
  const limit = query.limit ?? auditQueryLimitDefault;
  if (!Number.isInteger(limit) || limit < 1 || limit > auditQueryLimitMax) {
    throw new AuditQueryError(`limit ${limit} is not an integer in 1..${auditQueryLimitMax} (auditQueryLimitMax)`);
  }
  if (query.decision !== undefined && !['allow', 'forbid', 'deny'].includes(query.decision)) {
    throw new AuditQueryError(`decision ${JSON.stringify(query.decision)} is not allow, forbid or deny`);
  }
  return {
    filters: query,
    decision: query.decision === 'deny' ? 'forbid' : query.decision,
    sinceMs: query.since === undefined ? -Infinity : timeMs(query.since, 'since'),
    untilMs: query.until === undefined ? Infinity : timeMs(query.until, 'until'),
    limit,
  };
}

function timeMs(value: Date | string, name: string): number {
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  if (!Number.isFinite(ms)) throw new AuditQueryError(`${name} ${JSON.stringify(String(value))} is not a valid time (RFC 3339 expected)`);
  return ms;
}

/** Whether one event passes every filter of a compiled query (the limit aside). */
export function matchesAuditQuery(event: AuditEvent, query: CompiledQuery): boolean {
  const f = query.filters;
  if (f.user !== undefined && event.user?.username !== f.user) return false;
  if (f.group !== undefined && !(event.user?.groups ?? []).includes(f.group)) return false;
  if (f.verb !== undefined && event.verb !== f.verb) return false;
  if (f.resource !== undefined && event.objectRef?.resource !== f.resource) return false;
  if (f.namespace !== undefined && event.objectRef?.namespace !== f.namespace) return false;
  if (f.name !== undefined && event.objectRef?.name !== f.name) return false;
  if (query.decision !== undefined && event.annotations?.[decisionAnnotation] !== query.decision) return false;
  const at = Date.parse(event.requestReceivedTimestamp);
  return at >= query.sinceMs && at < query.untilMs;
}

/** What one member's log answers to a query. */
export interface AuditQueryResult {
  /** Newest first. */
  events: AuditEvent[];
  /** Older matches were left out: the events reached auditQueryMemberBytesMax. */
  truncated: boolean;
}

export async function queryAuditLog(dir: string, query: AuditQuery = {}): Promise<AuditQueryResult> {
  const compiled = compileAuditQuery(query);
  const events: AuditEvent[] = [];
  const shown = new Set<string>();
  let bytes = 0;
  const files = await listAuditFiles(dir);
  for (let i = files.length - 1; i >= 0 && events.length < compiled.limit; i--) {
    // This file's newest matches of requests not shown yet, oldest first: a request's later record
    // (its later stage) moves it last; past the room left, the oldest go.
    const found = new Map<string, { event: AuditEvent; bytes: number }>();
    let foundBytes = 0;
    let truncated = false;
    for await (const line of linesOf(files[i]!.path)) {
      const event = eventOf(line);
      if (event === undefined || shown.has(event.auditID) || !matchesAuditQuery(event, compiled)) continue;
      const earlier = found.get(event.auditID);
      if (earlier !== undefined) {
        found.delete(event.auditID);
        foundBytes -= earlier.bytes;
      }
      found.set(event.auditID, { event, bytes: line.length });
      foundBytes += line.length;
      while (found.size > compiled.limit - events.length || bytes + foundBytes > auditQueryMemberBytesMax) {
        const [oldestId, oldest] = found.entries().next().value!;
        found.delete(oldestId);
        foundBytes -= oldest.bytes;
        if (found.size < compiled.limit - events.length) truncated = true;
      }
    }
    for (const { event } of [...found.values()].reverse()) {
      shown.add(event.auditID);
      events.push(event);
    }
    bytes += foundBytes;
    if (truncated) return { events, truncated };
  }
  return { events, truncated: false };
}

/** The file's sound lines (soundLinesEnd, files.ts), read auditQueryReadChunkBytes at a time. */
async function* linesOf(file: string): AsyncGenerator<string> {
  const handle = await open(file, 'r');
  try {
    const chunk = Buffer.alloc(auditQueryReadChunkBytes);
    let carried = Buffer.alloc(0);
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) return;
      const bytes = carried.length === 0 ? chunk.subarray(0, bytesRead) : Buffer.concat([carried, chunk.subarray(0, bytesRead)]);
      const { end, zeroSeen } = soundLinesEnd(bytes);
      if (end > 0) yield* bytes.subarray(0, end - 1).toString('utf8').split('\n');
      if (zeroSeen) return;
      // A copy: the chunk is read into again.
      carried = Buffer.from(bytes.subarray(end));
    }
  } finally {
    await handle.close();
  }
}

function eventOf(line: string): AuditEvent | undefined {
  // Cheap pre-filter: canonical lines carry "kind":"Event" verbatim.
  if (!line.includes('"kind":"Event"')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || (value as { kind?: unknown }).kind !== 'Event') return undefined;
  const { seq: _seq, prevHash: _prev, hash: _hash, entry: _entry, ...event } = value as AuditEvent & { seq: unknown; prevHash: unknown; hash: unknown; entry: unknown };
  return event;
}


/**
 * One event per request (auditID), of its latest stage, from events merged from several members' logs:
 * a write's RequestReceived record is in the log of every member that applied it (it travels in the
 * write's Raft entry), its ResponseComplete only in the log of the member that answered.
 */
export function latestStagePerRequest(events: readonly AuditEvent[]): AuditEvent[] {
  const latest = new Map<string, AuditEvent>();
  for (const event of events) {
    const seen = latest.get(event.auditID);
    // auditStages lists the stages in the order a request passes them.
    if (seen === undefined || auditStages.indexOf(event.stage) > auditStages.indexOf(seen.stage)) latest.set(event.auditID, event);
  }
  return [...latest.values()];
}
