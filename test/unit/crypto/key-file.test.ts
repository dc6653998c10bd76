import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, chown, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { createKeyFile, KeyFileError, keyFileKek, openKeyring, ownKeyFileExists, readSecretFile } from '../../../src/crypto/index.ts';
import { tempDir } from './helpers.ts';

const euid = process.geteuid?.() ?? 0;

test('createKeyFile writes 32 bytes with mode 0600 and refuses to overwrite', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'unseal.key');
  await createKeyFile(file);
  const info = await stat(file);
  assert.equal(info.mode & 0o777, 0o600);
  assert.equal(info.size, 32);
  await assert.rejects(createKeyFile(file), /EEXIST/);
});

for (const mode of [0o644, 0o640, 0o604, 0o660, 0o666]) {
  test(`a key file with loose mode 0${mode.toString(8)} is refused with a clear error`, async (t) => {
    const dir = await tempDir(t);
    const file = path.join(dir, 'loose.key');
    await writeFile(file, randomBytes(32));
    await chmod(file, mode);
    await assert.rejects(keyFileKek(file), (error: unknown) => {
      assert.ok(error instanceof KeyFileError);
      assert.equal(error.code, 'E_KEY_FILE');
      assert.match(error.message, new RegExp(`mode 0${mode.toString(8)}.*chmod 600`));
      return true;
    });
  });
}

test('a 0400 key file and a base64 key file are accepted and open the same keyring', async (t) => {
  const dir = await tempDir(t);
  const key = randomBytes(32);
  const raw = path.join(dir, 'raw.key');
  const text = path.join(dir, 'text.key');
  await writeFile(raw, key, { mode: 0o400 });
  await writeFile(text, key.toString('base64') + '\n', { mode: 0o600 });
  const keyring = await openKeyring({ dir: path.join(dir, 'data'), kek: await keyFileKek(raw) });
  await keyring.close();
  const again = await openKeyring({ dir: path.join(dir, 'data'), kek: await keyFileKek(text) });
  await again.close();
});

test('a key file of the wrong size, a missing file and a directory are refused', async (t) => {
  const dir = await tempDir(t);
  const short = path.join(dir, 'short.key');
  await writeFile(short, randomBytes(16), { mode: 0o600 });
  await assert.rejects(keyFileKek(short), /16 bytes; expected 32/);
  await assert.rejects(keyFileKek(path.join(dir, 'missing.key')), /cannot read key file .*ENOENT/);
  await chmod(dir, 0o700);
  await assert.rejects(keyFileKek(dir), KeyFileError);
});

test('a secret file that belongs to another user is refused, naming its owner and the caller', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'planted.key');
  await writeFile(file, randomBytes(32), { mode: 0o600 });
  // Root gives the file to another user ("nobody"), as the suite runs; a caller that is not root cannot,
  // and names another uid as the owner the file must have instead: the same comparison refuses it.
  const other = euid === 0 ? 65534 : euid + 1;
  if (euid === 0) await chown(file, other, other);
  const options = euid === 0 ? {} : { ownerUid: other };
  const owner = euid === 0 ? other : euid;
  const caller = euid === 0 ? euid : other;
  await assert.rejects(readSecretFile(file, 'key file', 256, options), (error: unknown) => {
    assert.ok(error instanceof KeyFileError);
    assert.match(error.message, new RegExp(`^key file .*planted\\.key belongs to uid ${owner}, not to this user \\(uid ${caller}\\)`));
    return true;
  });
  if (euid === 0) await assert.rejects(keyFileKek(file), KeyFileError, 'a key file is checked the same way');
});

test('ownKeyFileExists: none is false, the caller\'s own private key file is true, anything else at the name is refused', async (t) => {
  const dir = await tempDir(t);
  assert.equal(await ownKeyFileExists(path.join(dir, 'missing.key')), false);
  const own = path.join(dir, 'own.key');
  await createKeyFile(own);
  assert.equal(await ownKeyFileExists(own), true);
  const linked = path.join(dir, 'linked.key');
  await symlink(own, linked);
  await assert.rejects(ownKeyFileExists(linked), { message: /^cannot read key file .*linked\.key \(ELOOP\)$/ });
  const dangling = path.join(dir, 'dangling.key');
  await symlink(path.join(dir, 'nowhere'), dangling);
  await assert.rejects(ownKeyFileExists(dangling), { message: /^cannot read key file .*dangling\.key \(ELOOP\)$/ });
  const loose = path.join(dir, 'loose.key');
  await writeFile(loose, randomBytes(32), { mode: 0o600 });
  await chmod(loose, 0o644);
  await assert.rejects(ownKeyFileExists(loose), { message: /^key file .*loose\.key has mode 0644/ });
  const short = path.join(dir, 'short.key');
  await writeFile(short, randomBytes(16), { mode: 0o600 });
  await assert.rejects(ownKeyFileExists(short), { message: /16 bytes; expected 32/ });
});
