import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { IntegrityError, sodiumReady } from '../../../src/crypto/index.ts';
import {
  AuditKeyError, auditKeyFileName, generateAuditKeyPair, loadOrCreateAuditKeyFile, openAuditKeyPair, sealAuditKeyPair,
} from '../../../src/audit/index.ts';
import { keyFileKeyring } from '../../unit/crypto/helpers.ts';
import { tempDir } from '../../unit/audit/helpers.ts';

test('the audit key pair is kept sealed under the keyring and opens to the same pair', async (t) => {
  const dir = await tempDir(t);
  const { keyring } = await keyFileKeyring(dir);
  const created = await loadOrCreateAuditKeyFile(path.join(dir, 'data'), keyring, 'm1');
  const again = await loadOrCreateAuditKeyFile(path.join(dir, 'data'), keyring, 'm1');
  assert.deepEqual(again.publicKey, created.publicKey);
  assert.deepEqual(again.privateKey, created.privateKey);
  const sodium = await sodiumReady();
  const message = new TextEncoder().encode('x');
  assert.ok(sodium.crypto_sign_verify_detached(sodium.crypto_sign_detached(message, again.privateKey), message, created.publicKey));
  // The private key (and its 32-byte seed) is not on disk in any plain encoding.
  const file = await readFile(path.join(dir, 'data', auditKeyFileName));
  const seed = Buffer.from(created.privateKey.subarray(0, 32));
  for (const encoded of [seed, Buffer.from(seed.toString('base64')), Buffer.from(seed.toString('hex'))]) {
    assert.equal(file.indexOf(encoded), -1);
  }
});

test('a key file opens only for the store it was sealed for, and a swapped public key is refused', async (t) => {
  const dir = await tempDir(t);
  const { keyring } = await keyFileKeyring(dir);
  const pair = await generateAuditKeyPair();
  const bytes = sealAuditKeyPair(pair, keyring, 'm1');
  await assert.rejects(openAuditKeyPair(bytes, keyring, 'm2'), IntegrityError);
  const other = await generateAuditKeyPair();
  const doc = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, string>;
  doc.publicKey = Buffer.from(other.publicKey).toString('base64');
  await assert.rejects(openAuditKeyPair(new TextEncoder().encode(JSON.stringify(doc)), keyring, 'm1'), (e: unknown) => e instanceof AuditKeyError && /does not belong/.test(e.message));
  await writeFile(path.join(dir, 'junk'), 'junk');
  await assert.rejects(openAuditKeyPair(await readFile(path.join(dir, 'junk')), keyring, 'm1'), AuditKeyError);
});
