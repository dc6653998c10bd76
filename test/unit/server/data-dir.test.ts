// Closing a data dir at start: directories become 0700, files lose their group and other bits and keep
// their owner's, symbolic links below the data dir are not followed, a missing dir is created 0700.
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { closeDataDir } from '../../../src/server/data-dir.ts';

const modeOf = async (path: string) => (await lstat(path)).mode & 0o777;

test('a tree open to group or others is closed; owner bits stay; links are not followed; a closed tree is left as it is', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'coffer-data-dir-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const data = join(root, 'data');
  const outside = join(root, 'outside.txt');
  await mkdir(join(data, 'mvcc', 'deep'), { recursive: true });
  await writeFile(join(data, 'mvcc', 'CURRENT'), 'x');
  await writeFile(join(data, 'mvcc', 'deep', 'read-only'), 'x');
  await writeFile(join(data, 'keyring.json'), 'x');
  await writeFile(outside, 'x');
  await symlink(outside, join(data, 'link'));
  await chmod(data, 0o755);
  await chmod(join(data, 'mvcc'), 0o775);
  await chmod(join(data, 'mvcc', 'deep'), 0o711);
  await chmod(join(data, 'mvcc', 'CURRENT'), 0o664);
  await chmod(join(data, 'mvcc', 'deep', 'read-only'), 0o444);
  await chmod(join(data, 'keyring.json'), 0o600);
  await chmod(outside, 0o644);

  assert.equal(await closeDataDir(data), 5);
  assert.deepEqual(await Promise.all([data, join(data, 'mvcc'), join(data, 'mvcc', 'deep')].map(modeOf)), [0o700, 0o700, 0o700]);
  assert.equal(await modeOf(join(data, 'mvcc', 'CURRENT')), 0o600);
  assert.equal(await modeOf(join(data, 'mvcc', 'deep', 'read-only')), 0o400);
  assert.equal(await modeOf(join(data, 'keyring.json')), 0o600);
  assert.equal(await modeOf(outside), 0o644, 'the link target outside the data dir is not touched');
  assert.equal(await closeDataDir(data), 0, 'nothing left to close');
});

test('a missing data dir is created 0700', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'coffer-data-dir-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const data = join(root, 'new', 'data');
  assert.equal(await closeDataDir(data), 0);
  assert.equal(await modeOf(data), 0o700);
});
