/**
 * `coffer keys status | rotate-dek | rotate-kek (--new-passphrase-file F | --new-unseal-key-file F)`.
 * Keys are per member, so every command asks EVERY member of the cluster itself (the member list, as
 * `coffer status` gets it), reports one line per member, and exits non-zero if any member failed or
 * could not be reached. A rotation is sent once per member and never retried by this command.
 */
import type { Command } from 'commander';
import { keysRequestTimeoutMs, passphraseFileBytesMax, shortNewPassphrase } from '../../config/index.ts';
import { KeyFileError, readPassphraseFile, readSecretFile } from '../../crypto/index.ts';
import { K8sClient, type KeyRotationView, KvClient, type KvClientOptions, type MemberKeysView } from '../../client/index.ts';
import { type ConnectionOptions, connectionSettings } from '../connection.ts';
import { errorLine } from '../errors.ts';
import type { CliIo } from '../io.ts';
import { formatData, formatTable, type GlobalOptions } from '../options.ts';

type Options = GlobalOptions & ConnectionOptions;

interface Target {
  name: string;
  endpoint: string | undefined;
}

type Outcome<T> = { member: string; endpoint?: string; ok: true; result: T } | { member: string; endpoint?: string; ok: false; error: string };

export function registerKeysCommands(program: Command, io: CliIo): void {
  const keys = program.command('keys').description('encryption keys of every member: status, DEK rotation, KEK rotation');

  keys.command('status')
    .description('every member\'s KEK, active DEK, pages per DEK and re-encryption progress')
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<Options>();
      const outcomes = await fanOut(options, io, (client) => client.memberKeys());
      if (options.output !== 'table') io.out(formatData(options.output, outcomes.map(plain)));
      else io.out(statusTable(outcomes));
      failIfAny(outcomes, command, 'status');
    });

  keys.command('rotate-dek')
    .description('every member starts a new DEK and re-encrypts older pages in the background')
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<Options>();
      const outcomes = await fanOut(options, io, (client) => client.rotateDek());
      report(outcomes, options, io);
      failIfAny(outcomes, command, 'rotate-dek');
    });

  keys.command('rotate-kek')
    .description('every member rewraps its DEKs under a new passphrase or key file')
    .option('--new-passphrase-file <file>', 'the new passphrase (one trailing newline is ignored, as when unsealing)')
    .option('--new-unseal-key-file <file>', 'the new key file: 32 bytes, raw or base64, mode 0600')
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<Options & { newPassphraseFile?: string; newUnsealKeyFile?: string }>();
      if ((options.newPassphraseFile === undefined) === (options.newUnsealKeyFile === undefined)) {
        command.error('coffer: give exactly one of --new-passphrase-file and --new-unseal-key-file', { exitCode: 1, code: 'coffer.keys' });
      }
      const bytes = options.newPassphraseFile !== undefined
        ? await readNewKek(options.newPassphraseFile, 'passphrase', command)
        : await readNewKek(options.newUnsealKeyFile!, 'key', command);
      try {
        const next = options.newPassphraseFile !== undefined ? { passphrase: bytes } : { unsealKey: bytes };
        const outcomes = await fanOut(options, io, (client) => client.rotateKek(next));
        report(outcomes, options, io);
        failIfAny(outcomes, command, 'rotate-kek');
      } finally {
        bytes.fill(0);
      }
    });
}

/** Every member of the cluster, by its published client URL (or the given endpoints if none is published yet). */
async function targets(settings: KvClientOptions): Promise<Target[]> {
  const client = new KvClient(settings);
  const { members } = await client.memberList().finally(() => client.close());
  if (members.every((m) => (m.clientUrls[0] ?? '') === '')) return settings.endpoints.map((endpoint) => ({ name: endpoint, endpoint }));
  return members.map((m) => ({ name: m.name !== '' ? m.name : m.id, endpoint: m.clientUrls[0] !== '' ? m.clientUrls[0] : undefined }));
}

/** Asks every member itself: a client with that member's endpoint alone, so nothing fails over elsewhere. */
async function fanOut<T>(options: Options, io: CliIo, call: (client: K8sClient) => Promise<T>): Promise<Outcome<T>[]> {
  const settings = await connectionSettings(options, io);
  return Promise.all((await targets(settings)).map(async ({ name, endpoint }): Promise<Outcome<T>> => {
    if (endpoint === undefined) return { member: name, ok: false, error: 'the member has not published a client URL' };
    const client = new K8sClient({ endpoints: [endpoint], tls: settings.tls, requestTimeoutMs: keysRequestTimeoutMs });
    try {
      return { member: name, endpoint, ok: true, result: await call(client) };
    } catch (error) {
      return { member: name, endpoint, ok: false, error: errorLine(error) };
    } finally {
      client.close();
    }
  }));
}

function plain<T>(outcome: Outcome<T>): object {
  return outcome.ok ? { member: outcome.member, endpoint: outcome.endpoint, ...outcome.result }
    : { member: outcome.member, endpoint: outcome.endpoint, error: outcome.error };
}

function statusTable(outcomes: Outcome<MemberKeysView>[]): string {
  return formatTable(['MEMBER', 'KEK', 'ACTIVE DEK', 'PAGES PER DEK', 'RE-ENCRYPTION', 'RETIRED', 'ERROR'], outcomes.map((o) => {
    if (!o.ok) return [o.member, '', '', '', '', '', o.error];
    const s = o.result;
    const pages = s.deks.map((d) => `${d.id}:${d.pages}${d.walRecords > 0 && !d.active ? ` (+${d.walRecords} wal)` : ''}`).join(' ');
    return [s.member, s.kek.description, String(s.activeDekId), pages, describeReencryption(s.reencryption), s.retired.map((d) => String(d.id)).join(' '), ''];
  }));
}

/** The RE-ENCRYPTION cell: progress, pace and time left while a pass runs; how it ended otherwise. */
export function describeReencryption(r: MemberKeysView['reencryption']): string {
  if (r.running) {
    const pace = r.pagesPerSecond !== undefined && r.secondsLeft !== undefined ? `, ${r.pagesPerSecond} pages/s, about ${duration(r.secondsLeft)} to go` : '';
    return `running: ${r.pagesResealed} re-sealed, ${r.pagesOnOlderDeks} left${pace}`;
  }
  if (r.error !== undefined) return `stopped: ${r.error}`;
  return r.pagesOnOlderDeks > 0 ? `${r.pagesOnOlderDeks} pages on older DEKs` : 'done';
}

function duration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

function report(outcomes: Outcome<KeyRotationView>[], options: Options, io: CliIo): void {
  if (options.output !== 'table') {
    io.out(formatData(options.output, outcomes.map(plain)));
    return;
  }
  for (const o of outcomes) io.out(o.ok ? `${o.member}: ${o.result.message}\n` : `${o.member}: FAILED: ${o.error}\n`);
}

function failIfAny<T>(outcomes: Outcome<T>[], command: Command, what: string): void {
  const failed = outcomes.filter((o) => !o.ok).map((o) => o.member);
  if (failed.length > 0) command.error(`coffer: keys ${what} failed on ${failed.join(', ')}`, { exitCode: 1, code: 'coffer.keys' });
}

/**
 * Reads a new passphrase (dropping one trailing newline, as the server does for --passphrase-file) or
 * a key file; either is refused unless readable by its owner only, as the server will refuse it at the
 * next start.
 */
async function readNewKek(file: string, kind: 'passphrase' | 'key', command: Command): Promise<Uint8Array> {
  try {
    if (kind === 'passphrase') {
      const passphrase = await readPassphraseFile(file);
      const short = shortNewPassphrase(passphrase, `the new passphrase (${file})`, 'a keyring', 'its file');
      if (short === undefined) return passphrase;
      passphrase.fill(0);
      command.error(`coffer: ${short}`, { exitCode: 1, code: 'coffer.keys' });
    }
    const bytes = await readSecretFile(file, 'key file', passphraseFileBytesMax);
    const key = Uint8Array.from(bytes);
    bytes.fill(0);
    return key;
  } catch (error) {
    if (error instanceof KeyFileError) command.error(`coffer: ${error.message}`, { exitCode: 1, code: 'coffer.keys' });
    throw error;
  }
}
