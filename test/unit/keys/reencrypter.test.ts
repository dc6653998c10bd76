/**
 * The background re-encrypter over a real store and keyring, with a manual clock: it keeps to its rate
 * limit (it waits batch/rate seconds of clock time between batches), re-seals pages keeping their
 * content, races a compaction without resurrecting superseded pages, and restarts its pass when the
 * DEK rotates again mid-pass; lease records move with the pages.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../../src/base/index.ts';
import { Reencrypter } from '../../../src/storage/barrier/index.ts';
import type { MvccStore } from '../../../src/storage/mvcc/index.ts';
import { b, fixture, s } from '../mvcc/helpers.ts';

/** A manual clock that also says when a timer is set: the re-encrypter's pause is then observable without sleeping. */
class ObservedClock extends ManualClock {
  private waiting: ((delayMs: number) => void)[] = [];

  override setTimer(delayMs: number, callback: () => void) {
    const handle = super.setTimer(delayMs, callback);
    this.waiting.shift()?.(delayMs);
    return handle;
  }

  nextTimer(): Promise<number> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

async function fill(store: MvccStore, keys: number): Promise<void> {
  for (let i = 0; i < keys; i++) await store.put(b(`/k/${String(i).padStart(3, '0')}`), b(`value-${i}`));
}

test('the re-encrypter keeps to pagesPerSecondMax: 100 pages at 100/s in batches of 10 wait 100 ms of clock time after each batch', async () => {
  const fx = await fixture();
  try {
    const store = await fx.open(fx.newDir());
    await fill(store, 100);
    await fx.keyring.rotateDek();
    const clock = new ObservedClock(0);
    const reencrypter = new Reencrypter({ store: () => store, clock, pagesPerSecondMax: 100, batchPagesMax: 10, scanPagesMax: 10 });
    const waits: number[] = [];
    let timer = clock.nextTimer();
    reencrypter.start();
    // Ten batches of ten, each followed by its 100 ms; the eleventh step finds nothing left and ends the pass.
    for (let batch = 1; batch <= 10; batch++) {
      waits.push(await timer);
      assert.equal(reencrypter.progress().pagesResealed, 10 * batch, `after batch ${batch}`);
      assert.ok(reencrypter.progress().running);
      timer = clock.nextTimer();
      clock.advance(100);
    }
    await reencrypter.whenIdle();
    assert.deepEqual(waits, Array(10).fill(100));
    const progress = reencrypter.progress();
    assert.equal(progress.pagesResealed, 100);
    assert.equal(progress.error, undefined);
    assert.equal(progress.targetDekId, 2);
    assert.ok(clock.nowMs() >= 900, 'no faster than 100 pages per second of clock time');
    assert.deepEqual([...(await store.pagesPerDek())], [[2, 101]]);
    for (let i = 0; i < 100; i++) assert.equal(s((await store.range(b(`/k/${String(i).padStart(3, '0')}`))).kvs[0]!.value), `value-${i}`);
    await store.close();
  } finally {
    await fx.cleanup();
  }
});

test('re-encryption racing a compaction leaves exactly the live pages, all on the new DEK (nothing superseded is resurrected)', async () => {
  const fx = await fixture();
  try {
    const dir = fx.newDir();
    const store = await fx.open(dir);
    await fill(store, 20);
    await fill(store, 20); // second round: the first round's 20 pages are superseded
    const { revision } = await store.put(b('/other'), b('x'));
    await fx.keyring.rotateDek();
    // The pass starts right behind the compaction, while its physical deletions are under way.
    const compacted = store.compact(revision);
    const reencrypter = new Reencrypter({ store: () => store, clock: new ManualClock(0), pagesPerSecondMax: 1e9, batchPagesMax: 5, scanPagesMax: 5 });
    await compacted;
    reencrypter.start();
    await reencrypter.whenIdle();
    await store.whenCompacted();
    assert.deepEqual([...(await store.pagesPerDek())], [[2, 22]], '20 live pages, /other and the meta record, all on DEK 2');
    await store.close();
    const reopened = await fx.open(dir);
    assert.equal(reopened.indexedKeys(), 21);
    await reopened.close();
  } finally {
    await fx.cleanup();
  }
});

test('a second rotation during a pass restarts it: every page and lease record ends on the newest DEK', async () => {
  const fx = await fixture();
  try {
    const dir = fx.newDir();
    let store = await fx.open(dir);
    await fill(store, 50);
    await store.applyBatch(0, [{ type: 'leaseGrant', id: 9, ttl: 60 }, { type: 'put', key: b('/leased'), value: b('v'), lease: 9 }]);
    await fx.keyring.rotateDek();
    const clock = new ObservedClock(0);
    const reencrypter = new Reencrypter({ store: () => store, clock, pagesPerSecondMax: 10, batchPagesMax: 10, scanPagesMax: 10 });
    const timer = clock.nextTimer();
    reencrypter.start();
    await timer; // one batch done, on DEK 2
    await fx.keyring.rotateDek();
    reencrypter.start();
    for (;;) {
      const next = clock.nextTimer();
      const idle = reencrypter.whenIdle().then(() => 'idle' as const);
      clock.advance(1000);
      if ((await Promise.race([next, idle])) === 'idle') break;
    }
    assert.equal(reencrypter.progress().targetDekId, 3);
    assert.deepEqual([...(await store.pagesPerDek())], [[3, 53]], '51 pages, the lease record and the meta record');
    await store.close();
    store = await fx.open(dir);
    assert.deepEqual(store.lease(9)?.keys.map(s), ['/leased'], 'the re-sealed lease record opens');
    await store.close();
  } finally {
    await fx.cleanup();
  }
});
