// Backups sealed to a backup recipient: keygen writes the key pair (secret 0600, never overwritten), a
// backup written with only the public key (and signed by the member writing it) holds no plaintext and
// opens with the secret key to the same records (padded to a size etcdctl keeps, too); another key, a
// passphrase, or a loose or malformed key file is refused with one error.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BackupError, backupPublicKeyFile, type BackupSigner, createBackupKeyFiles, openBackup, readBackupKeyPair, readBackupRecipient, writeBackup,
} from '../../../src/storage/backup/index.ts';
import { collect, copyRecords, iterate, makeCa, marker, refusal, sampleRecords, signerFrom } from './helpers.ts';

let caDir: string;
let signer: BackupSigner;
/** Trusts whoever signed (who may sign is restore's decision: test/integration/backup/signed-restore.test.ts). */
const anySigner = { verifySigner: () => 'm1' };

before(async () => {
  caDir = await mkdtemp(join(tmpdir(), 'coffer-backup-recipient-ca-'));
  const ca = await makeCa(caDir);
  signer = await signerFrom(ca.memberCert('m1'), ca.memberKey('m1'));
});

after(() => rm(caDir, { recursive: true, force: true }));

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-backup-recipient-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a backup sealed to the public key opens with the secret key to the same records, and holds no plaintext', () => withDir(async (dir) => {
  const key = join(dir, 'backup.key');
  await createBackupKeyFiles(key);
  assert.equal((await stat(key)).mode & 0o777, 0o600);
  const records = sampleRecords(40);
  const file = join(dir, 'sealed.cbk');
  await writeBackup({ file, recipient: await readBackupRecipient(backupPublicKeyFile(key)), signer, records: iterate(copyRecords(records)), sourceClusterId: 'cafe0123' });
  assert.equal((await readFile(file)).includes(Buffer.from(marker)), false, 'no plaintext marker in the file');
  const backup = await openBackup(file, await readBackupKeyPair(key), anySigner);
  try {
    assert.equal(backup.header.kdf.algorithm, 'x25519-sealed-box');
    assert.equal(backup.header.format, 2);
    assert.equal(backup.signed, true);
    assert.deepEqual(await collect(backup.records()), records);
    assert.match(backup.integrityHash() ?? '', /^[0-9a-f]{64}$/);
    assert.equal(backup.signedBy(), 'm1');
  } finally {
    backup.close();
  }
}));

test('a backup padded to a size etcdctl keeps (32 modulo 512) still opens to the same records', () => withDir(async (dir) => {
  const key = join(dir, 'backup.key');
  await createBackupKeyFiles(key);
  const recipient = await readBackupRecipient(backupPublicKeyFile(key));
  for (const pages of [1, 7, 40]) {
    const records = sampleRecords(pages);
    const file = join(dir, `aligned-${pages}.cbk`);
    await writeBackup({ file, recipient, signer, records: iterate(copyRecords(records)), sourceClusterId: 'x', sizeAlignment: { multiple: 512, remainder: 32 } });
    assert.equal((await stat(file)).size % 512, 32);
    const backup = await openBackup(file, await readBackupKeyPair(key), anySigner);
    try {
      assert.deepEqual(await collect(backup.records()), records);
    } finally {
      backup.close();
    }
  }
}));

test('another key pair, a passphrase, or a passphrase backup opened with a key is refused', () => withDir(async (dir) => {
  const [key, other] = [join(dir, 'a.key'), join(dir, 'b.key')];
  await createBackupKeyFiles(key);
  await createBackupKeyFiles(other);
  const file = join(dir, 'sealed.cbk');
  await writeBackup({ file, recipient: await readBackupRecipient(backupPublicKeyFile(key)), signer, records: iterate(sampleRecords(3)), sourceClusterId: 'x' });
  assert.deepEqual(await refusal(async () => openBackup(file, await readBackupKeyPair(other))), new BackupError('E_BACKUP_PASSPHRASE', `backup ${file}: wrong backup key`));
  const byPassphrase = await refusal(() => openBackup(file, new TextEncoder().encode('a passphrase')));
  assert.equal(byPassphrase.message, `backup ${file} is sealed to a backup key: give its secret key (--backup-key)`);
  const withPassphrase = join(dir, 'pass.cbk');
  await writeBackup({ file: withPassphrase, passphrase: new TextEncoder().encode('p'), records: iterate(sampleRecords(3)), sourceClusterId: 'x', argon2: { memoryKiB: 1024, timeCost: 1, parallelism: 1 } });
  assert.equal((await refusal(async () => openBackup(withPassphrase, await readBackupKeyPair(key)))).message, `backup ${withPassphrase} is encrypted with a passphrase, not to a backup key`);
}));

test('key files: never overwritten, a loose secret key or a file that is not a key refused', () => withDir(async (dir) => {
  const key = join(dir, 'backup.key');
  await createBackupKeyFiles(key);
  assert.equal((await refusal(() => createBackupKeyFiles(key))).code, 'E_BACKUP_KEY');
  await chmod(key, 0o644);
  assert.match((await refusal(() => readBackupKeyPair(key))).message, /has mode 0644; it must be readable by its owner only/);
  const notKey = join(dir, 'not.pub');
  await writeFile(notKey, 'hello\n');
  assert.equal((await refusal(() => readBackupRecipient(notKey))).message, `backup recipient ${notKey} does not hold a base64 32-byte key (coffer snapshot keygen writes one)`);
  assert.equal((await refusal(() => readBackupRecipient(join(dir, 'missing.pub')))).code, 'E_BACKUP_KEY');
}));
