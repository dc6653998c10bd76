/**
 * A DEK is retired only once nothing durable needs it. The store writes its batches without an fsync
 * (the WAL is the durable record), so the pages the re-encrypter re-sealed under the new DEK may exist
 * only in the page cache when the old DEK's retirement is written: a power cut then brings back pages
 * sealed with a DEK the keyring no longer has, and the member cannot open its store.
 * Found by the simulator's replica host (seed 6, 3 nodes: "the meta record of store m2/mvcc failed to
 * open" after a power cut during a DEK rotation). Runs on the power-loss disk of test/support.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../../src/base/index.ts';
import { keyContentKek, openKeyring } from '../../../src/crypto/index.ts';
import { MvccStore } from '../../../src/storage/mvcc/index.ts';
import { MemberKeys } from '../../../src/storage/barrier/index.ts';
import { PowerLossDisk, PowerLossLevel, processOn } from '../../support/power-loss/index.ts';

const encoder = new TextEncoder();
const kek = new Uint8Array(32).fill(7);
const log = { info: () => undefined, warn: () => undefined };

async function open(fs: ReturnType<typeof processOn>['fs']) {
  const keyring = await openKeyring({ dir: '/data', kek: keyContentKek(kek, 'test KEK'), fs });
  const store = await MvccStore.open({ dir: '/data/mvcc', sealer: keyring, storeId: 'm1/mvcc', openLevel: (dir) => new PowerLossLevel(fs, dir) });
  return { keyring, store };
}

test('after a DEK rotation retired the old DEK, a power cut leaves a store that opens with the keyring', async () => {
  for (let seed = 1; seed <= 10; seed++) {
    const disk = new PowerLossDisk();
    const first = processOn(disk, seed);
    const { keyring, store } = await open(first.fs);
    for (let i = 1; i <= 40; i++) await store.applyBatch(i, [{ type: 'put', key: encoder.encode(`k${i % 7}`), value: encoder.encode(`v${i}`) }]);
    await store.syncToDisk();
    const keys = new MemberKeys({ member: 'm1', dataDir: '/data', keyring, store: () => store, clock: first.clock, fs: first.fs, log, batchPagesMax: 8, pagesPerSecondMax: 1_000_000 });
    const { dekId } = await keys.rotateDek();
    await keys.whenReencrypted();
    assert.deepEqual(keyring.status().deks.map((d) => d.id), [dekId], 'the old DEK was retired');
    first.kill();
    disk.powerLoss(seededRandom(seed));

    const second = processOn(disk, seed);
    const reopened = await open(second.fs);
    const { kvs } = await reopened.store.range(encoder.encode('k'), encoder.encode('l'));
    assert.equal(kvs.length, 7, `seed ${seed}: every key reads back`);
    await reopened.store.close();
  }
});
