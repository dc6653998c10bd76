import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { test } from 'node:test';
import { CompactedError, UnavailableError } from '../../../src/raft/index.ts';
import { entry, payload, range, text, walFixture } from './helpers.ts';

const confState = { voters: [1, 2, 3], learners: [4], votersOutgoing: [], learnersNext: [], autoLeave: false };

test('thousands of entries across many segments read back after a restart', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open({ segmentBytesTarget: 32 * 1024, initialConfState: confState });
  const total = 5000;
  for (let from = 1; from <= total; from += 250) await wal.append(range(from, from + 249, 1 + Math.floor(from / 1000)));
  await wal.setHardState({ term: 5, vote: 2, commit: 4990 });
  await wal.close();
  const segments = (await readdir(fx.walDir)).filter((n) => n.endsWith('.log'));
  assert.ok(segments.length >= 10, `${segments.length} segments`);

  const again = await fx.open({ segmentBytesTarget: 32 * 1024 });
  assert.equal(again.firstIndex(), 1);
  assert.equal(again.lastIndex(), total);
  assert.deepEqual(again.initialState(), { hardState: { term: 5, vote: 2, commit: 4990 }, confState });
  const all = again.entries(1, total + 1, Number.MAX_SAFE_INTEGER);
  assert.equal(all.length, total);
  for (const e of all) {
    const term = 1 + Math.floor((Math.floor((e.index - 1) / 250) * 250 + 1) / 1000);
    assert.equal(e.term, term, `term of ${e.index}`);
    assert.equal(again.term(e.index), term);
    assert.equal(text(e.data), text(payload(e.index, term)));
  }
  await again.close();
});

test('an append that conflicts replaces the tail, also after a restart', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open();
  await wal.append(range(1, 10, 1));
  assert.equal(await wal.append(range(6, 8, 2)), 8);
  assert.equal(wal.lastIndex(), 8);
  await wal.close();
  const again = await fx.open();
  assert.equal(again.lastIndex(), 8);
  assert.deepEqual(again.entries(1, 9, Infinity).map((e) => e.term), [1, 1, 1, 1, 1, 2, 2, 2]);
  assert.equal(text(again.entries(7, 8, Infinity)[0]!.data), text(payload(7, 2)));
  await again.close();
});

test('entries beyond the cache are re-read from disk and opened', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open({ cacheBytesMax: 4096, segmentBytesTarget: 16 * 1024 });
  await wal.append(range(1, 400, 3, 200));
  const got = wal.entries(1, 401, Infinity);
  assert.equal(got.length, 400);
  for (const e of got) assert.equal(text(e.data), text(payload(e.index, 3, 200)));
  await wal.close();
});

test('entries() honours maxBytes but returns at least one entry; raft errors outside the log', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open();
  await wal.append(range(1, 10, 1, 100));
  assert.equal(wal.entries(1, 11, 0).length, 1);
  assert.equal(wal.entries(1, 11, 3 * (100 + 24)).length, 3);
  assert.throws(() => wal.entries(0, 5, Infinity), CompactedError);
  assert.throws(() => wal.entries(5, 12, Infinity), UnavailableError);
  assert.throws(() => wal.term(11), UnavailableError);
  assert.equal(wal.term(0), 0);
  await wal.close();
});

test('hard state and membership survive a restart; a new log starts with the initial membership', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open({ initialConfState: confState });
  assert.deepEqual(wal.initialState().confState, confState);
  await wal.append([entry(1)]);
  await wal.setHardState({ term: 1, vote: 1, commit: 1 });
  const next = { ...confState, voters: [1, 2, 3, 4], learners: [] };
  await wal.setConfState(next);
  await wal.close();
  const again = await fx.open({ initialConfState: confState });
  assert.deepEqual(again.initialState(), { hardState: { term: 1, vote: 1, commit: 1 }, confState: next });
  await again.close();
});

test('appends issued together share fsyncs and each learns its own durable index, in order', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open();
  const before = wal.stats().fsyncs;
  const resolved: number[] = [];
  const appends = [];
  for (let i = 1; i <= 256; i++) appends.push(wal.append([entry(i)]).then((index) => { resolved.push(index); return index; }));
  assert.deepEqual(await Promise.all(appends), range(1, 256).map((e) => e.index));
  assert.deepEqual(resolved, [...resolved].sort((a, b) => a - b));
  const fsyncs = wal.stats().fsyncs - before;
  assert.ok(fsyncs >= 1 && fsyncs <= 4, `${fsyncs} fsyncs for 256 appends`);
  await wal.close();
});

test('appends arriving while an fsync is in flight all join the next one (two fsyncs in all)', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open();
  const before = wal.stats().fsyncs;
  const first = wal.append([entry(1)]);
  // One turn of the event loop: the flush loop has taken the first append and is writing it.
  await new Promise((resolve) => setImmediate(resolve));
  const rest = range(2, 101).map((e) => wal.append([e]));
  assert.deepEqual(await Promise.all([first, ...rest]), range(1, 101).map((e) => e.index));
  assert.equal(wal.stats().fsyncs - before, 2);
  assert.equal(wal.stats().largestBatchRecords, 100);
  await wal.close();
});

test('records sealed before a DEK rotation stay readable after it and after a restart', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open();
  await wal.append(range(1, 10));
  assert.equal(await fx.keyring.rotateDek(), 2);
  await wal.append(range(11, 20));
  await wal.close();
  const again = await fx.open();
  const all = again.entries(1, 21, Infinity);
  assert.deepEqual(all.map((e) => text(e.data)), range(1, 20).map((e) => text(e.data)));
  assert.deepEqual(fx.keyring.status().deks.map((d) => d.pagesSealed > 0), [true, true]);
  await again.close();
});

test('a closed WAL refuses appends', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open();
  await wal.close();
  assert.throws(() => wal.append([entry(1)]), /closed/);
});
