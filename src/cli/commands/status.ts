/**
 * `coffer status` — every member's view: name, id, leader, term, revision, raft index and applied
 * index, db size. Each endpoint is asked separately, so an unreachable member shows as such.
 */
import type { Command } from 'commander';
import { KvClient } from '../../client/index.ts';
import { type ConnectionOptions, connectionSettings } from '../connection.ts';
import type { CliIo } from '../io.ts';
import { formatData, formatTable, type GlobalOptions } from '../options.ts';

interface MemberStatusRow {
  endpoint: string;
  name?: string;
  id?: string;
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
  error?: string;
}

/** `coffer status` warns this long before a member's certificate expires. */
const certificateWarningDays = 30;
const dayMs = 24 * 60 * 60 * 1000;

export function registerStatusCommand(program: Command, io: CliIo): void {
  program.command('status').description('the state of every member').action(async (_options: unknown, command: Command) => {
    const options = command.optsWithGlobals<GlobalOptions & ConnectionOptions>();
    const settings = await connectionSettings(options, io);
    const client = new KvClient(settings);
    const { members } = await client.memberList().finally(() => client.close());
    const published = members.map((m) => m.clientUrls[0]).filter((u): u is string => u !== undefined && u !== '');
    const rows = await Promise.all((published.length > 0 ? published : settings.endpoints).map(async (endpoint): Promise<MemberStatusRow> => {
      const one = new KvClient({ endpoints: [endpoint], tls: settings.tls });
      try {
        const s = await one.status({ timeoutMs: 3_000 });
        return {
          endpoint, name: members.find((m) => m.id === s.header.memberId)?.name ?? '', id: s.header.memberId, leader: s.leader,
          term: s.raftTerm, revision: s.header.revision, raftIndex: s.raftIndex, appliedIndex: s.raftAppliedIndex, dbSize: s.dbSize, learner: s.isLearner,
          ...(s.coffer ? { kekSource: s.coffer.kekSource, activeDek: s.coffer.activeDek, certificateNotAfter: s.coffer.certificateNotAfter } : {}),
        };
      } catch (error) {
        return { endpoint, error: error instanceof Error ? error.message : String(error) };
      } finally {
        one.close();
      }
    }));
    if (options.output !== 'table') {
      io.out(formatData(options.output, rows));
      return;
    }
    const cell = (value: string | number | undefined) => (value === undefined ? '' : String(value));
    io.out(formatTable(['ENDPOINT', 'NAME', 'ID', 'LEADER', 'TERM', 'REVISION', 'RAFT INDEX', 'APPLIED', 'DB SIZE', 'KEK', 'DEK', 'CERT EXPIRES', 'ERROR'], rows.map((r) => [
      r.endpoint, cell(r.name), cell(r.id), r.leader !== undefined && r.leader === r.id ? `${r.leader} (self)` : cell(r.leader),
      cell(r.term), cell(r.revision), cell(r.raftIndex), cell(r.appliedIndex), cell(r.dbSize),
      cell(r.kekSource), cell(r.activeDek), cell(r.certificateNotAfter?.slice(0, 10)), cell(r.error),
    ])));
    const now = Date.now();
    for (const r of rows) {
      if (r.certificateNotAfter === undefined) continue;
      const days = Math.floor((Date.parse(r.certificateNotAfter) - now) / dayMs);
      if (days < certificateWarningDays) io.err(`warning: the certificate of member ${r.name ?? r.endpoint} expires in ${days} days (${r.certificateNotAfter}); rotate it with coffer ca issue --member\n`);
    }
  });
}
