// Deferred records in the group appender: a record nobody waits for starts no fdatasync of its own; it
// rides with the next flush, or is synced once deferredFlushMs passed, or when flush() asks.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { ManualClock } from '../../../src/base/index.ts';
import { GroupAppender } from '../../../src/durable/index.ts';

/** Counts the flushes the appender schedules (each goes through defer). */
class CountingClock extends ManualClock {
  defers = 0;
  override defer(callback: () => void): void {
    this.defers++;
    super.defer(callback);
  }
}

const deferredFlushMs = 50;

async function setUp(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-appender-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const clock = new CountingClock();
  const appender = new GroupAppender({ startSeq: 0, batchRecordsMax: 16, failure: (e) => e, closed: () => new Error('closed'), clock, deferredFlushMs });
  t.after(() => appender.close());
  const file = join(dir, 'records.log');
  const record = (seq: number, text: string) => ({ seq, file, bytes: Buffer.from(`${text}\n`) });
  return { clock, appender, file, record };
}

test('a deferred record starts no flush; the next record\'s flush takes it along, one fdatasync for both', async (t) => {
  const { clock, appender, file, record } = await setUp(t);
  appender.enqueue(record(1, 'completion'), true);
  assert.equal(clock.defers, 0, 'no flush scheduled for the deferred record');
  assert.equal(clock.pendingTimers(), 1, 'its deadline is armed');
  appender.enqueue(record(2, 'received'));
  await appender.waitFor(2);
  assert.equal(appender.stats().fsyncs, 1);
  assert.equal(clock.pendingTimers(), 0, 'the deadline was cancelled by the flush that took the record');
  assert.equal(await readFile(file, 'utf8'), 'completion\nreceived\n');
});

test('a deferred record alone is synced once deferredFlushMs passed', async (t) => {
  const { clock, appender, record } = await setUp(t);
  appender.enqueue(record(1, 'completion'), true);
  clock.advance(deferredFlushMs - 1);
  assert.equal(clock.defers, 0);
  clock.advance(1);
  assert.equal(clock.defers, 1, 'the deadline scheduled a flush');
  await appender.waitFor(1);
  assert.equal(appender.durableSeq, 1);
  assert.equal(appender.stats().fsyncs, 1);
});

test('flush() syncs deferred records at once', async (t) => {
  const { clock, appender, record } = await setUp(t);
  appender.enqueue(record(1, 'a'), true);
  appender.enqueue(record(2, 'b'), true);
  assert.equal(clock.pendingTimers(), 1, 'one deadline for every deferred record queued');
  appender.flush();
  await appender.waitFor(2);
  assert.equal(appender.stats().fsyncs, 1);
  assert.equal(clock.pendingTimers(), 0);
});
