/**
 * Where the backup passphrase comes from, for both `snapshot save` and `snapshot restore`: a file
 * (one trailing newline dropped, as editors end files) or the COFFER_BACKUP_PASSPHRASE environment
 * variable. The caller wipes the returned bytes when done; the file's bytes are wiped here.
 */
import { readFile, stat } from 'node:fs/promises';
import { backupPassphraseFileBytesMax } from '../../config/index.ts';
import { BackupError } from './errors.ts';

export const backupPassphraseEnv = 'COFFER_BACKUP_PASSPHRASE';

export async function readBackupPassphrase(file: string | undefined, env: Readonly<Record<string, string | undefined>>): Promise<Uint8Array> {
  if (file !== undefined) {
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (error) {
      throw new BackupError('E_BACKUP_NO_PASSPHRASE', `cannot read backup passphrase file ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (size > backupPassphraseFileBytesMax) {
      throw new BackupError('E_BACKUP_NO_PASSPHRASE', `backup passphrase file ${file} is ${size} bytes, above backupPassphraseFileBytesMax (${backupPassphraseFileBytesMax})`);
    }
    const bytes = await readFile(file);
    const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0a ? bytes.length - 1 : bytes.length;
    const passphrase = new Uint8Array(bytes.subarray(0, end));
    bytes.fill(0);
    if (passphrase.length === 0) throw new BackupError('E_BACKUP_NO_PASSPHRASE', `backup passphrase file ${file} is empty`);
    return passphrase;
  }
  const fromEnv = env[backupPassphraseEnv];
  if (fromEnv === undefined || fromEnv === '') {
    throw new BackupError('E_BACKUP_NO_PASSPHRASE', `a backup passphrase is required: --backup-passphrase-file F or ${backupPassphraseEnv}`);
  }
  return new TextEncoder().encode(fromEnv);
}
