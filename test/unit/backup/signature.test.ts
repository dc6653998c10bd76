// Backups sealed to a recipient are signed by the member that writes them (storage/backup/signature.ts):
// the signature covers the whole file as written and goes with the signing certificate; a changed
// signature, certificate or chunk, a missing signature or a signer the caller does not trust is refused
// with one error; an unsigned sealed backup (format 1) opens only when allowed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BackupError, type BackupKeyPair, type BackupSigner, backupPublicKeyFile, backupSigner, createBackupKeyFiles, type OpenBackupOptions, openBackup,
  readBackupKeyPair, readBackupRecipient, writeBackup,
} from '../../../src/storage/backup/index.ts';
import { collect, copyRecords, iterate, makeCa, refusal, sampleRecords, signatureAt, signerFrom, writeUnsignedSealedBackup } from './helpers.ts';

let dir: string;
let recipient: Uint8Array;
let keyPair: BackupKeyPair;
let m1: BackupSigner;
let m2: BackupSigner;
const madeAt = new Date('2031-02-03T04:05:06.000Z');

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coffer-backup-signature-'));
  const ca = await makeCa(join(dir, 'certs'), ['m1', 'm2']);
  m1 = await signerFrom(ca.memberCert('m1'), ca.memberKey('m1'));
  m2 = await signerFrom(ca.memberCert('m2'), ca.memberKey('m2'));
  const key = join(dir, 'backup.key');
  await createBackupKeyFiles(key);
  recipient = await readBackupRecipient(backupPublicKeyFile(key));
  keyPair = await readBackupKeyPair(key);
});

after(() => rm(dir, { recursive: true, force: true }));

async function sealed(name: string, signer = m1, pages = 5): Promise<string> {
  const file = join(dir, name);
  await writeBackup({ file, recipient, signer, records: iterate(sampleRecords(pages, 300 * 1024)), sourceClusterId: 'cafe0123', now: () => madeAt });
  return file;
}

/** Trusts m1's certificate only, naming it. */
const m1Only: OpenBackupOptions = {
  verifySigner: (certificate) => {
    if (!Buffer.from(certificate).equals(Buffer.from(m1.certificate))) throw new Error('not m1');
    return 'm1';
  },
};

async function readAll(file: string, options: OpenBackupOptions = m1Only) {
  const backup = await openBackup(file, keyPair, options);
  try {
    return { records: await collect(backup.records()), signedBy: backup.signedBy(), hash: backup.integrityHash() };
  } finally {
    backup.close();
  }
}

test('a sealed backup is signed over the whole file: verifySigner is given the signing certificate and the time the header says it was made', async () => {
  const file = await sealed('signed.cbk');
  const records = sampleRecords(5, 300 * 1024);
  const seen: { certificate: Uint8Array; signedAt: Date }[] = [];
  const back = await readAll(file, { verifySigner: (certificate, signedAt) => (seen.push({ certificate, signedAt }), 'member m1') });
  assert.deepEqual(back.records, copyRecords(records));
  assert.equal(back.signedBy, 'member m1');
  assert.equal(seen.length, 1);
  assert.deepEqual(Buffer.from(seen[0]!.certificate), Buffer.from(m1.certificate));
  assert.equal(seen[0]!.signedAt.toISOString(), madeAt.toISOString());
  const whole = await readFile(file);
  const at = signatureAt(whole);
  assert.ok(at < whole.length, 'a signature part follows the final chunk');
  assert.ok(whole.subarray(at).includes(Buffer.from(m1.certificate)), 'it carries the signing certificate');
});

test('a flipped byte in the signature, the certificate or a chunk, or another backup\'s signature, is refused', async () => {
  const file = await sealed('tampered.cbk');
  const whole = await readFile(file);
  const at = signatureAt(whole);
  const certAt = at + whole.subarray(at).indexOf(Buffer.from(m1.certificate));
  const cases: [string, number, string][] = [
    ['signature', whole.length - 3, 'E_BACKUP_SIGNATURE'],
    ['certificate', certAt + 200, 'E_BACKUP_SIGNATURE'],
    ['certificate serial', certAt + 20, 'E_BACKUP_SIGNATURE'],
    ['chunk', 14 + 4096 + 100, 'E_BACKUP_CORRUPT'],
  ];
  for (const [what, offset, code] of cases) {
    const copy = Buffer.from(whole);
    copy[offset] = copy[offset]! ^ 0x01;
    const damaged = join(dir, `flip-${what}.cbk`);
    await writeFile(damaged, copy);
    const error = await refusal(() => readAll(damaged));
    assert.equal(error.code, code, `${what}: ${error.message}`);
  }
  // The signature part of another backup by the same member: it signs that file, not this one.
  const other = await readFile(await sealed('other.cbk'));
  const swapped = join(dir, 'swapped.cbk');
  await writeFile(swapped, Buffer.concat([whole.subarray(0, at), other.subarray(signatureAt(other))]));
  const error = await refusal(() => readAll(swapped));
  assert.equal(error.code, 'E_BACKUP_SIGNATURE');
  assert.match(error.message, /its signature does not verify/);
});

test('a signed backup cut before or inside its signature is truncated; bytes after the signature are refused', async () => {
  const file = await sealed('cut.cbk', m1, 1);
  const whole = await readFile(file);
  const at = signatureAt(whole);
  for (const cut of [at, at + 2, at + 10, whole.length - 1]) {
    const damaged = join(dir, `cut-${cut}.cbk`);
    await writeFile(damaged, whole.subarray(0, cut));
    assert.equal((await refusal(() => readAll(damaged))).code, 'E_BACKUP_TRUNCATED', `cut at ${cut}`);
  }
  const long = join(dir, 'long.cbk');
  await writeFile(long, Buffer.concat([whole, Buffer.from([0])]));
  assert.equal((await refusal(() => readAll(long))).code, 'E_BACKUP_CORRUPT');
});

test('a signer the caller does not trust, or no way to check the signer at all, refuses the backup after every chunk was checked', async () => {
  const byM2 = await sealed('m2.cbk', m2);
  const untrusted = await refusal(() => readAll(byM2));
  assert.equal(untrusted.code, 'E_BACKUP_SIGNATURE');
  assert.equal(untrusted.message, `backup ${byM2} is refused: its signer is not trusted: not m1`);
  const unchecked = await refusal(() => readAll(byM2, {}));
  assert.equal(unchecked.code, 'E_BACKUP_SIGNATURE');
  assert.match(unchecked.message, /nothing was given to check it against/);
  assert.equal((await readAll(byM2, { verifySigner: () => 'm2' })).signedBy, 'm2');
});

test('an unsigned sealed backup (format 1) is refused at open, saying why and naming the flag; allowed, it opens to its records', async () => {
  const file = join(dir, 'unsigned.cbk');
  const records = sampleRecords(4);
  await writeUnsignedSealedBackup(file, recipient, records);
  const error = await refusal(() => openBackup(file, keyPair, m1Only));
  assert.equal(error.code, 'E_BACKUP_UNSIGNED');
  assert.match(error.message, /is sealed to a backup key but not signed .*anyone holding the public key could have written it.*--allow-unsigned-backup/);
  const back = await readAll(file, { ...m1Only, allowUnsigned: true });
  assert.deepEqual(back.records, records);
  assert.equal(back.signedBy, undefined);
  assert.match(back.hash ?? '', /^[0-9a-f]{64}$/);
});

test('a member signs only with its own key: a certificate with another\'s key, a key that is not P-256, or no signer at all is refused', async () => {
  const ca = join(dir, 'certs');
  const [m1Cert, m2Key] = await Promise.all([readFile(join(ca, 'members', 'm1.crt'), 'utf8'), readFile(join(ca, 'members', 'm2.key'), 'utf8')]);
  assert.throws(() => backupSigner(m1Cert, m2Key), new BackupError('E_BACKUP_SIGNATURE', 'cannot sign backups: the member key is not the member certificate\'s'));
  const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  assert.throws(() => backupSigner(m1Cert, ed), new BackupError('E_BACKUP_SIGNATURE', 'cannot sign backups: the member key is not an ECDSA P-256 key'));
  // Nor is a backup sealed to a recipient written without a signer (a caller in plain JavaScript, say).
  const unsigned = { file: join(dir, 'no-signer.cbk'), recipient, records: iterate(sampleRecords(1)), sourceClusterId: 'x' } as unknown as Parameters<typeof writeBackup>[0];
  assert.equal((await refusal(() => writeBackup(unsigned))).code, 'E_BACKUP_SIGNATURE');
  assert.equal(existsSync(unsigned.file), false);
});
