// The snapshot stream between a member and `coffer snapshot save`: framing, completeness, bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BackupError, encodeSnapshotStream, SnapshotStreamReader } from '../../../src/storage/backup/index.ts';
import { recordFromWire, recordToWire } from '../../../src/storage/backup/records.ts';
import { collect, copyRecords, iterate, sampleRecords } from './helpers.ts';

/** Re-chunks bytes into pieces of `size`, as a network would. */
async function* rechunk(frames: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  const all = Buffer.concat(await collect(frames));
  for (let i = 0; i < all.length; i += size) yield all.subarray(i, i + size);
}

async function streamBytes(records = sampleRecords(30, 50_000)): Promise<Buffer> {
  return Buffer.concat(await collect(encodeSnapshotStream({ clusterId: 'c1', memberId: 2 }, iterate(copyRecords(records)))));
}

test('a stream read back in arbitrary pieces gives the begin frame and every record', async () => {
  const records = sampleRecords(30, 50_000);
  const reader = new SnapshotStreamReader(rechunk(encodeSnapshotStream({ clusterId: 'c1', memberId: 2 }, iterate(copyRecords(records))), 777));
  assert.deepEqual(await reader.begin(), { clusterId: 'c1', memberId: 2 });
  assert.deepEqual(await collect(reader.records()), records);
});

test('a stream cut before its end frame is refused, wherever it is cut', async () => {
  const bytes = await streamBytes();
  for (const cut of [bytes.length - 1, bytes.length - 6, Math.floor(bytes.length / 2), 40]) {
    const reader = new SnapshotStreamReader(iterate([bytes.subarray(0, cut)]));
    await assert.rejects(async () => {
      await reader.begin();
      await collect(reader.records());
    }, (error: unknown) => error instanceof BackupError && error.code === 'E_BACKUP_STREAM', `cut at ${cut}`);
  }
});

test('a stream that is not a snapshot stream is refused', async () => {
  const reader = new SnapshotStreamReader(iterate([Buffer.from('{"kind":"Status","code":403}')]));
  await assert.rejects(reader.begin(), (error: unknown) => error instanceof BackupError && error.code === 'E_BACKUP_STREAM');
});

test('a lease record carries its owner as a sixth field; one written before leases had owners reads without; a malformed owner is no record', () => {
  const owned = { type: 'lease', lease: { id: 3, ttl: 60, remainingTtlMs: 0, refreshes: 1, owner: 'alice' } } as const;
  assert.deepEqual(recordToWire(owned), [2, 3, 60, 0, 1, 'alice']);
  assert.deepEqual(recordFromWire(recordToWire(owned)), owned);
  assert.deepEqual(recordFromWire([2, 3, 60, 0, 1]), { type: 'lease', lease: { id: 3, ttl: 60, remainingTtlMs: 0, refreshes: 1 } });
  for (const bad of [[2, 3, 60, 0, 1, 7], [2, 3, 60, 0, 1, 'alice', 'x'], [2, 3, 60, 0, 'alice']]) assert.equal(recordFromWire(bad), undefined, JSON.stringify(bad));
});
