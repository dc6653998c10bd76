/**
 * `coffer snapshot restore FILE --data-dir DIR --name NAME --initial-cluster … [--initial-cluster-token T]
 * [--backup-passphrase-file F | --backup-key F --cacert F [--allow-missing-crl] [--allow-unsigned-backup]] + unseal flags`
 * — builds one member's data dir of a NEW cluster from a
 * backup, offline (as etcdutl snapshot restore does). Run it once per member of the new cluster, with
 * the same file and cluster flags; then start each member with `coffer server` and the same
 * --initial-cluster.
 *
 * Steps, and why in this order:
 * 1. refuse a data dir that already holds anything (a restore never merges into or replaces data);
 * 2. decrypt and verify the WHOLE backup without writing anything (truncation, corruption or a wrong
 *    passphrase stop here with one error), which also yields its integrity hash; a backup sealed to a
 *    backup key (etcd's Snapshot) must also be signed by a member of the cluster that made it — the
 *    signature over the whole file verifies, and its certificate is a member certificate of the CA
 *    in --cacert (else COFFER_CACERT; no default: see signerTrust), not revoked by the CRL beside it
 *    (none there: refused unless --allow-missing-crl), and valid when the backup says it was made. An
 *    unsigned one (format 1, from before backups were signed) is refused unless --allow-unsigned-backup;
 * 3. in a staging sibling dir: open this member's keyring (unsealed as `coffer server` would), import
 *    the records into its MVCC store re-sealed with its own keys — the source cluster's member table
 *    (Coffer's reserved keys) dropped and the applied index set to 0 — and write `member.sealed` with
 *    the new cluster id; a second decryption pass feeds the import, so a file changed in between
 *    still fails and the staging dir is removed;
 * 4. rename the staging dir to DIR. There is no WAL: the first `coffer server` start bootstraps the
 *    new cluster's log from --initial-cluster (ids 1..N in that order) and applies the membership on
 *    top of the restored store, at revisions after the backup's.
 *
 * The new cluster id is derived from the member names, the token and the backup's integrity hash, so
 * every member restored from one file with the same flags agrees on it, and it differs from the
 * source cluster's (whose id has no integrity hash in it).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Command } from 'commander';
import { CofferError } from '../base/index.ts';
import { parseInitialCluster, parseUnsealSource, ServerConfigError, type UnsealSource } from '../config/index.ts';
import { renameDurably } from '../durable/index.ts';
import { isReservedKey } from '../replication/index.ts';
import { loadMemberTrust, type MemberTrust } from '../pki/index.ts';
import {
  type OpenBackupOptions, openBackup, type OpenedBackup, readBackupKeyPair, readBackupPassphrase, type VerifySigner,
} from '../storage/backup/index.ts';
import { sealedAreas } from '../storage/barrier/index.ts';
import { MvccStore, type SnapshotRecord } from '../storage/mvcc/index.ts';
import { holdsData } from './first-start.ts';
import { writeIdentity } from './member-identity.ts';
import { unseal } from './unseal.ts';

export interface RestoreOptions {
  file: string;
  dataDir: string;
  name: string;
  /** `name=https://host:port,…`, as `coffer server --initial-cluster` will be given. */
  initialCluster: string;
  initialClusterToken: string;
  backupPassphraseFile?: string;
  /** The secret key of a backup sealed to a backup recipient (etcd's Snapshot), instead of a passphrase. */
  backupKeyFile?: string;
  /**
   * The CA certificate of the cluster that made a backup sealed to a backup key, whose member signed it
   * (else COFFER_CACERT; a signed backup is refused without either). The CRL beside it is checked too.
   */
  caCert?: string;
  /** Restores a signed backup without a revocation check when there is no CRL beside the CA certificate: refused otherwise. */
  allowMissingCrl?: boolean;
  /** Restores a backup sealed to a backup key that carries no signature (format 1): refused otherwise. */
  allowUnsignedBackup?: boolean;
  unseal: UnsealSource;
}

export interface RestoreSummary {
  dataDir: string;
  clusterId: string;
  sourceClusterId: string;
  memberId: number;
  revision: number;
  records: number;
  /** Records of the source cluster's own reserved keys (its member table), left out. */
  droppedRecords: number;
  integrityHash: string;
  /** The member that signed the backup (a backup sealed to a backup key), as `member <name> (certificate <serial>)`. */
  signedBy?: string;
  /**
   * What that member's certificate was checked against for revocation: `checked against CRL <file>
   * (number <n>)`, or `not checked: no CRL at <file> (--allow-missing-crl)`.
   */
  revocation?: string;
}

export class RestoreError extends CofferError {
  readonly code = 'E_RESTORE';
}

/** The restored cluster's id: same file + same names + same token → same id on every member. */
export function restoredClusterId(names: readonly string[], token: string, integrityHash: string): string {
  const sorted = [...names].sort().join(',');
  return createHash('sha256').update(`coffer-restore\n${token}\n${sorted}\n${integrityHash}`).digest('hex').slice(0, 16);
}

export async function restoreBackup(options: RestoreOptions, env: Readonly<Record<string, string | undefined>>): Promise<RestoreSummary> {
  const members = parseInitialCluster(options.initialCluster);
  const index = members.findIndex((m) => m.name === options.name);
  if (index < 0) throw new ServerConfigError('initialCluster', `does not name this member (${options.name})`);
  const dataDir = resolve(options.dataDir);
  if (await holdsData(dataDir)) throw new RestoreError(`data dir ${options.dataDir} already holds data; restore into a new or empty dir`);

  const signers = signerTrust(options.caCert ?? nonEmpty(env.COFFER_CACERT), options.file, options.allowMissingCrl === true);
  const backup = await openWith(options, env, { verifySigner: signers.verifySigner, allowUnsigned: options.allowUnsignedBackup === true });
  try {
    // No CA named, or a CA certificate or CRL missing, unreadable or untrusted, is said before anything is decrypted.
    const trust = backup.signed ? await signers.trust() : undefined;
    // Pass 1: verify everything — the signature and its signer too — before writing anything.
    for await (const record of backup.records()) if (record.type === 'page') record.page.value.fill(0);
    const integrityHash = backup.integrityHash();
    if (integrityHash === undefined) throw new RestoreError('the backup was not verified');
    const signedBy = backup.signedBy();
    const clusterId = restoredClusterId(members.map((m) => m.name), options.initialClusterToken, integrityHash);
    if (clusterId === backup.header.sourceClusterId) throw new RestoreError('the restored cluster id equals the source cluster id; use another --initial-cluster-token');

    // Pass 2: build the data dir in a staging sibling, then move it into place.
    const staging = `${dataDir}.restore-${randomBytes(6).toString('hex')}`;
    await mkdir(dirname(dataDir), { recursive: true });
    await mkdir(staging, { mode: 0o700 });
    let dropped = 0;
    try {
      const barrier = await unseal(staging, options.unseal, env);
      try {
        async function* forNewCluster(): AsyncGenerator<SnapshotRecord> {
          for await (const record of backup.records()) {
            if (record.type === 'header') {
              yield { ...record, appliedIndex: 0 };
            } else if (record.type === 'lease') {
              yield record;
            } else if (isReservedKey(record.page.key)) {
              dropped++;
              record.page.value.fill(0);
            } else {
              yield record;
              // The import has sealed it by the time the next record is asked for.
              record.page.value.fill(0);
            }
          }
        }
        // The same store id the replica opens its store with (replication/replica.ts: `<name>/mvcc`).
        const store = await MvccStore.importSnapshot({ dir: join(staging, 'mvcc'), sealer: barrier.handle(sealedAreas.replica), storeId: `${options.name}/mvcc`, records: forNewCluster() });
        await store.close();
        await writeIdentity(staging, { clusterId, memberId: index + 1, name: options.name }, barrier.handle(sealedAreas.identity));
      } finally {
        await barrier.close();
      }
      if (await holdsData(dataDir)) throw new RestoreError(`data dir ${options.dataDir} received data during the restore`);
      await rmdir(dataDir).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
      await renameDurably(staging, dataDir);
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
    return {
      dataDir: options.dataDir, clusterId, sourceClusterId: backup.header.sourceClusterId, memberId: index + 1,
      revision: backup.header.revision, records: backup.header.records, droppedRecords: dropped, integrityHash,
      ...(signedBy === undefined ? {} : { signedBy }),
      ...(trust === undefined ? {} : { revocation: revocationChecked(trust) }),
    };
  } finally {
    backup.close();
  }
}

/**
 * Who may have signed a backup: a member certificate of the CA in `caFile`, unrevoked by the CRL beside
 * it (pki/member-trust.ts), valid at the time the signed header says the backup was made. At that time,
 * not now: a backup is restored long after it was made, often after the member's certificate was
 * rotated or expired, and its signature was good then. The cost: whoever holds the key of an expired
 * member certificate can backdate a backup into that certificate's validity — which is why a revoked
 * signer is refused whatever the date (revoke the certificates of retired or lost members), and why a
 * restore without the CRL to see that stops unless the operator says `allowMissingCrl`.
 *
 * The CA is what makes a signed backup authentic, so there is no default file (the CLI's other commands
 * take certs/ca.crt, where a wrong CA only fails a handshake): relative to wherever the restore runs —
 * often where backups land, and come from — a certs/ca.crt put there with a forged backup would vouch
 * for it. The operator names it; pki reads it and the CRL only from files no other user could have written.
 */
function signerTrust(caFile: string | undefined, file: string, allowMissingCrl: boolean): { trust(): Promise<MemberTrust>; verifySigner: VerifySigner } {
  const needsCa = `backup ${file} is signed by the member that made it, and checking that member needs the CA certificate of its cluster`;
  async function load(): Promise<MemberTrust> {
    if (caFile === undefined) throw new RestoreError(`${needsCa}: give --cacert or COFFER_CACERT (a restore takes no CA from the directory it runs in)`);
    const loaded = await loadMemberTrust(caFile).catch((error: unknown) => {
      throw new RestoreError(`${needsCa}: ${error instanceof Error ? error.message : String(error)} (give --cacert or COFFER_CACERT)`, { cause: error });
    });
    if (loaded.crl === undefined && !allowMissingCrl) {
      throw new RestoreError(`backup ${file} is signed by a member, and there is no CRL to check that member's certificate against: ${loaded.crlFile} is missing; `
        + `copy the CA's crl.pem beside ${caFile}, or restore without a revocation check with --allow-missing-crl`);
    }
    return loaded;
  }
  let trust: Promise<MemberTrust> | undefined;
  const loadOnce = () => trust ??= load();
  return {
    trust: loadOnce,
    verifySigner: async (certificate, signedAt) => {
      const { name, serial } = (await loadOnce()).verifyMember(certificate, signedAt.getTime());
      return `member ${name} (certificate ${serial})`;
    },
  };
}

/** What the signer's certificate was checked against for revocation, for the summary. */
function revocationChecked(trust: MemberTrust): string {
  if (trust.crl === undefined) return `not checked: no CRL at ${trust.crlFile} (--allow-missing-crl)`;
  return `checked against CRL ${trust.crlFile} (${trust.crl.number === undefined ? 'no CRL number' : `number ${trust.crl.number}`})`;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}

/** Opens the backup with its secret key (--backup-key) or else its passphrase; the key material is wiped once open. */
async function openWith(options: RestoreOptions, env: Readonly<Record<string, string | undefined>>, open: OpenBackupOptions): Promise<OpenedBackup> {
  if (options.backupKeyFile !== undefined && options.backupPassphraseFile !== undefined) {
    throw new RestoreError('give --backup-key or --backup-passphrase-file, not both');
  }
  const unlock = options.backupKeyFile !== undefined ? await readBackupKeyPair(options.backupKeyFile) : await readBackupPassphrase(options.backupPassphraseFile, env);
  try {
    return await openBackup(options.file, unlock, open);
  } finally {
    (unlock instanceof Uint8Array ? unlock : unlock.secretKey).fill(0);
  }
}

/** The command line of `coffer snapshot restore` (dispatched by coffer.ts: it needs server internals). */
export function restoreCommand(): Command {
  return new Command('restore')
    .description('build a new cluster member\'s data dir from an encrypted backup (run once per member)')
    .argument('<file>', 'the backup file (coffer snapshot save)')
    .requiredOption('--data-dir <dir>', 'the new member\'s data dir (must not hold data)')
    .requiredOption('--name <name>', 'the new member\'s name')
    .requiredOption('--initial-cluster <list>', 'name=https://host:port,… of the new cluster, as coffer server will be given')
    .option('--initial-cluster-token <token>', 'as coffer server will be given', 'coffer')
    .option('--backup-passphrase-file <file>', 'the backup passphrase (else COFFER_BACKUP_PASSPHRASE)')
    .option('--backup-key <file>', 'the secret backup key (coffer snapshot keygen) of a backup sealed to its public key, e.g. by etcdctl snapshot save')
    .option('--cacert <file>', 'the CA certificate of the cluster that made a backup sealed to a backup key, one of whose members must have signed it '
      + '(else COFFER_CACERT; no default; it and the crl.pem beside it must be files no other user could have written)')
    .option('--allow-missing-crl', 'restore a signed backup although there is no crl.pem beside the CA certificate: '
      + 'the signer is then not checked for revocation, so a revoked member\'s key could have signed it')
    .option('--allow-unsigned-backup', 'restore a backup sealed to a backup key that carries no signature (written before backups were signed): '
      + 'anyone holding the public key could have written it')
    .option('--unseal-key-file <file>', 'the new member\'s unseal key file')
    .option('--passphrase-file <file>', 'the new member\'s unseal passphrase (argon2id)')
    .option('--kms-socket <path>', 'the new member\'s KMS plugin')
    .action(async (file: string, flags: {
      dataDir: string; name: string; initialCluster: string; initialClusterToken: string; backupPassphraseFile?: string; backupKey?: string;
      cacert?: string; allowMissingCrl?: boolean; allowUnsignedBackup?: boolean; unsealKeyFile?: string; passphraseFile?: string; kmsSocket?: string;
    }) => {
      const summary = await restoreBackup({
        file, dataDir: flags.dataDir, name: flags.name, initialCluster: flags.initialCluster, initialClusterToken: flags.initialClusterToken,
        ...(flags.backupPassphraseFile === undefined ? {} : { backupPassphraseFile: flags.backupPassphraseFile }),
        ...(flags.backupKey === undefined ? {} : { backupKeyFile: flags.backupKey }),
        ...(flags.cacert === undefined ? {} : { caCert: flags.cacert }),
        ...(flags.allowMissingCrl === true ? { allowMissingCrl: true } : {}),
        ...(flags.allowUnsignedBackup === true ? { allowUnsignedBackup: true } : {}),
        unseal: parseUnsealSource(flags, process.env),
      }, process.env);
      process.stdout.write(`coffer: restored member ${flags.name} (id ${summary.memberId}) of new cluster ${summary.clusterId} `
        + `(from cluster ${summary.sourceClusterId}${summary.signedBy === undefined ? '' : `, signed by its ${summary.signedBy}`}`
        + `${summary.revocation === undefined ? '' : `, revocation ${summary.revocation}`}) into ${summary.dataDir}: revision ${summary.revision}, ${summary.records} records, `
        + `${summary.droppedRecords} member-table records left out; start it with coffer server and the same --initial-cluster\n`);
    });
}

