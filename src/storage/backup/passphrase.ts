/**
 * Where the backup passphrase comes from, for both `snapshot save` and `snapshot restore`: a file
 * (readable by its owner only, as every passphrase file; one trailing newline dropped, as editors end
 * files) or the COFFER_BACKUP_PASSPHRASE environment variable. The caller wipes the returned bytes
 * when done; the file's bytes are wiped here.
 */
import { backupPassphraseFileBytesMax } from '../../config/index.ts';
import { KeyFileError, readPassphraseFile } from '../../crypto/index.ts';
import { BackupError } from './errors.ts';

export const backupPassphraseEnv = 'COFFER_BACKUP_PASSPHRASE';

export async function readBackupPassphrase(file: string | undefined, env: Readonly<Record<string, string | undefined>>): Promise<Uint8Array> {
  if (file !== undefined) {
    try {
      return await readPassphraseFile(file, 'backup passphrase file', backupPassphraseFileBytesMax);
    } catch (error) {
      if (error instanceof KeyFileError) throw new BackupError('E_BACKUP_NO_PASSPHRASE', error.message);
      throw error;
    }
  }
  const fromEnv = env[backupPassphraseEnv];
  if (fromEnv === undefined || fromEnv === '') {
    throw new BackupError('E_BACKUP_NO_PASSPHRASE', `a backup passphrase is required: --backup-passphrase-file F or ${backupPassphraseEnv}`);
  }
  return new TextEncoder().encode(fromEnv);
}
