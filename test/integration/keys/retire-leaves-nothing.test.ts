/**
 * A retired DEK opens nothing left in the data dir: when `retireUnused` removes DEK 1 from the keyring,
 * no file under the data dir — LevelDB's journal and tables included, not only the records the store
 * still holds — contains a record sealed with it. Otherwise whoever later gets DEK 1 (a memory dump,
 * an old keyring and the KEK: the usual reason to rotate) and reads the disk decrypts current values:
 * re-encryption writes each page's new version over the old one, and LevelDB keeps the old version in
 * its files until a compaction drops it.
 *
 * Every record sealed with DEK 1 — by the store, the WAL and the small sealed files — is recognised by
 * its nonce (test/support/nonce-scan.ts), and every file is searched for them.
 *
 * Real classic-level, real keyring (key-file KEK), real WAL, member-keys wired as a member wires them.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { auditKeySealedFile, auditKeyStoreId, loadOrCreateAuditKeyFile } from '../../../src/audit/index.ts';
import { realClock } from '../../../src/base/index.ts';
import { identitySealedFile, writeIdentity } from '../../../src/server/member-identity.ts';
import { MemberKeys, type MemberKeysOptions } from '../../../src/storage/barrier/index.ts';
import { MvccStore, type WriteOp } from '../../../src/storage/mvcc/index.ts';
import { Wal } from '../../../src/storage/wal/index.ts';
import { keyFileKeyring, tempDir } from '../../unit/crypto/helpers.ts';
import { filesHoldingRecords, type NonceHalves, recordingSealer } from '../../support/nonce-scan.ts';
import { waitUntil } from '../../support/wait.ts';

const log: MemberKeysOptions['log'] = { info: () => undefined, warn: () => undefined };
const confState = { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
const encoder = new TextEncoder();
/** How long the snapshot stream stays open after the pass ended: the retirement check runs meanwhile. */
const streamHeldMs = 300;

/** A member's data dir with every kind of sealed record on DEK 1, on disk as a member leaves it. */
async function member(t: { after(fn: () => Promise<void>): void }, options: { readersWaitMs?: number; log?: MemberKeysOptions['log'] } = {}) {
  const dir = await tempDir(t, 'coffer-retire-nothing-');
  const { keyring } = await keyFileKeyring(dir);
  const dataDir = path.join(dir, 'data');
  const halves: NonceHalves = new Set();
  const sealer = recordingSealer(keyring, halves, (sealed) => keyring.dekIdOf(sealed) === 1);
  const wal = await Wal.open({ dir: path.join(dataDir, 'wal'), sealer, storeId: 'm1/wal', segmentBytesTarget: 4096, initialConfState: confState });
  const storeOptions = { dir: path.join(dataDir, 'mvcc'), sealer, storeId: 'm1/mvcc' };
  let store = await MvccStore.open(storeOptions);
  await loadOrCreateAuditKeyFile(dataDir, sealer, auditKeyStoreId('m1'));
  const identity = { clusterId: 'c1', memberId: 1, name: 'm1' };
  await writeIdentity(dataDir, identity, sealer);

  // Three rounds over the same keys, a compaction between (history deleted before the rotation), and a
  // leased key: pages, deletions, lease records and meta records, all on DEK 1.
  let applied = 0;
  const round = (n: number) => store.applyBatch(++applied, Array.from({ length: 200 }, (_, i): WriteOp => (
    { type: 'put', key: encoder.encode(`/registry/secrets/k${i}`), value: encoder.encode(`value ${i} of round ${n}`.padEnd(300, '.')), prevKv: false })));
  await round(0);
  await round(1);
  await store.compact(store.currentRevision());
  await store.whenCompacted();
  await store.applyBatch(++applied, [{ type: 'leaseGrant', id: 7, ttl: 600 }]);
  await store.applyBatch(++applied, [{ type: 'put', key: encoder.encode('/leased'), value: encoder.encode('leased value'), prevKv: false, lease: 7 }]);
  // A clean close writes an index checkpoint; the reopen turns LevelDB's journal into a table.
  await store.close();
  store = await MvccStore.open(storeOptions);
  await round(2);
  for (let index = 1; index <= 30; index++) await wal.append([{ index, term: 1, type: 'normal', data: encoder.encode(`entry ${index}`.padEnd(200, '.')) }]);
  await wal.setHardState({ term: 1, vote: 1, commit: 30 });
  await wal.saveSnapshot({ metadata: { index: 10, term: 1, confState }, data: encoder.encode('snapshot data'.padEnd(500, '.')) });

  const keys = new MemberKeys({
    member: 'm1', dataDir, keyring, store: () => store, clock: realClock, log: options.log ?? log,
    ...(options.readersWaitMs !== undefined ? { readersWaitMs: options.readersWaitMs } : {}),
    sealedFiles: [identitySealedFile(dataDir, identity, keyring), auditKeySealedFile(dataDir, keyring, 'm1')],
    resealWal: () => wal.resealToActiveDek(),
  });
  const close = async () => {
    await keys.close();
    await wal.close();
    await store.close();
    await keyring.close();
  };
  return { dataDir, keyring, halves, keys, store: () => store, close };
}

test('once DEK 1 is retired, no file of the data dir holds a record sealed with it', { timeout: 60_000 }, async (t) => {
  const m = await member(t);
  assert.ok((await filesHoldingRecords(m.dataDir, m.halves)).some((f) => f.startsWith('mvcc/')), 'the scan finds DEK 1 records in LevelDB files (control)');
  await m.keys.rotateDek();
  await m.keys.whenReencrypted();
  assert.deepEqual(m.keyring.status().deks.map((d) => d.id), [2], 'DEK 1 retired');
  await m.close();
  assert.deepEqual(await filesHoldingRecords(m.dataDir, m.halves), [], 'files holding records sealed with the retired DEK');
});

test('a snapshot stream open across the rotation holds old records: the retirement waits for it to end, then leaves nothing', { timeout: 60_000 }, async (t) => {
  const m = await member(t);
  // The stream's LevelDB snapshot, taken at its first record, sees every page as it was on DEK 1.
  const stream = m.store().exportSnapshot();
  const head = await stream.next();
  assert.ok(head.done !== true && head.value.type === 'header', 'the stream took its snapshot');
  await m.keys.rotateDek();
  const done = m.keys.whenReencrypted();
  await waitUntil(async () => (await m.keys.status()).reencryption.pagesOnOlderDeks === 0 && !(await m.keys.status()).reencryption.running,
    10_000, 'the re-encryption pass ended');
  await new Promise((resolve) => setTimeout(resolve, streamHeldMs));
  assert.deepEqual(m.keyring.status().deks.map((d) => d.id), [1, 2], 'DEK 1 kept while the stream is open');
  for await (const record of stream) if (record.type === 'page') record.page.value.fill(0);
  await done;
  assert.deepEqual(m.keyring.status().deks.map((d) => d.id), [2], 'DEK 1 retired once the stream ended');
  await m.close();
  assert.deepEqual(await filesHoldingRecords(m.dataDir, m.halves), [], 'files holding records sealed with the retired DEK');
});

test('a read open longer than the retirement check waits for it: DEK 1 stays, and goes at a check after the read ended', { timeout: 60_000 }, async (t) => {
  const waits: string[] = [];
  const m = await member(t, {
    readersWaitMs: 50,
    log: { info: (fields, message) => waits.push(`${message} (${(fields as { reason?: string }).reason})`), warn: () => undefined },
  });
  const stream = m.store().exportSnapshot();
  const head = await stream.next();
  assert.ok(head.done !== true && head.value.type === 'header', 'the stream took its snapshot');
  await m.keys.rotateDek();
  await m.keys.whenReencrypted();
  assert.deepEqual(m.keyring.status().deks.map((d) => d.id), [1, 2], 'DEK 1 kept while the stream is open');
  assert.ok(waits.some((line) => /^DEK retirement waits: .*stayed open over 50 ms/.test(line)), waits.join('; '));
  for await (const record of stream) if (record.type === 'page') record.page.value.fill(0);
  assert.deepEqual(await m.keys.retireUnused(), [1]);
  await m.close();
  assert.deepEqual(await filesHoldingRecords(m.dataDir, m.halves), [], 'files holding records sealed with the retired DEK');
});
