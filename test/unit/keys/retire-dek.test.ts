/**
 * Keyring.retireDek and the key-content KEK (the pieces of key rotation inside src/crypto): a retired
 * DEK is gone from the keyring file and from memory, the active DEK is never retired, and a new
 * unseal key handed over as bytes passes the same checks as a key file.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { IntegrityError, keyContentKek, keyFileKek, KeyringError, KeyFileError, openKeyring, RecordKind } from '../../../src/crypto/index.ts';
import { keyringRetiredDeksKept } from '../../../src/config/index.ts';
import { keyFileKeyring, tempDir } from '../crypto/helpers.ts';

const position = { storeId: 'retire-test', kind: RecordKind.mvccRevision, index: 1, sub: 0 };

test('a retired DEK is gone from the keyring file and from memory; pages sealed with it no longer open', async (t) => {
  const dir = await tempDir(t);
  const { keyring, keyFile } = await keyFileKeyring(dir);
  const old = keyring.seal(new TextEncoder().encode('sealed with DEK 1'), position);
  assert.equal(await keyring.rotateDek(), 2);
  const current = keyring.seal(new TextEncoder().encode('sealed with DEK 2'), position);
  await keyring.retireDek(1);
  assert.deepEqual(keyring.status().deks.map((d) => d.id), [2]);
  assert.throws(() => keyring.open(old, position), (error: Error) => error instanceof IntegrityError && /DEK 1, which the keyring does not hold/.test(error.message));
  await keyring.close();
  const reopened = await openKeyring({ dir: path.join(dir, 'data'), kek: await keyFileKek(keyFile), createIfMissing: false });
  assert.deepEqual(reopened.status().deks.map((d) => d.id), [2]);
  assert.deepEqual(reopened.status().retired.map((r) => r.id), [1], 'the retirement is remembered across a restart');
  assert.equal(new TextDecoder().decode(reopened.open(current, position)), 'sealed with DEK 2');
  assert.equal(await reopened.rotateDek(), 3, 'ids keep counting up after a retirement');
  await reopened.close();
});

test('the active DEK and unknown DEKs are refused with KeyringError, and the keyring is unchanged', async (t) => {
  const dir = await tempDir(t);
  const { keyring } = await keyFileKeyring(dir);
  await assert.rejects(keyring.retireDek(1), (error: Error) => error instanceof KeyringError && /active DEK/.test(error.message));
  await assert.rejects(keyring.retireDek(7), (error: Error) => error instanceof KeyringError && /DEK 7 is not in the keyring/.test(error.message));
  assert.deepEqual(keyring.status().deks.map((d) => d.id), [1]);
  await keyring.close();
});

test('a new unseal key given as bytes takes the key file forms (32 raw bytes or base64) and is refused otherwise', () => {
  const raw = new Uint8Array(32).fill(9);
  assert.equal(keyContentKek(raw, 'the new unseal key').source, 'keyFile');
  assert.equal(keyContentKek(new Uint8Array(Buffer.from(`${Buffer.from(raw).toString('base64')}\n`)), 'the new unseal key').source, 'keyFile');
  assert.throws(() => keyContentKek(new Uint8Array(31), 'the new unseal key'), (error: Error) => error instanceof KeyFileError && /the new unseal key is 31 bytes/.test(error.message));
  assert.throws(() => keyContentKek(new Uint8Array(100_000), 'the new unseal key'), KeyFileError);
});

test('the keyring remembers the latest retirements only, oldest first', async (t) => {
  const dir = await tempDir(t);
  const { keyring } = await keyFileKeyring(dir);
  for (let i = 0; i < keyringRetiredDeksKept + 2; i++) {
    const before = keyring.activeDekId();
    await keyring.rotateDek();
    await keyring.retireDek(before);
  }
  const retired = keyring.status().retired.map((r) => r.id);
  assert.equal(retired.length, keyringRetiredDeksKept);
  assert.deepEqual(retired, Array.from({ length: keyringRetiredDeksKept }, (_, i) => i + 3));
  await keyring.close();
});
