import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readdir } from 'node:fs/promises';
import { newPassphraseCharsMin } from '../../../src/config/index.ts';
import { argon2ParamsDefault, KeyringError, openKeyring, passphraseKek, SealedError } from '../../../src/crypto/index.ts';
import { fastArgon2, tempDir } from './helpers.ts';

test('the default argon2id memory is at least 64 MiB, and a keyring created with defaults records it', async (t) => {
  assert.ok(argon2ParamsDefault.memoryKiB >= 64 * 1024, `default memory ${argon2ParamsDefault.memoryKiB} KiB`);
  const dir = await tempDir(t);
  const keyring = await openKeyring({ dir, kek: passphraseKek('a passphrase') });
  assert.deepEqual(keyring.status().argon2, { ...argon2ParamsDefault });
  assert.ok(keyring.status().argon2!.memoryKiB >= 64 * 1024);
  await keyring.close();
});

test('recorded argon2id parameters are honoured on open, whatever the provider was given', async (t) => {
  const dir = await tempDir(t);
  const recorded = { memoryKiB: 2048, timeCost: 2, parallelism: 1 };
  const keyring = await openKeyring({ dir, kek: passphraseKek('a long passphrase', recorded) });
  await keyring.close();
  // Opening with other parameters would derive another key and fail; it opens, so the recorded ones were used.
  const reopened = await openKeyring({ dir, kek: passphraseKek('a long passphrase', fastArgon2) });
  assert.deepEqual(reopened.status().argon2, recorded);
  await reopened.close();
});

test('a KEK rotation can raise the argon2id parameters, and they are recorded', async (t) => {
  const dir = await tempDir(t);
  const keyring = await openKeyring({ dir, kek: passphraseKek('a long passphrase', fastArgon2) });
  const stronger = { memoryKiB: 4096, timeCost: 2, parallelism: 2 };
  await keyring.rotateKek(passphraseKek('a long passphrase', stronger));
  await keyring.close();
  const reopened = await openKeyring({ dir, kek: passphraseKek('a long passphrase', fastArgon2) });
  assert.deepEqual(reopened.status().argon2, stronger);
  await reopened.close();
});

test('argon2id parameters below the floor or an empty passphrase are refused', () => {
  assert.throws(() => passphraseKek('pass', { memoryKiB: 64 }), (e: unknown) => e instanceof KeyringError && /memoryKiB 64/.test(e.message));
  assert.throws(() => passphraseKek('pass', { timeCost: 0 }), /timeCost 0/);
  assert.throws(() => passphraseKek(''), /empty/);
});

test('a new keyring, or a KEK rotation, refuses a passphrase shorter than newPassphraseCharsMin, naming its length only', async (t) => {
  const short = 'ünïcødé-pw!'; // 11 characters, 15 bytes
  assert.equal([...short].length, newPassphraseCharsMin - 1);
  const refused = (e: unknown): boolean => e instanceof KeyringError
    && e.message === `the passphrase is ${newPassphraseCharsMin - 1} characters; a new keyring needs at least ${newPassphraseCharsMin}: its file can be attacked offline`;
  const empty = await tempDir(t);
  await assert.rejects(openKeyring({ dir: empty, kek: passphraseKek(short, fastArgon2) }), refused);
  assert.deepEqual(await readdir(empty), [], 'no keyring file is written');

  const dir = await tempDir(t);
  const keyring = await openKeyring({ dir, kek: passphraseKek('a'.repeat(newPassphraseCharsMin), fastArgon2) });
  await assert.rejects(keyring.rotateKek(passphraseKek(short, fastArgon2)), refused);
  await keyring.close();
  // The keyring is still sealed by the old passphrase; opening checks no length (an older keyring keeps its own).
  await (await openKeyring({ dir, kek: passphraseKek('a'.repeat(newPassphraseCharsMin), fastArgon2), createIfMissing: false })).close();
  await assert.rejects(openKeyring({ dir, kek: passphraseKek('x', fastArgon2), createIfMissing: false }), SealedError);
});
