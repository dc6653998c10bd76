// The temporary a whole-file write goes through, on the real file system: a new file beside its target
// under a name no one can predict, never a name that exists — a symlink or a file another local user
// planted there gets nothing, and its owner can neither redirect the write nor keep the result.
import assert from 'node:assert/strict';
import { lstatSync, readdirSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { tempFileAttemptsMax } from '../../../src/config/index.ts';
import { removeTempsOf, writeFileDurably } from '../../../src/durable/index.ts';
import { createTempFile, tempPathOf } from '../../../src/durable/temp-file.ts';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-temp-file-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const exists = (path: string) => lstat(path).then(() => true, () => false);

test('writeFileDurably writes a new temporary beside the file, named unpredictably, with the mode asked, and leaves none', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'secret');
  const temporaries: { name: string; mode: number }[] = [];
  const onStep = (step: string) => {
    if (step !== 'temp-written') return;
    for (const name of readdirSync(dir).filter((n) => n !== 'secret')) temporaries.push({ name, mode: lstatSync(join(dir, name)).mode & 0o777 });
  };
  await writeFileDurably(file, 'first', { onStep });
  await writeFileDurably(file, 'second', { mode: 0o640, onStep });
  assert.equal(temporaries.length, 2, JSON.stringify(temporaries));
  for (const { name } of temporaries) assert.match(name, /^secret\.[0-9a-f]{16}\.tmp$/);
  assert.notEqual(temporaries[0]?.name, temporaries[1]?.name, 'each write draws a new name');
  assert.deepEqual(temporaries.map((x) => x.mode), [0o600, 0o640]);
  assert.deepEqual(await readdir(dir), ['secret']);
  assert.equal(await readFile(file, 'utf8'), 'second');
  assert.equal((await lstat(file)).mode & 0o777, 0o640);
});

test('a symlink planted at <file>.tmp is not followed: the value stays out of its target and the file is a regular file', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'secret');
  const elsewhere = join(dir, 'elsewhere');
  await symlink(elsewhere, `${file}.tmp`);
  await writeFileDurably(file, 'value');
  assert.equal(await exists(elsewhere), false, 'the write went through the planted link');
  assert.ok((await lstat(file)).isFile(), 'the file is the planted symlink');
  assert.equal(await readFile(file, 'utf8'), 'value');
});

test('a name that exists — a symlink, or a file another user holds open — is never opened: the next name is tried', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'secret');
  const [linked, held, fresh] = ['a', 'b', 'c'].map((digit) => digit.repeat(16)) as [string, string, string];
  const target = join(dir, 'target');
  await symlink(target, tempPathOf(file, linked));
  await writeFile(tempPathOf(file, held), '', { mode: 0o666 });
  const theirs = await open(tempPathOf(file, held), 'r');
  t.after(() => theirs.close());
  const tokens = [linked, held, fresh];
  const created = await createTempFile(file, 0o600, () => tokens.shift() ?? assert.fail('a fourth name was drawn'));
  await created.handle.write(Buffer.from('value'));
  await created.handle.close();
  assert.equal(created.path, tempPathOf(file, fresh));
  assert.equal(await exists(target), false, 'written through the planted link');
  assert.equal((await theirs.readFile()).length, 0, 'written into the file held open');
  assert.equal(await readFile(created.path, 'utf8'), 'value');
});

test(`when every name tried exists, no temporary is created and the error names tempFileAttemptsMax (${tempFileAttemptsMax})`, async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'secret');
  const planted = 'd'.repeat(16);
  await symlink(join(dir, 'target'), tempPathOf(file, planted));
  let drawn = 0;
  await assert.rejects(createTempFile(file, 0o600, () => { drawn += 1; return planted; }), (error: NodeJS.ErrnoException) => {
    assert.equal(error.code, 'EEXIST');
    assert.match(error.message, /tempFileAttemptsMax/);
    return true;
  });
  assert.equal(drawn, tempFileAttemptsMax);
  assert.deepEqual((await readdir(dir)).sort(), [`secret.${planted}.tmp`]);
});

test('a write that fails at its rename removes its temporary and leaves what was there', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'taken');
  await mkdir(join(file, 'inside'), { recursive: true });
  await assert.rejects(writeFileDurably(file, 'value'), { code: 'EISDIR' });
  assert.deepEqual(await readdir(dir), ['taken']);
  assert.deepEqual(await readdir(file), ['inside']);
});

test('removeTempsOf removes the temporaries a crash left of that file only, the name earlier versions used included', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'keyring.json');
  const left = ['keyring.json.0123456789abcdef.tmp', 'keyring.json.tmp'];
  const kept = ['keyring.json', 'keyring.json.bak', 'keyring.json.0123.tmp', 'other.json.0123456789abcdef.tmp', 'xkeyring.json.tmp'];
  for (const name of [...left, ...kept]) await writeFile(join(dir, name), '');
  await removeTempsOf(file);
  assert.deepEqual((await readdir(dir)).sort(), [...kept].sort());
});
