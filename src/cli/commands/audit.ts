/**
 * `coffer audit query [filters]` — audit events from every member, newest first (a table, or the
 * AuditEventList with -o json|yaml); `coffer audit verify` — every running member verifies its own
 * log (chain, signatures, replicated checkpoints) and this exits 0 only if all of them verify.
 * (`coffer audit verify --data-dir DIR` + unseal flags is the offline form; the coffer executable runs
 * it server-side, src/server/audit-verify.ts.)
 *
 * Both are GETs that change nothing, so they are tried on each endpoint in turn until one answers.
 * A member that could not be asked is named on stderr and makes the exit status 1: a partial answer
 * is never passed off as the whole.
 */
import { request as httpsRequest } from 'node:https';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import type { Command } from 'commander';
import { auditCliRequestTimeoutMs } from '../../config/index.ts';
import { type ConnectionOptions, connectionSettings } from '../connection.ts';
import { describeCode, errorLine } from '../errors.ts';
import type { CliIo } from '../io.ts';
import { formatData, formatTable, type GlobalOptions, parsePositiveInt } from '../options.ts';

type Options = GlobalOptions & ConnectionOptions;

interface EventView {
  requestReceivedTimestamp: string;
  verb: string;
  user?: { username?: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  requestURI: string;
  responseStatus?: { code?: number };
  stage: string;
  annotations?: Record<string, string>;
}

interface EventListView {
  items: EventView[];
  members?: { name: string; events?: number; error?: string; truncated?: boolean }[];
}

interface VerificationView {
  ok: boolean;
  members: Array<{
    member: string; ok: boolean; error?: string; file?: string; seq?: number; reason?: string; events?: number; checkpoints?: number; firstSeq?: number; lastSeq?: number;
    files?: string[]; brokenAtOpen?: { file: string; seq: number; reason: string }; failure?: string; notes?: string[];
    /** Every break, the first (file, seq, reason) included; a member of an earlier version sends only the first. */
    breaks?: Array<{ file: string; seq: number; reason: string }>;
  }>;
}

export function registerAuditCommands(program: Command, io: CliIo): void {
  const audit = program.command('audit').description('query and verify the tamper-evident audit log');

  audit.command('query')
    .description('audit events from every member, newest first')
    .option('--user <user>', 'only this user')
    .option('--group <group>', 'only users in this group')
    .option('--verb <verb>', 'only this verb (get, list, create, update, patch, delete, …)')
    .option('--resource <resource>', 'only this resource (secrets, configmaps, …)')
    .option('-n, --namespace <namespace>', 'only this namespace')
    .option('--name <name>', 'only this object name')
    .option('--decision <decision>', 'allow or deny')
    .option('--since <time>', 'from this time: RFC 3339, or a duration back from now (90s, 15m, 1h, 7d)')
    .option('--until <time>', 'before this time (same forms)')
    .option('--limit <n>', 'at most this many events (newest kept)', parsePositiveInt)
    .action(async (flags: Record<string, string | number | undefined>, command: Command) => {
      const options = command.optsWithGlobals<Options>();
      const search = new URLSearchParams();
      for (const name of ['user', 'group', 'verb', 'resource', 'namespace', 'name', 'decision', 'since', 'until', 'limit']) {
        const value = flags[name];
        if (value !== undefined) search.set(name, String(value));
      }
      const body = await get<EventListView>(options, io, command, `/apis/coffer.dev/v1/audit/events?${search.toString()}`);
      if (options.output === 'json' || options.output === 'yaml') io.out(formatData(options.output, body));
      else io.out(eventTable(body.items));
      const truncated = (body.members ?? []).filter((m) => m.truncated === true).map((m) => m.name);
      if (truncated.length > 0) io.err(`coffer: older matches left out by ${truncated.join(', ')} (too many bytes of events): narrow the query (--since, --until, filters)\n`);
      reportUnreachable(body.members ?? [], command);
    });

  audit.command('verify')
    .description('every running member verifies its audit log; exit 0 only if all verify (offline: --data-dir DIR + unseal flags)')
    .action(async (_flags: unknown, command: Command) => {
      const options = command.optsWithGlobals<Options>();
      const body = await get<VerificationView>(options, io, command, '/apis/coffer.dev/v1/audit/verify');
      if (options.output === 'json' || options.output === 'yaml') io.out(formatData(options.output, body));
      else for (const m of body.members) io.out(`${verificationLine(m)}\n`);
      if (!body.ok) command.error('coffer: the audit log does not verify on every member', { exitCode: 1, code: 'coffer.audit.broken' });
    });
}

function eventTable(items: EventView[]): string {
  if (items.length === 0) return 'No audit events match.\n';
  return formatTable(['TIME', 'MEMBER', 'USER', 'VERB', 'RESOURCE', 'NAMESPACE', 'NAME', 'DECISION', 'CODE'], items.map((e) => {
    const ref = e.objectRef;
    const resource = ref?.resource === undefined ? e.requestURI.split('?')[0] ?? '' : ref.subresource ? `${ref.resource}/${ref.subresource}` : ref.resource;
    return [
      e.requestReceivedTimestamp, e.annotations?.['coffer.dev/member'] ?? '', e.user?.username ?? '', e.verb, resource,
      ref?.namespace ?? '', ref?.name ?? '', e.annotations?.['authorization.k8s.io/decision'] ?? '',
      e.responseStatus?.code !== undefined ? String(e.responseStatus.code) : `(${e.stage})`,
    ];
  }));
}

type MemberVerification = VerificationView['members'][number];

/** A member's verdict: its first line says ok or where the log first broke; each later break follows on a line of its own. */
export function verificationLine(m: MemberVerification): string {
  if (m.error !== undefined) return `${m.member}: UNREACHABLE: ${m.error}`;
  if (!m.ok) {
    const later = (m.breaks ?? []).slice(1).map((b) => `\n  also broken at file ${b.file}, seq ${b.seq}: ${b.reason}`).join('');
    return `${m.member}: BROKEN at file ${m.file ?? '?'}, seq ${m.seq ?? '?'}: ${m.reason ?? 'unknown reason'}${later}`;
  }
  const extra = m.failure !== undefined ? `; records are being refused: ${m.failure}` : '';
  // Notes explain what an intact log records, e.g. an audit sink outage (not tampering).
  const notes = (m.notes ?? []).map((note) => `\n  note: ${note}`).join('');
  return `${m.member}: ok — ${m.events ?? 0} events, ${m.checkpoints ?? 0} checkpoints, seq ${m.firstSeq ?? 0}..${m.lastSeq ?? 0}${extra}${notes}`;
}

function reportUnreachable(members: NonNullable<EventListView['members']>, command: Command): void {
  const missing = members.filter((m) => m.error !== undefined);
  if (missing.length === 0) return;
  command.error(`coffer: incomplete: ${missing.map((m) => `${m.name} (${m.error ?? ''})`).join('; ')}`, { exitCode: 1, code: 'coffer.audit.incomplete' });
}

/** GET on the first endpoint that answers; a Status error ends as its message, exit 1. */
async function get<T>(options: Options, io: CliIo, command: Command, path: string): Promise<T> {
  const settings = await connectionSettings(options, io);
  const failures: string[] = [];
  for (const endpoint of settings.endpoints) {
    let answer: { status: number; body: unknown };
    try {
      answer = await getJson(new URL(path, endpoint), settings.tls);
    } catch (error) {
      failures.push(`${endpoint}: ${describeCode(error) ?? errorLine(error)}`);
      continue;
    }
    if (answer.status === 200) return answer.body as T;
    const message = (answer.body as { message?: unknown } | null)?.message;
    command.error(`coffer: ${typeof message === 'string' ? message : `the server answered ${answer.status}`}`, { exitCode: 1, code: 'coffer.failed' });
  }
  return command.error(`coffer: no endpoint answered: ${failures.join('; ')}`, { exitCode: 1, code: 'coffer.failed' });
}

function getJson(url: URL, tls: TlsConnectionOptions): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ...tls, method: 'GET', headers: { accept: 'application/json' }, timeout: auditCliRequestTimeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown });
        } catch {
          reject(new Error(`answered ${res.statusCode ?? 0} without JSON`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${auditCliRequestTimeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
