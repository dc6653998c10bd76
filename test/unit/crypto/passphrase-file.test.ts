// Passphrase files are checked as key files are: a regular file readable by its owner only, or one
// line naming the file, its mode and the fix; one trailing newline is not part of the passphrase.
import assert from 'node:assert/strict';
import { chmod, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { KeyFileError, readPassphraseFile } from '../../../src/crypto/index.ts';
import { tempDir } from './helpers.ts';

for (const mode of [0o644, 0o640, 0o604, 0o660, 0o606, 0o620, 0o602]) {
  test(`a passphrase file with mode 0${mode.toString(8)} is refused with one line naming the file, the mode and the fix`, async (t) => {
    const dir = await tempDir(t);
    const file = path.join(dir, 'unseal.pass');
    await writeFile(file, 'correct horse battery staple\n');
    await chmod(file, mode);
    await assert.rejects(readPassphraseFile(file), (error: unknown) => {
      assert.ok(error instanceof KeyFileError);
      assert.equal(error.message, `passphrase file ${file} has mode 0${mode.toString(8)}; it must be readable by its owner only (chmod 600 ${file})`);
      return true;
    });
  });
}

test('a 0600 or 0400 passphrase file is read without its one trailing newline', async (t) => {
  const dir = await tempDir(t);
  const owner = path.join(dir, 'owner.pass');
  const readOnly = path.join(dir, 'read-only.pass');
  await writeFile(owner, 'pass phrase\n', { mode: 0o600 });
  await writeFile(readOnly, 'pass phrase\n\n', { mode: 0o400 });
  assert.equal(Buffer.from(await readPassphraseFile(owner)).toString(), 'pass phrase');
  assert.equal(Buffer.from(await readPassphraseFile(readOnly)).toString(), 'pass phrase\n', 'only one newline is dropped');
});

test('an empty, missing, oversized, symlinked or directory passphrase file is refused', async (t) => {
  const dir = await tempDir(t);
  const empty = path.join(dir, 'empty.pass');
  await writeFile(empty, '\n', { mode: 0o600 });
  await assert.rejects(readPassphraseFile(empty), { message: `passphrase file ${empty} is empty` });
  await assert.rejects(readPassphraseFile(path.join(dir, 'missing')), { message: /^cannot read passphrase file .*missing \(ENOENT\)$/ });
  const big = path.join(dir, 'big.pass');
  await writeFile(big, 'x'.repeat(100), { mode: 0o600 });
  await assert.rejects(readPassphraseFile(big, 'backup passphrase file', 64), { message: `backup passphrase file ${big} is 100 bytes, more than 64` });
  const link = path.join(dir, 'link.pass');
  await writeFile(path.join(dir, 'target.pass'), 'secret', { mode: 0o600 });
  await symlink(path.join(dir, 'target.pass'), link);
  await assert.rejects(readPassphraseFile(link), { message: /^cannot read passphrase file .*link\.pass \(ELOOP\)$/ });
  await chmod(dir, 0o700);
  await assert.rejects(readPassphraseFile(dir), { message: `passphrase file ${dir} is not a regular file` });
});
