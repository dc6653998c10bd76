/**
 * `coffer snapshot save FILE [--backup-passphrase-file F]` — asks a member for a consistent snapshot
 * of its store and writes it as an encrypted, integrity-checked backup (storage/backup's format), with
 * a passphrase of at least newPassphraseCharsMin characters.
 * The encryption happens here, before anything touches the disk, so the backup passphrase never
 * leaves this machine. Progress goes to stderr every backupProgressEveryRecords records; the summary
 * to stdout. (`coffer snapshot restore` runs offline on a data dir: src/server/restore.ts.)
 *
 * `coffer snapshot keygen FILE` writes a backup key pair (storage/backup/recipient.ts): the secret key
 * to FILE, the public key to FILE.pub. Members given FILE.pub with --backup-recipient serve etcd's
 * Snapshot (`etcdctl snapshot save`) as a backup sealed to it; `coffer snapshot restore --backup-key
 * FILE` opens it.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { isClientError, type KvClient } from '../../client/index.ts';
import { backupProgressEveryRecords, shortNewPassphrase } from '../../config/index.ts';
import {
  backupPassphraseEnv, createBackupKeyFiles, isBackupError, readBackupPassphrase, SnapshotStreamReader, writeBackup,
} from '../../storage/backup/index.ts';
import { connect, type ConnectionOptions } from '../connection.ts';
import { CliError, clientErrorMessage } from '../errors.ts';
import type { CliIo } from '../io.ts';
import { formatData, type GlobalOptions } from '../options.ts';
import { registerServerSideEntry } from '../server-side.ts';

type Options = GlobalOptions & ConnectionOptions & { backupPassphraseFile?: string };

export function registerSnapshotCommands(program: Command, io: CliIo): void {
  const snapshot = program.command('snapshot').description('encrypted backups of the whole store (save, keygen; restore runs on a data dir)');
  snapshot.command('keygen <file>')
    .description('write a backup key pair: the secret key to FILE (0600), the public key to FILE.pub for members\' --backup-recipient')
    .action(async (file: string, _options: unknown, command: Command) => {
      try {
        const written = await createBackupKeyFiles(file);
        io.out(`backup key written to ${written.secretKeyFile} (keep it secret; coffer snapshot restore --backup-key), `
          + `public key to ${written.publicKeyFile} (coffer server --backup-recipient)\n`);
      } catch (error) {
        if (isBackupError(error)) command.error(`coffer: ${error.message}`, { exitCode: 1, code: 'coffer.snapshot' });
        throw error;
      }
    });
  registerServerSideEntry(snapshot, ['snapshot', 'restore'], 'build a new member\'s data dir from a backup, offline; coffer snapshot restore --help lists its flags', '<file>');
  snapshot.command('save <file>')
    .description('save an encrypted, integrity-checked snapshot of the store to FILE (never overwrites)')
    .option('--backup-passphrase-file <file>', 'the backup passphrase (else COFFER_BACKUP_PASSPHRASE)')
    .action(async (file: string, _options: unknown, command: Command) => {
      const options = command.optsWithGlobals<Options>();
      // Checked before the member is asked for anything: an existing file is never overwritten.
      if (existsSync(file)) command.error(`coffer: ${file} already exists; a backup is never overwritten`, { exitCode: 1, code: 'coffer.snapshot' });
      let passphrase: Uint8Array | undefined;
      let client: KvClient | undefined;
      try {
        passphrase = await readBackupPassphrase(options.backupPassphraseFile, io.env);
        checkNewPassphrase(passphrase, options.backupPassphraseFile);
        client = await connect(options, io);
        const stream = new SnapshotStreamReader(await client.snapshot());
        const begin = await stream.begin();
        let nextReport = backupProgressEveryRecords;
        const summary = await writeBackup({
          file, passphrase, records: stream.records(), sourceClusterId: begin.clusterId,
          onProgress: ({ records, bytes }) => {
            if (records < nextReport) return;
            nextReport = (Math.floor(records / backupProgressEveryRecords) + 1) * backupProgressEveryRecords;
            io.err(`coffer: snapshot: ${records} records, ${(bytes / (1024 * 1024)).toFixed(1)} MiB written\n`);
          },
        });
        const result = {
          file, revision: summary.header.revision, records: summary.header.records, bytes: summary.bytes,
          sourceClusterId: summary.header.sourceClusterId, integrityHash: `sha256:${summary.integrityHash}`,
        };
        if (options.output === 'table') {
          io.out(`Snapshot saved to ${file}: revision ${result.revision}, ${result.records} records, ${result.bytes} bytes, `
            + `cluster ${result.sourceClusterId}, integrity ${result.integrityHash}\n`);
        } else {
          io.out(formatData(options.output, result));
        }
      } catch (error) {
        if (error instanceof CliError) command.error(`coffer: ${error.message}`, { exitCode: 1, code: 'coffer.snapshot' });
        if (isClientError(error)) command.error(`coffer: ${clientErrorMessage(error)}`, { exitCode: 1, code: 'coffer.snapshot' });
        if (isBackupError(error)) command.error(`coffer: ${error.message}`, { exitCode: 1, code: 'coffer.snapshot' });
        throw error;
      } finally {
        passphrase?.fill(0);
        client?.close();
      }
    });
}

/**
 * A new backup's passphrase is at least newPassphraseCharsMin characters (code points of its UTF-8;
 * bytes that are not UTF-8 count one each). Restore takes any: an older backup keeps its passphrase.
 */
export function checkNewPassphrase(passphrase: Uint8Array, file: string | undefined): void {
  const source = file === undefined ? backupPassphraseEnv : `the backup passphrase file ${file}`;
  const short = shortNewPassphrase(passphrase, `the backup passphrase (${source})`, 'a new backup', 'a backup file');
  if (short !== undefined) throw new CliError(short);
}
