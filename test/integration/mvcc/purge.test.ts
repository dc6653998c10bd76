/**
 * MvccStore.purge on real LevelDB (src/storage/mvcc/purge.ts): once it returns, no file of the store's
 * directory holds a record the store deleted or overwrote before it — found by nonce
 * (test/support/nonce-scan.ts) — though a snapshot was open while LevelDB compacted them, which makes
 * LevelDB's own CompactRange keep them in its deepest tables; and a purge waits for the reads open
 * when it starts, reporting itself undone if one outlasts its wait.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MvccStore, type WriteOp } from '../../../src/storage/mvcc/index.ts';
import { filesHoldingRecords, type NonceHalves, recordingSealer } from '../../support/nonce-scan.ts';
import { b, fixture, s } from '../../unit/mvcc/helpers.ts';

const keys = 3000;
const batchOps = 500;
/** Long enough a wait for the reads of these tests, which all end at once. */
const readersWaitMs = 5_000;

/**
 * A store on real LevelDB holding `keys` keys written twice, the records of the first round kept in
 * `halves`, then compacted at the second round's revision — which deletes every page of the first — while
 * an export's snapshot (the stream, its header read) still reads them.
 */
async function compactedUnderOpenSnapshot(t: { after(fn: () => Promise<void>): void }) {
  const fx = await fixture('coffer-purge-');
  t.after(() => fx.cleanup());
  const halves: NonceHalves = new Set();
  let recording = true;
  const dir = fx.newDir();
  const store = await MvccStore.open({ dir, sealer: recordingSealer(fx.keyring, halves, () => recording), storeId: 'test/purge' });
  let applied = 0;
  for (const round of [0, 1]) {
    for (let from = 0; from < keys; from += batchOps) {
      await store.applyBatch(++applied, Array.from({ length: batchOps }, (_, i): WriteOp => (
        { type: 'put', key: b(`/k/${from + i}`), value: b(`value ${from + i} of round ${round}`.padEnd(200, '.')), prevKv: false })));
    }
    recording = false;
  }
  const compactAt = store.currentRevision();
  const stream = store.exportSnapshot();
  const head = await stream.next();
  assert.ok(head.done !== true && head.value.type === 'header', 'the stream took its snapshot');
  await store.compact(compactAt);
  await store.whenCompacted();
  return { dir, store, halves, stream, compactAt };
}

test('pages deleted while a snapshot was open stay in LevelDB\'s deepest tables through CompactRange; a purge removes them', { timeout: 60_000 }, async (t) => {
  const { dir, store, halves, stream, compactAt } = await compactedUnderOpenSnapshot(t);
  // LevelDB compacts while the export's snapshot reads the deleted pages.
  await store.defragment();
  for await (const record of stream) if (record.type === 'page') record.page.value.fill(0);
  await store.defragment();
  assert.ok((await filesHoldingRecords(dir, halves)).length > 0, 'CompactRange with no snapshot open left the deleted pages in place (control)');

  assert.deepEqual(await store.purge(readersWaitMs), { purged: true });
  assert.deepEqual(await filesHoldingRecords(dir, halves), [], 'files holding a record deleted before the purge');
  // The touches changed nothing the store reads.
  const all = await store.range(b('/k/'), b('/k0'));
  assert.equal(all.kvs.length, keys);
  assert.ok(all.kvs.every((kv) => s(kv.value).includes('of round 1')));
  assert.equal(store.compactRevision(), compactAt);
  await store.close();
});

test('a purge waits for the reads open when it starts; one open longer than its wait leaves it undone', { timeout: 60_000 }, async (t) => {
  const { dir, store, halves, stream } = await compactedUnderOpenSnapshot(t);
  const undone = await store.purge(50);
  assert.equal(undone.purged, false);
  assert.match(undone.purged ? '' : undone.why, /a read of the store .* stayed open over 50 ms/);
  // Ended while a purge waits for it: the purge goes on.
  const purging = store.purge(readersWaitMs);
  for await (const record of stream) if (record.type === 'page') record.page.value.fill(0);
  assert.deepEqual(await purging, { purged: true });
  assert.deepEqual(await filesHoldingRecords(dir, halves), [], 'files holding a record deleted before the purge');
  await store.close();
});
