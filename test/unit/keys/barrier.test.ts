/**
 * The barrier over a real keyring: an area's handle seals and opens its own page kinds under the active
 * DEK and refuses any other kind (so one area's owner cannot seal into another's records); one handle per
 * area; the declared data-dir paths classify as sealed, public or neither.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { AssertionFailure } from '../../../src/base/index.ts';
import { createKeyFile, keyFileKek, RecordKind } from '../../../src/crypto/index.ts';
import { Barrier, classifyPath, sealedAreas } from '../../../src/storage/barrier/index.ts';

/** A barrier over a fresh keyring in a temp dir, closed (its keyring file written) before the dir goes. */
async function barrierIn(t: { after(fn: () => Promise<void>): void }): Promise<Barrier> {
  const dir = await mkdtemp(path.join(tmpdir(), 'coffer-barrier-'));
  const keyFile = path.join(dir, 'unseal.key');
  await createKeyFile(keyFile);
  await mkdir(path.join(dir, 'data'));
  const barrier = await Barrier.unseal(path.join(dir, 'data'), await keyFileKek(keyFile));
  t.after(async () => {
    await barrier.close();
    await rm(dir, { recursive: true, force: true });
  });
  return barrier;
}

test('a handle seals its area\'s kinds under the active DEK and refuses every other kind', async (t) => {
  const barrier = await barrierIn(t);
  const identity = barrier.handle(sealedAreas.identity);
  const position = { storeId: 'm1', kind: RecordKind.memberIdentity, index: 0, sub: 0 };
  const sealed = identity.seal(new TextEncoder().encode('who I am'), position);
  assert.equal(identity.dekIdOf(sealed), barrier.status().activeDekId);
  assert.equal(new TextDecoder().decode(identity.open(sealed, position)), 'who I am');

  const walEntry = { storeId: 'm1/wal', kind: RecordKind.walEntry, index: 1, sub: 0 };
  assert.throws(() => identity.seal(new Uint8Array(1), walEntry), AssertionFailure);
  const replica = barrier.handle(sealedAreas.replica);
  const entry = replica.seal(new Uint8Array([1, 2, 3]), walEntry);
  assert.throws(() => identity.open(entry, walEntry), AssertionFailure, 'the identity handle opens no WAL record');
  assert.deepEqual([...replica.open(entry, walEntry)], [1, 2, 3]);
  assert.throws(() => replica.seal(new Uint8Array(1), { ...position, storeId: 'm1/mvcc' }), AssertionFailure);
});

test('one handle per area, and one declaration of each', async (t) => {
  const barrier = await barrierIn(t);
  assert.equal(barrier.handle(sealedAreas.replica), barrier.handle(sealedAreas.replica));
  assert.throws(() => barrier.handle({ ...sealedAreas.replica }), AssertionFailure, 'a second declaration under the same name');
});

test('the data dir\'s paths classify as a sealed area, public, or neither', () => {
  assert.equal(classifyPath('keyring.json'), sealedAreas.keyring);
  assert.equal(classifyPath('wal/wal-0000000000000001-0000000000000001.log'), sealedAreas.replica);
  assert.equal(classifyPath('wal/snap-0000000000000014-0000000000000002.snap'), sealedAreas.replica);
  assert.equal(classifyPath('mvcc/000005.ldb'), sealedAreas.replica);
  assert.equal(classifyPath('member.sealed'), sealedAreas.identity);
  assert.equal(classifyPath('audit-signing.key'), sealedAreas.auditKey);
  assert.equal(classifyPath('audit/audit-3.log'), 'public');
  assert.equal(classifyPath('mvcc/MANIFEST-000004'), 'public');
  assert.equal(classifyPath('mvcc/LOG'), 'public');
  for (const unlisted of ['notes.txt', 'wal/wal-1.log.tmp', 'keyring.json.tmp', 'audit/other.log', 'mvcc/sub/000005.ldb']) {
    assert.equal(classifyPath(unlisted), undefined, unlisted);
  }
});
