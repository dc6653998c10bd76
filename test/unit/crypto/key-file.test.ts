import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { createKeyFile, KeyFileError, keyFileKek, openKeyring } from '../../../src/crypto/index.ts';
import { tempDir } from './helpers.ts';

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
