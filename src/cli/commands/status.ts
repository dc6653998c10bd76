/**
 * `coffer status` — every member's view: name, id, leader, term, revision, raft index and applied
 * index, db size, keys, certificate, and what the member reports wrong with itself (audit refusing
 * records, removed, fail-stopped).
 *
 * It always prints one row per member of the cluster and per endpoint given, reachable or not, with
 * the error in the row: each endpoint is asked for its status and the member table is read from a
 * member that answers without a quorum round, so the rows are there when quorum is lost. It then names
 * each problem on stderr (`coffer: problem: …`) — a member that does not answer or reports errors, no
 * leader (and whether quorum is lost), members that disagree on the leader, an endpoint that answers
 * for another cluster — and exits 1 if there is any. A certificate near expiry is a warning only.
 */
import type { Command } from 'commander';
import { KvClient, type Member, type StatusResult } from '../../client/index.ts';
import { certificateWarningDays, statusRequestTimeoutMs } from '../../config/index.ts';
import { type ConnectionOptions, connectionSettings } from '../connection.ts';
import { errorLine } from '../errors.ts';
import type { CliIo } from '../io.ts';
import { formatData, formatTable, type GlobalOptions } from '../options.ts';

interface MemberStatusRow {
  endpoint: string;
  name?: string;
  id?: string;
  clusterId?: string;
  leader?: string;
  term?: number;
  revision?: number;
  raftIndex?: number;
  appliedIndex?: number;
  dbSize?: number;
  learner?: boolean;
  kekSource?: string;
  activeDek?: number;
  certificateNotAfter?: string;
  /** Why the member could not be asked, or what it reports wrong with itself. */
  errors?: string[];
}

type Answer = { endpoint: string; ok: true; status: StatusResult } | { endpoint: string; ok: false; error: string };

const dayMs = 24 * 60 * 60 * 1000;

export function registerStatusCommand(program: Command, io: CliIo): void {
  program.command('status').description('the state of every member; exit 1 if anything is wrong').action(async (_options: unknown, command: Command) => {
    const options = command.optsWithGlobals<GlobalOptions & ConnectionOptions>();
    const settings = await connectionSettings(options, io);
    const ask = async (endpoint: string): Promise<Answer> => {
      const one = new KvClient({ endpoints: [endpoint], tls: settings.tls });
      try {
        return { endpoint, ok: true, status: await one.status({ timeoutMs: statusRequestTimeoutMs }) };
      } catch (error) {
        const message = errorLine(error);
        // The row and the problem name the endpoint already.
        return { endpoint, ok: false, error: message.startsWith(`${endpoint}: `) ? message.slice(endpoint.length + 2) : message };
      } finally {
        one.close();
      }
    };
    const given = settings.endpoints.filter((e, i) => settings.endpoints.findIndex((other) => sameEndpoint(other, e)) === i);
    const answers = await Promise.all(given.map(ask));
    const clusterId = mostCommon(answers.flatMap((a) => (a.ok ? [a.status.header.clusterId] : [])));
    const members = await memberTable(answers.filter((a) => a.ok && a.status.header.clusterId === clusterId).map((a) => a.endpoint), settings);
    // Members not among the endpoints given are asked at their published client URL.
    const more = members.map((m) => m.clientUrls[0] ?? '').filter((url) => url !== '' && !given.some((e) => sameEndpoint(e, url)));
    answers.push(...await Promise.all(more.map(ask)));

    const { rows, problems } = assess(answers, members, clusterId);
    if (options.output !== 'table') io.out(formatData(options.output, rows));
    else io.out(table(rows));
    const now = Date.now();
    for (const r of rows) {
      if (r.certificateNotAfter === undefined) continue;
      const days = Math.floor((Date.parse(r.certificateNotAfter) - now) / dayMs);
      if (days < certificateWarningDays) io.err(`warning: the certificate of member ${r.name ?? r.endpoint} expires in ${days} days (${r.certificateNotAfter}); rotate it with coffer ca issue --member\n`);
    }
    for (const problem of problems) io.err(`coffer: problem: ${problem}\n`);
    if (problems.length > 0) command.error(`coffer: status found ${problems.length} problem(s)`, { exitCode: 1, code: 'coffer.status' });
  });
}

/** The member table from the first of `endpoints` that gives it without a quorum round; [] if none does. */
async function memberTable(endpoints: readonly string[], settings: { tls: ConstructorParameters<typeof KvClient>[0]['tls'] }): Promise<Member[]> {
  for (const endpoint of endpoints) {
    const client = new KvClient({ endpoints: [endpoint], tls: settings.tls });
    try {
      return (await client.memberList({ serializable: true, timeoutMs: statusRequestTimeoutMs })).members;
    } catch {
      // the next endpoint may answer
    } finally {
      client.close();
    }
  }
  return [];
}

/** One row per member and per endpoint that is none of them; the problems of the whole. */
function assess(answers: readonly Answer[], members: readonly Member[], clusterId: string | undefined): { rows: MemberStatusRow[]; problems: string[] } {
  const rows: MemberStatusRow[] = [];
  const problems: string[] = [];
  const used = new Set<Answer>();
  for (const member of members) {
    const url = member.clientUrls[0] ?? '';
    const answer = answers.find((a) => a.ok && a.status.header.memberId === member.id && a.status.header.clusterId === clusterId)
      ?? answers.find((a) => !a.ok && sameEndpoint(a.endpoint, url));
    const name = member.name !== '' ? member.name : member.id;
    if (answer !== undefined) used.add(answer);
    if (answer?.ok === true) {
      rows.push(rowOf(answer.endpoint, answer.status, name));
      for (const error of answer.status.errors) problems.push(`member ${name}: ${error}`);
    } else {
      const why = answer?.error ?? (url === '' ? 'has not published a client URL yet, and no endpoint given answers as it' : 'was not asked');
      rows.push({ endpoint: answer?.endpoint ?? url, name, id: member.id, learner: member.isLearner, errors: [why] });
      problems.push(`member ${name} (${answer?.endpoint ?? (url || 'no client URL')}) does not answer: ${why}`);
    }
  }
  const named = new Set(members.map((m) => m.id));
  for (const answer of answers) {
    if (used.has(answer)) continue;
    // The same member reached under a second URL.
    if (answer.ok && answer.status.header.clusterId === clusterId && named.has(answer.status.header.memberId)) continue;
    if (!answer.ok) {
      rows.push({ endpoint: answer.endpoint, errors: [answer.error] });
      problems.push(`${answer.endpoint} does not answer: ${answer.error}`);
    } else if (answer.status.header.clusterId !== clusterId) {
      const other = `answers for cluster ${answer.status.header.clusterId}, not ${clusterId ?? '?'} like the others: another cluster is running there (check --endpoints)`;
      rows.push({ ...rowOf(answer.endpoint, answer.status, ''), errors: [other] });
      problems.push(`${answer.endpoint} ${other}`);
    } else {
      // A member of this cluster the table does not name: removed (it may not know, if it was cut off
      // when it was removed), or the table could not be read at all.
      const errors = answer.status.errors.length > 0 || members.length === 0 ? answer.status.errors
        : [`answers as member ${answer.status.header.memberId}, which the member table does not name: it was removed from the cluster`];
      rows.push({ ...rowOf(answer.endpoint, answer.status, ''), ...(errors.length > 0 ? { errors } : {}) });
      for (const error of errors) problems.push(`${answer.endpoint}: ${error}`);
    }
  }
  problems.push(...leaderProblems(rows, members));
  return { rows, problems };
}

function rowOf(endpoint: string, s: StatusResult, name: string): MemberStatusRow {
  return {
    endpoint, name, id: s.header.memberId, clusterId: s.header.clusterId, leader: s.leader, term: s.raftTerm, revision: s.header.revision,
    raftIndex: s.raftIndex, appliedIndex: s.raftAppliedIndex, dbSize: s.dbSize, learner: s.isLearner,
    ...(s.coffer ? { kekSource: s.coffer.kekSource, activeDek: s.coffer.activeDek, certificateNotAfter: s.coffer.certificateNotAfter } : {}),
    ...(s.errors.length > 0 ? { errors: s.errors } : {}),
  };
}

/** No leader (and whether a majority answers at all), or members naming different leaders. */
function leaderProblems(rows: readonly MemberStatusRow[], members: readonly Member[]): string[] {
  const answering = rows.filter((r) => r.leader !== undefined && (r.errors ?? []).every((e) => !/another cluster/.test(e)));
  const leaders = new Set(answering.map((r) => r.leader).filter((l) => l !== '0'));
  if (leaders.size > 1) return [`members name different leaders (${[...leaders].join(', ')}): an election is under way or the network is split`];
  if (leaders.size === 1) return [];
  const voters = members.filter((m) => !m.isLearner);
  const votersAnswering = voters.filter((m) => answering.some((r) => r.id === m.id)).length;
  const majority = Math.floor(voters.length / 2) + 1;
  if (voters.length > 0 && votersAnswering < majority) {
    return [`no leader: quorum lost — ${votersAnswering} of ${voters.length} voting members answer, ${majority} are needed; writes and linearizable reads fail until a majority is back`];
  }
  return ['no leader: no member that answers knows a leader (an election is under way, or the members cannot reach each other)'];
}

function table(rows: readonly MemberStatusRow[]): string {
  const cell = (value: string | number | undefined) => (value === undefined ? '' : String(value));
  const nameOf = (id: string) => rows.find((r) => r.id === id && r.name !== undefined && r.name !== '')?.name ?? id;
  return formatTable(['ENDPOINT', 'NAME', 'ID', 'LEADER', 'TERM', 'REVISION', 'RAFT INDEX', 'APPLIED', 'DB SIZE', 'KEK', 'DEK', 'CERT EXPIRES', 'ERRORS'], rows.map((r) => [
    r.endpoint, cell(r.name), cell(r.id),
    r.leader === undefined ? '' : r.leader === '0' ? 'none' : r.leader === r.id ? `${nameOf(r.leader)} (self)` : nameOf(r.leader),
    cell(r.term), cell(r.revision), cell(r.raftIndex), cell(r.appliedIndex), cell(r.dbSize),
    cell(r.kekSource), cell(r.activeDek), cell(r.certificateNotAfter?.slice(0, 10)), (r.errors ?? []).join('; '),
  ]));
}

/** Two endpoint URLs name the same place (`https://h:1` and `https://h:1/` do). */
function sameEndpoint(a: string, b: string): boolean {
  const origin = (u: string) => {
    try {
      return new URL(u).origin;
    } catch {
      return u;
    }
  };
  return a !== '' && b !== '' && origin(a) === origin(b);
}

/** The value most answers give (the first seen wins a tie); undefined for none. */
function mostCommon(values: readonly string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: string | undefined;
  for (const [v, n] of counts) if (best === undefined || n > counts.get(best)!) best = v;
  return best;
}
