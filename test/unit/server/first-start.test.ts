// A failed first start leaves the data dir as it found it; a dir that holds data is never touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { holdsData, recordFirstStart } from '../../../src/server/first-start.ts';

async function scratch(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'coffer-first-start-'));
}

/** What a first start writes before it fails. */
async function halfMade(dir: string): Promise<void> {
  await mkdir(join(dir, 'wal'), { recursive: true });
  await writeFile(join(dir, 'keyring.json'), '{}');
  await writeFile(join(dir, 'member.sealed'), 'x');
  await writeFile(join(dir, 'wal', '0000.wal'), 'x');
}

test('undo removes a dir the failed start created', async () => {
  const root = await scratch();
  try {
    const dir = join(root, 'data', 'm1');
    const recorded = await recordFirstStart(dir);
    await halfMade(dir);
    assert.equal(await holdsData(dir), true);
    await recorded.undo();
    assert.deepEqual(await readdir(join(root, 'data')), []);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('undo empties a dir that existed empty, and keeps the dir', async () => {
  const dir = await scratch();
  try {
    const recorded = await recordFirstStart(dir);
    await halfMade(dir);
    await recorded.undo();
    assert.deepEqual(await readdir(dir), []);
    assert.equal(await holdsData(dir), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a dir that held data is left as the failed start left it', async () => {
  const dir = await scratch();
  try {
    await writeFile(join(dir, 'keyring.json'), '{}');
    const recorded = await recordFirstStart(dir);
    await mkdir(join(dir, 'mvcc'));
    await recorded.undo();
    assert.deepEqual((await readdir(dir)).sort(), ['keyring.json', 'mvcc']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
