/**
 * `coffer audit verify --data-dir DIR [--name NAME] + unseal flags` — offline verification of one
 * member's audit log, with the member stopped: chain, checkpoint signatures, and the checkpoints the
 * member's copy of the replicated store holds for it (which is what shows a cut tail).
 *
 * The public key comes from the member's sealed audit key file opened with its keyring — never from an
 * unauthenticated copy — and the seal binds the file to the member's name, so a wrong --name fails to
 * open rather than verifying against the wrong key. Without --name the name is read from the log.
 *
 * Runs server-side (it needs the keyring and the store); exit 0 only if everything verifies, else the
 * first break (file, sequence, reason) on stdout, each later one on a line of its own, and exit 1.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import {
  auditDirOf, auditKeyFileName, auditKeyStoreId, openAuditKeyPair, readReplicatedCheckpoints, type VerifyAuditResult, verifyAuditLog, wipeAuditKeyPair,
} from '../audit/index.ts';
import { parseUnsealSource, type UnsealSource } from '../config/index.ts';
import { sealedAreas } from '../storage/barrier/index.ts';
import { MvccStore } from '../storage/mvcc/index.ts';
import { unseal } from './unseal.ts';

export interface OfflineVerifyOptions {
  dataDir: string;
  /** The member's name; read from the log when absent. */
  name?: string;
  unseal: UnsealSource;
}

export interface OfflineVerifyResult {
  member: string;
  result: VerifyAuditResult;
  /** Checkpoints the store held for the member. */
  replicatedCheckpoints: number;
}

export async function verifyDataDirAuditLog(options: OfflineVerifyOptions, env: Readonly<Record<string, string | undefined>>): Promise<OfflineVerifyResult> {
  const keyFile = join(options.dataDir, auditKeyFileName);
  const keyBytes = await readFile(keyFile).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`${keyFile} cannot be read (${error.code ?? error.message}): is ${options.dataDir} a member's data dir?`);
  });
  const dir = auditDirOf(options.dataDir);
  const member = options.name ?? await memberNamedInLog(dir);
  const barrier = await unseal(options.dataDir, options.unseal, env);
  try {
    const keyPair = await openAuditKeyPair(keyBytes, barrier.handle(sealedAreas.auditKey), auditKeyStoreId(member), keyFile);
    try {
      const replicated = await storeCheckpoints(options.dataDir, member, barrier.handle(sealedAreas.replica));
      const result = await verifyAuditLog(dir, { publicKey: keyPair.publicKey, replicatedCheckpoints: replicated, member });
      return { member, result, replicatedCheckpoints: replicated.length };
    } finally {
      wipeAuditKeyPair(keyPair);
    }
  } finally {
    await barrier.close();
  }
}

async function storeCheckpoints(dataDir: string, member: string, sealer: Parameters<typeof MvccStore.open>[0]['sealer']) {
  const dir = join(dataDir, 'mvcc');
  if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) throw new Error(`${dir} does not exist: is ${dataDir} a member's data dir?`);
  let store: MvccStore;
  try {
    store = await MvccStore.open({ dir, sealer, storeId: `${member}/mvcc`, sync: false });
  } catch (error) {
    throw new Error(`the store in ${dir} cannot be opened (is the member still running?): ${(error as Error).message}`, { cause: error });
  }
  try {
    return await readReplicatedCheckpoints((key, end) => store.range(key, end), member);
  } finally {
    await store.close();
  }
}

/** The member named by the first record that names one (checkpoints, continuations, restarts, events). */
async function memberNamedInLog(dir: string): Promise<string> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => /^audit-\d+\.log$/.test(f)).sort();
  for (const file of files) {
    for (const line of (await readFile(join(dir, file), 'utf8')).split('\n')) {
      try {
        const record = JSON.parse(line) as { member?: unknown; checkpoint?: { member?: unknown }; annotations?: Record<string, unknown> };
        const name = record.member ?? record.checkpoint?.member ?? record.annotations?.['coffer.dev/member'];
        if (typeof name === 'string' && name !== '') return name;
      } catch {
        // not a record; keep looking
      }
    }
  }
  throw new Error(`no record in ${dir} names the member; give --name`);
}

/** The verdict in a line (with how many replicated checkpoints were compared), then one line per note or per later break. */
export function describeVerifyResult(member: string, result: VerifyAuditResult, replicatedCheckpoints: number): string {
  const checked = `[${replicatedCheckpoints} replicated checkpoint(s) checked]`;
  if (result.ok) {
    return `${member}: ok — ${result.events} events, ${result.checkpoints} checkpoints, seq ${result.firstSeq}..${result.lastSeq} in ${result.files.length} file(s)${result.tornTail ? ' (a torn last line, never acknowledged, was ignored)' : ''} ${checked}`
      + result.notes.map((note) => `\n  note: ${note}`).join('');
  }
  return `${member}: BROKEN at file ${result.file}, seq ${result.seq}: ${result.reason} ${checked}`
    + result.breaks.slice(1).map((b) => `\n  also broken at file ${b.file}, seq ${b.seq}: ${b.reason}`).join('');
}

export function auditVerifyCommand(): Command {
  return new Command('verify')
    .description('verify a stopped member\'s audit log offline: chain, signatures and replicated checkpoints')
    .requiredOption('--data-dir <dir>', 'the member\'s data directory')
    .option('--name <name>', 'the member\'s name (default: read from the log)')
    .option('--unseal-key-file <file>', 'unseal with a 32-byte key file')
    .option('--passphrase-file <file>', 'unseal with a passphrase (argon2id)')
    .option('--kms-socket <path>', 'unseal through a KMS plugin')
    .action(async (flags: { dataDir: string; name?: string; unsealKeyFile?: string; passphraseFile?: string; kmsSocket?: string }) => {
      const { member, result, replicatedCheckpoints } = await verifyDataDirAuditLog({
        dataDir: flags.dataDir, ...(flags.name !== undefined ? { name: flags.name } : {}), unseal: parseUnsealSource(flags, process.env),
      }, process.env);
      process.stdout.write(`${describeVerifyResult(member, result, replicatedCheckpoints)}\n`);
      if (!result.ok) process.exitCode = 1;
    });
}

