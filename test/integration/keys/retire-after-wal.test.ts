/**
 * Retirement waits for every user of the old DEK, not only the store. With a real WAL, a sealed member
 * identity and a sealed audit signing key in the member's data dir:
 * - wired as a member is (resealWal → Wal.resealToActiveDek), an idle member retires DEK 1 as soon as
 *   the re-encryption pass and the WAL re-seal after it are done, without any log compaction; no
 *   plaintext appears on disk and everything opens with the keyring that no longer holds DEK 1;
 * - without the WAL re-seal, DEK 1 stays while WAL segments sealed with it remain, and is retired once
 *   a snapshot lets the WAL drop them.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { auditKeyFileName, auditKeySealedFile, auditKeyStoreId, loadOrCreateAuditKeyFile, openAuditKeyPair } from '../../../src/audit/index.ts';
import { realClock } from '../../../src/base/index.ts';
import { keyFileKek, openKeyring } from '../../../src/crypto/index.ts';
import { identitySealedFile, writeIdentity } from '../../../src/server/member-identity.ts';
import { MemberKeys } from '../../../src/storage/barrier/index.ts';
import { MvccStore } from '../../../src/storage/mvcc/index.ts';
import { Wal, walDekUsage } from '../../../src/storage/wal/index.ts';
import { keyFileKeyring, tempDir } from '../../unit/crypto/helpers.ts';
import { plaintextFindings } from '../../support/plaintext-scan.ts';

const log = { info: () => undefined, warn: () => undefined };
const confState = { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
const entry = (index: number) => ({ index, term: 1, type: 'normal' as const, data: new TextEncoder().encode(`entry ${index}`.padEnd(200, '.')) });

const markers = ['COFFER-MARKER-WALKEY-h4Rq', 'COFFER-MARKER-WALVALUE-p8Vn', 'COFFER-MARKER-WALSNAP-z2Kc'] as const;
const markedEntry = (index: number) => ({
  index, term: 1, type: 'normal' as const, data: new TextEncoder().encode(`${markers[0]}-${index} ${markers[1]}-${index}`.padEnd(200, '.')),
});

test('on an idle member wired with the WAL re-seal, the old DEK is retired right after the pass, without log compaction', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t, 'coffer-retire-reseal-');
  const { keyring, keyFile } = await keyFileKeyring(dir);
  const dataDir = path.join(dir, 'data');
  const walDir = path.join(dataDir, 'wal');
  const wal = await Wal.open({ dir: walDir, sealer: keyring, storeId: 'm1/wal', segmentBytesTarget: 4096, initialConfState: confState });
  const store = await MvccStore.open({ dir: path.join(dataDir, 'mvcc'), sealer: keyring, storeId: 'm1/mvcc' });
  await loadOrCreateAuditKeyFile(dataDir, keyring, auditKeyStoreId('m1'));
  const identity = { clusterId: 'c1', memberId: 1, name: 'm1' };
  await writeIdentity(dataDir, identity, keyring);
  let reseals = 0;
  const keys = new MemberKeys({
    member: 'm1', dataDir, keyring, store: () => store, clock: realClock, log,
    sealedFiles: [identitySealedFile(dataDir, identity, keyring), auditKeySealedFile(dataDir, keyring, 'm1')],
    resealWal: () => {
      reseals++;
      return wal.resealToActiveDek();
    },
  });
  for (let index = 1; index <= 60; index++) {
    await wal.append([markedEntry(index)]);
    await store.put(new TextEncoder().encode(`/k/${markers[0]}/${index}`), new TextEncoder().encode(`${markers[1]}-${index}`));
  }
  await wal.setHardState({ term: 1, vote: 1, commit: 60 });
  await wal.saveSnapshot({ metadata: { index: 20, term: 1, confState }, data: new TextEncoder().encode(markers[2].repeat(100)) });
  const segments = wal.stats().segments;
  assert.ok(segments >= 3, `${segments} segments on DEK 1`);

  // Idle from here on: no append, no snapshot, no compaction.
  await keys.rotateDek();
  await keys.whenReencrypted();
  assert.equal(reseals, 1, 'the WAL was re-sealed once, after the pass');
  assert.deepEqual(keyring.status().deks.map((d) => d.id), [2], 'DEK 1 retired');
  const status = await keys.status();
  assert.deepEqual(status.retired.map((r) => r.id), [1]);
  assert.deepEqual(status.deks.map((d) => [d.id, d.walRecords > 0, d.files]), [[2, true, 2]]);
  assert.deepEqual([...(await walDekUsage(walDir, (sealed) => keyring.dekIdOf(sealed))).keys()], [2]);
  assert.equal(wal.snapshot().metadata.index, 20, 'no snapshot was taken');
  // The live WAL re-reads its entries from the re-sealed files.
  assert.deepEqual(wal.entries(21, 61, Infinity).map((e) => e.index), Array.from({ length: 40 }, (_, i) => i + 21));

  await keys.close();
  await wal.close();
  await store.close();
  await keyring.close();
  assert.deepEqual(await plaintextFindings(dataDir, markers), [], 'no plaintext in the data dir');
  const reopened = await openKeyring({ dir: dataDir, kek: await keyFileKek(keyFile), createIfMissing: false });
  try {
    const wal2 = await Wal.open({ dir: walDir, sealer: reopened, storeId: 'm1/wal', segmentBytesTarget: 4096 });
    assert.equal(wal2.firstIndex(), 21);
    assert.equal(wal2.lastIndex(), 60);
    assert.deepEqual(wal2.entries(21, 61, Infinity), Array.from({ length: 40 }, (_, i) => markedEntry(i + 21)));
    assert.deepEqual(wal2.initialState().hardState, { term: 1, vote: 1, commit: 60 });
    assert.deepEqual(wal2.snapshot().data, new TextEncoder().encode(markers[2].repeat(100)));
    await wal2.close();
    const store2 = await MvccStore.open({ dir: path.join(dataDir, 'mvcc'), sealer: reopened, storeId: 'm1/mvcc' });
    assert.equal(store2.indexedKeys(), 60);
    await store2.close();
  } finally {
    await reopened.close();
  }
});

test('without the WAL re-seal, an old DEK is retired only once the WAL, the identity and the audit key no longer need it', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t, 'coffer-retire-wal-');
  const { keyring, keyFile } = await keyFileKeyring(dir);
  const dataDir = path.join(dir, 'data');
  const wal = await Wal.open({ dir: path.join(dataDir, 'wal'), sealer: keyring, storeId: 'm1/wal', segmentBytesTarget: 4096, initialConfState: confState });
  const store = await MvccStore.open({ dir: path.join(dataDir, 'mvcc'), sealer: keyring, storeId: 'm1/mvcc' });
  const auditKey = await loadOrCreateAuditKeyFile(dataDir, keyring, auditKeyStoreId('m1'));
  const publicKey = Buffer.from(auditKey.publicKey).toString('base64');
  const identity = { clusterId: 'c1', memberId: 1, name: 'm1' };
  const keys = new MemberKeys({
    member: 'm1', dataDir, keyring, store: () => store, clock: realClock, log,
    sealedFiles: [identitySealedFile(dataDir, identity, keyring), auditKeySealedFile(dataDir, keyring, 'm1')],
  });
  let index = 0;
  for (; index < 60; index++) {
    await wal.append([entry(index + 1)]);
    await store.put(new TextEncoder().encode(`/k/${index}`), new TextEncoder().encode('v'));
  }
  // The identity file as the member writes it.
  await writeIdentity(dataDir, identity, keyring);

  await keys.rotateDek();
  await keys.whenReencrypted();
  assert.deepEqual(await keys.retireUnused(), [], 'the WAL still holds records on DEK 1');
  const waiting = await keys.status();
  const dek1 = waiting.deks.find((d) => d.id === 1)!;
  assert.equal(dek1.pages, 0, 'no MVCC record on DEK 1');
  assert.equal(dek1.files, 0, 'identity and audit key were re-sealed under DEK 2');
  assert.ok(dek1.walRecords > 0);

  // More log, then a snapshot covering it: the WAL drops the segments sealed with DEK 1.
  for (; index < 120; index++) await wal.append([entry(index + 1)]);
  await wal.saveSnapshot({ metadata: { index, term: 1, confState }, data: new Uint8Array(0) });
  assert.deepEqual(await keys.retireUnused(), [1]);
  assert.deepEqual(keyring.status().deks.map((d) => d.id), [2]);

  await keys.close();
  await wal.close();
  await store.close();
  await keyring.close();
  // Everything opens with the keyring that no longer holds DEK 1.
  const reopened = await openKeyring({ dir: dataDir, kek: await keyFileKek(keyFile), createIfMissing: false });
  try {
    const wal2 = await Wal.open({ dir: path.join(dataDir, 'wal'), sealer: reopened, storeId: 'm1/wal', segmentBytesTarget: 4096 });
    assert.equal(wal2.lastIndex(), 120);
    await wal2.close();
    const store2 = await MvccStore.open({ dir: path.join(dataDir, 'mvcc'), sealer: reopened, storeId: 'm1/mvcc' });
    assert.equal(store2.indexedKeys(), 60);
    await store2.close();
    const pair = await openAuditKeyPair(await readFile(path.join(dataDir, auditKeyFileName)), reopened, auditKeyStoreId('m1'));
    assert.equal(Buffer.from(pair.publicKey).toString('base64'), publicKey, 'the same audit key, re-sealed');
  } finally {
    await reopened.close();
  }
});
