/**
 * Watch: events equal the reference model's history for random start revisions and key spans (replay
 * from disk, then live); resume after a restart; compacted start revisions and compaction during replay
 * give E_COMPACTED with the compact revision; a slow watcher is cancelled without blocking writers;
 * progress notifications, asked for however often, add at most one response to a buffer; the watcher
 * limit and the watchers it keeps for the member's own; a revision too large to replay for a watch
 * cancels it, and replay steps read a few at a time, member-wide.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { ManualClock } from '../../../src/base/index.ts';
import {
  memberWatchersReserved, watchBufferEventsMax, watchersMax, watchProgressIntervalMs, watchReplayRevisionBytesMax, watchReplaysAtOnceMax,
  watchReplayStepBytesMax, watchReplayStepRevisionsMax,
} from '../../../src/config/index.ts';
import { type HistorySource, WatchHub } from '../../../src/storage/mvcc/watch.ts';
import { waitUntil } from '../../support/wait.ts';
import { type MvccStore, type WatchEvent, type Watcher, type WriteOp, isMvccError, prefixEnd } from '../../../src/storage/mvcc/index.ts';
import { prefixEndString, toStoreOp } from './convert.ts';
import { type Fixture, b, fixture, s } from './helpers.ts';
import { type ModelEvent, type ModelOp, ReferenceModel } from './reference-model.ts';

let f: Fixture;
before(async () => {
  f = await fixture();
});
after(async () => {
  await f.cleanup();
});

function toModelEvent(e: WatchEvent): ModelEvent {
  const m: ModelEvent = {
    type: e.type, key: s(e.kv.key), value: s(e.kv.value), modRevision: e.kv.modRevision,
    createRevision: e.kv.createRevision, version: e.kv.version,
  };
  if (e.prevKv !== undefined) m.prevValue = s(e.prevKv.value);
  return m;
}

function withoutPrev(e: ModelEvent): ModelEvent {
  const copy = { ...e };
  delete copy.prevValue;
  return copy;
}

/** Reads responses until the progress notification asked for now; returns the events before it. */
async function drainToProgress(w: Watcher): Promise<{ events: WatchEvent[]; revision: number }> {
  w.requestProgress();
  const events: WatchEvent[] = [];
  for (;;) {
    const r = await w.next();
    assert.ok(r.done !== true, 'watcher ended early');
    if (r.value.progress === true) return { events, revision: r.value.revision };
    assert.ok(r.value.events.length > 0, 'a non-progress response carries events');
    events.push(...r.value.events);
  }
}

async function applyAll(store: MvccStore, model: ReferenceModel, ops: ModelOp[]): Promise<void> {
  for (const op of ops) {
    model.apply(op);
    const [result] = await store.applyBatch(store.appliedIndex() + 1, [toStoreOp(op) as WriteOp]);
    assert.ok(result?.ok === true, 'the operation applies');
  }
}

const keys = ['a', 'ab', 'abc', 'b', 'ba'];
const keyArb = fc.constantFrom(...keys);
const opArb: fc.Arbitrary<ModelOp> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ type: fc.constant('put' as const), key: keyArb, value: fc.constantFrom('1', '22', '333') }) },
  { weight: 1, arbitrary: keyArb.map((key): ModelOp => ({ type: 'deleteRange', key })) },
  { weight: 1, arbitrary: keyArb.map((key): ModelOp => ({ type: 'deleteRange', key, end: prefixEndString(key) })) },
  {
    weight: 1,
    arbitrary: fc.tuple(keyArb, keyArb).filter(([x, y]) => !y.startsWith(x)).map(([x, y]): ModelOp => ({
      type: 'txn', compare: [{ key: x, target: 'version', result: 'greater', value: 0 }],
      success: [{ type: 'put', key: y, value: 'tx' }, { type: 'deleteRange', key: x, end: prefixEndString(x) }],
      failure: [{ type: 'put', key: x, value: 'init' }],
    })),
  },
);
const spanArb = fc.oneof(
  keyArb.map((key) => ({ key, end: undefined as string | undefined })),
  keyArb.map((key) => ({ key, end: prefixEndString(key) })),
  fc.constant({ key: 'a', end: '\u0000' }),
);

test('watch events equal the model history from random start revisions, replayed then live', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { minLength: 1, maxLength: 25 }), fc.array(opArb, { maxLength: 10 }), spanArb,
      fc.integer({ min: 0, max: 1000 }), fc.boolean(),
      async (past, live, span, startPerMille, prevKv) => {
        const store = await f.open(f.newDir());
        try {
          const model = new ReferenceModel();
          await applyAll(store, model, past);
          const startRevision = Math.floor((startPerMille / 1000) * (model.revision + 1)) + 1;
          const w = store.watch({ key: b(span.key), end: span.end === undefined ? undefined : b(span.end), startRevision, prevKv });
          await applyAll(store, model, live);
          const { events, revision } = await drainToProgress(w);
          assert.equal(revision, model.revision);
          const expected = model.events(span, startRevision).map((e) => (prevKv ? e : withoutPrev(e)));
          assert.deepEqual(events.map(toModelEvent), expected);
          w.cancel();
        } finally {
          await store.close();
        }
      },
    ),
    { numRuns: Number(process.env.MVCC_RUNS ?? 40) },
  );
});

test('a watcher resumes after a restart from the revision after the last event it saw', async () => {
  const dir = f.newDir();
  let store = await f.open(dir);
  const model = new ReferenceModel();
  await applyAll(store, model, Array.from({ length: 20 }, (_, i): ModelOp => ({ type: 'put', key: `k${i % 3}`, value: `v${i}` })));
  const w = store.watch({ key: b('k'), end: prefixEnd(b('k')), startRevision: 1 });
  const first = await w.next();
  assert.ok(first.done !== true, 'the watcher delivers');
  // The consumer handles only the first 7 events before the member restarts.
  const seen = first.value.events.slice(0, 7);
  const lastSeen = seen[seen.length - 1]!.kv.modRevision;
  await store.close();
  let ended: unknown;
  try {
    for (;;) if ((await w.next()).done === true) break;
  } catch (error) {
    ended = error;
  }
  assert.ok(isMvccError(ended, 'E_CLOSED'), `closing the store ends the watcher with E_CLOSED, got ${String(ended)}`);
  store = await f.open(dir);
  try {
    await applyAll(store, model, [{ type: 'put', key: 'k1', value: 'after-restart' }, { type: 'deleteRange', key: 'k0' }]);
    const resumed = store.watch({ key: b('k'), end: prefixEnd(b('k')), startRevision: lastSeen + 1 });
    const { events } = await drainToProgress(resumed);
    assert.deepEqual([...seen, ...events].map(toModelEvent), model.events({ key: 'k', end: 'l' }, 1).map(withoutPrev));
  } finally {
    await store.close();
  }
});

test('a start revision at or before the compact revision is refused with E_COMPACTED naming it', async () => {
  const store = await f.open(f.newDir());
  try {
    for (let i = 0; i < 5; i++) await store.put(b('x'), b(`v${i}`));
    await store.compact(3);
    assert.throws(() => store.watch({ key: b('x'), startRevision: 3 }), (e) => isMvccError(e, 'E_COMPACTED') && e.compactRevision === 3);
    const ok = store.watch({ key: b('x'), startRevision: 4 });
    const { events } = await drainToProgress(ok);
    assert.deepEqual(events.map((e) => e.kv.modRevision), [4, 5]);
    ok.cancel();
  } finally {
    await store.close();
  }
});

test('a replay step holds whole revisions up to about watchReplayStepBytesMax, previous values counted, however few revisions it spans', async () => {
  const store = await f.open(f.newDir());
  try {
    const valueBytes = 1024 * 1024;
    const keys = Math.ceil((3 * watchReplayStepBytesMax) / valueBytes);
    // Puts of large values, then deletes: a delete is small, but its previous value is not.
    for (let i = 0; i < keys; i++) await store.put(b(`big/${i}`), new Uint8Array(valueBytes).fill(i));
    await store.applyBatch(store.appliedIndex() + 1, [{ type: 'deleteRange', key: b('big/'), end: prefixEnd(b('big/')) }]);
    const w = store.watch({ key: b('big/'), end: prefixEnd(b('big/')), startRevision: 1, prevKv: true });
    const sizeOf = (e: WatchEvent) => e.kv.key.length + e.kv.value.length + (e.prevKv === undefined ? 0 : e.prevKv.key.length + e.prevKv.value.length);
    const responses: WatchEvent[][] = [];
    while (responses.flat().length < 2 * keys) {
      const r = await w.next();
      assert.ok(r.done !== true, 'the watcher delivers');
      responses.push(r.value.events);
    }
    const seen = responses.flat();
    assert.deepEqual(seen.map((e) => [e.type, e.kv.modRevision]), [
      ...Array.from({ length: keys }, (_, i) => ['put', i + 1]),
      ...Array.from({ length: keys }, () => ['delete', keys + 1]),
    ]);
    const filler = (e: WatchEvent) => Number(s(e.kv.key).slice('big/'.length));
    assert.ok(seen.slice(keys).every((e) => e.prevKv?.value.length === valueBytes && e.prevKv.value[0] === filler(e)), 'every delete carries its previous value');
    // Each step stops at the end of the revision that reached the bound: below it before that revision.
    for (const events of responses) {
      const last = events.at(-1)!.kv.modRevision;
      const before = events.filter((e) => e.kv.modRevision < last).reduce((sum, e) => sum + sizeOf(e), 0);
      assert.ok(before < watchReplayStepBytesMax, `a step went on past ${before} bytes`);
      assert.ok(events.every((e) => e.kv.modRevision <= last) && (events.length === 0 || events[0]!.kv.modRevision <= last));
    }
    assert.ok(responses.length >= 3, `the replay came in ${responses.length} steps`);
    w.cancel();
  } finally {
    await store.close();
  }
});

test('compaction while a watcher replays ends it with E_COMPACTED after the events it could deliver', async () => {
  const store = await f.open(f.newDir());
  try {
    const total = 2 * watchBufferEventsMax;
    const ops: WriteOp[] = Array.from({ length: total }, (_, i) => ({ type: 'put', key: b('hot'), value: b(`${i}`) }));
    await store.applyBatch(1, ops);
    const w = store.watch({ key: b('hot'), startRevision: 1 });
    // The pump replays until its buffer is half full, then waits for the reader.
    const first = await w.next();
    assert.ok(first.done !== true, 'the watcher delivers');
    assert.equal(first.value.events.length, watchReplayStepRevisionsMax);
    await store.compact(total - 10);
    const revisions = first.value.events.map((e) => e.kv.modRevision);
    let failure: unknown;
    try {
      for (;;) {
        const r = await w.next();
        if (r.done === true) break;
        revisions.push(...r.value.events.map((e) => e.kv.modRevision));
      }
    } catch (error) {
      failure = error;
    }
    const delivered = revisions.length;
    assert.ok(isMvccError(failure, 'E_COMPACTED') && failure.compactRevision === total - 10, String(failure));
    // Whole replay steps were delivered, in order, nothing skipped or repeated, before the error.
    assert.ok(delivered >= watchReplayStepRevisionsMax && delivered < total - 10, `delivered ${delivered}`);
    assert.deepEqual(revisions, Array.from({ length: delivered }, (_, i) => i + 1));
  } finally {
    await store.close();
  }
});

test('a watcher that does not read is cancelled as slow, and writers never wait for it', async () => {
  const store = await f.open(f.newDir());
  try {
    const slow = store.watch({ key: b('p/'), end: prefixEnd(b('p/')) });
    const keen = store.watch({ key: b('p/'), end: prefixEnd(b('p/')) });
    const writes = watchBufferEventsMax + 10;
    let keenSeen = 0;
    for (let i = 0; i < writes; i++) {
      await store.put(b(`p/${i % 7}`), b('v'));
      const r = await keen.next(); // the keen watcher keeps up
      assert.ok(r.done !== true, 'the watcher delivers');
      keenSeen += r.value.events.length;
    }
    assert.equal(store.currentRevision(), writes);
    assert.equal(keenSeen, writes);
    let buffered = 0;
    let failure: unknown;
    try {
      for (;;) {
        const r = await slow.next();
        if (r.done === true) break;
        buffered += r.value.events.length;
      }
    } catch (error) {
      failure = error;
    }
    assert.ok(isMvccError(failure, 'E_WATCH_SLOW'), String(failure));
    assert.match((failure as Error).message, /watchBufferEventsMax/);
    assert.equal(buffered, watchBufferEventsMax, 'everything buffered before the cancel is delivered');
    keen.cancel();
  } finally {
    await store.close();
  }
});

test('idle watchers that asked for progress hear the current revision each interval', async () => {
  const clock = new ManualClock();
  const store = await f.open(f.newDir(), { clock });
  try {
    await store.put(b('k'), b('1'));
    const asked = store.watch({ key: b('k'), progressNotify: true });
    const quiet = store.watch({ key: b('k') });
    clock.advance(watchProgressIntervalMs);
    const r = await asked.next();
    assert.ok(r.done !== true, 'the watcher delivers');
    assert.deepEqual({ ...r.value, watchId: 0 }, { watchId: 0, events: [], revision: 1, progress: true });
    // After an event in the interval there is no progress notification at the next tick.
    await store.put(b('k'), b('2'));
    clock.advance(watchProgressIntervalMs);
    const e = await asked.next();
    assert.ok(e.done !== true && e.value.progress !== true && e.value.events.length === 1, 'the event of the busy interval');
    await store.put(b('k'), b('3'));
    const e3 = await asked.next();
    assert.ok(e3.done !== true && e3.value.progress !== true && e3.value.revision === 3, 'no progress response after a busy interval');
    // A watcher that did not ask hears progress only on request, after the events before it.
    quiet.requestProgress();
    const q1 = await quiet.next();
    assert.ok(q1.done !== true && q1.value.progress !== true && q1.value.events.length === 1, 'the first event comes first');
    const q2 = await quiet.next();
    assert.ok(q2.done !== true && q2.value.progress !== true && q2.value.events.length === 1, 'then the second');
    const q3 = await quiet.next();
    assert.ok(q3.done !== true && q3.value.progress === true && q3.value.revision === 3, 'then the progress response');
    quiet.cancel();
    asked.cancel();
    assert.equal(clock.pendingTimers(), 0, 'no timer once no watcher wants progress');
  } finally {
    await store.close();
  }
});

test('watchers for clients stop memberWatchersReserved short of watchersMax; the member\'s own may take those, and none beyond', async () => {
  const store = await f.open(f.newDir());
  try {
    const clients = Array.from({ length: watchersMax - memberWatchersReserved }, () => store.watch({ key: b('w') }));
    assert.throws(() => store.watch({ key: b('w') }), (e) => isMvccError(e, 'E_WATCHERS_FULL') && /memberWatchersReserved/.test(e.message));
    const own = Array.from({ length: memberWatchersReserved }, () => store.watch({ key: b('w'), forMember: true }));
    assert.throws(() => store.watch({ key: b('w'), forMember: true }), (e) => isMvccError(e, 'E_WATCHERS_FULL') && /watchersMax \(/.test(e.message));
    own[0]!.cancel();
    assert.throws(() => store.watch({ key: b('w') }), (e) => isMvccError(e, 'E_WATCHERS_FULL'), 'a place the member gave back is not a client\'s');
    clients[0]!.cancel();
    own[0] = store.watch({ key: b('w'), forMember: true });
    for (const w of [...clients, ...own]) w.cancel();
    store.watch({ key: b('w') }).cancel();
  } finally {
    await store.close();
  }
});

test('progress asked for while a notification still waits moves that one to the current revision: asking adds at most one response', async () => {
  const store = await f.open(f.newDir());
  try {
    const w = store.watch({ key: b('p') });
    for (let i = 0; i < 10_000; i++) w.requestProgress();
    await store.put(b('elsewhere'), b('1'));
    w.requestProgress();
    const progress = await w.next();
    assert.deepEqual(progress.done !== true && { ...progress.value, watchId: 0 }, { watchId: 0, events: [], revision: 1, progress: true });
    await store.put(b('p'), b('2'));
    const next = await w.next();
    assert.ok(next.done !== true && next.value.progress !== true && next.value.events.length === 1, 'the event comes next: no other progress response waited');
    w.cancel();
  } finally {
    await store.close();
  }
});

test('a prevKv watcher added while a batch is being written still gets the previous values', async () => {
  const store = await f.open(f.newDir());
  try {
    await store.applyBatch(1, Array.from({ length: 200 }, (_, i): WriteOp => ({ type: 'put', key: b(`q/${i}`), value: b('old') })));
    const batch = store.applyBatch(2, Array.from({ length: 200 }, (_, i): WriteOp => ({ type: 'put', key: b(`q/${i}`), value: b('new') })));
    // Let the batch start (it reads, seals and writes over several turns of the event loop).
    await new Promise((resolve) => setImmediate(resolve));
    const w = store.watch({ key: b('q/'), end: prefixEnd(b('q/')), prevKv: true });
    await batch;
    const { events } = await drainToProgress(w);
    for (const e of events) assert.equal(e.prevKv === undefined ? undefined : s(e.prevKv.value), 'old');
    assert.ok(events.length === 0 || events.length === 200, `all or none of the batch (${events.length})`);
    await store.put(b('q/0'), b('newer'));
    const { events: later } = await drainToProgress(w);
    assert.deepEqual(later.map((e) => s(e.prevKv!.value)), ['new']);
    w.cancel();
  } finally {
    await store.close();
  }
});

test('a revision holding more than watchReplayRevisionBytesMax for a watch cancels a watcher replaying it with E_LIMIT naming it; without previous values, or from the next revision, a watcher is served', async () => {
  const store = await f.open(f.newDir());
  try {
    const valueBytes = 1024 * 1024;
    const keys = Math.ceil(watchReplayRevisionBytesMax / valueBytes) + 2;
    for (let i = 0; i < keys; i++) await store.put(b(`huge/${i}`), new Uint8Array(valueBytes).fill(i + 1));
    // One revision deletes them all: small itself, but its previous values are more than the limit.
    await store.applyBatch(store.appliedIndex() + 1, [{ type: 'deleteRange', key: b('huge/'), end: prefixEnd(b('huge/')) }]);
    const deletedAt = keys + 1;
    await store.put(b('huge/after'), b('v'));
    const span = { key: b('huge/'), end: prefixEnd(b('huge/')) };
    const withPrev = store.watch({ ...span, startRevision: deletedAt, prevKv: true });
    await assert.rejects(withPrev.next(), (error: unknown) => isMvccError(error, 'E_LIMIT') && error.message.includes(`revision ${deletedAt} holds more than watchReplayRevisionBytesMax`));
    const withoutPrev = store.watch({ ...span, startRevision: deletedAt });
    const { events } = await drainToProgress(withoutPrev);
    assert.deepEqual(events.map((e) => [e.type, e.kv.modRevision]), [...Array.from({ length: keys }, () => ['delete', deletedAt]), ['put', deletedAt + 1]]);
    withoutPrev.cancel();
    const later = store.watch({ ...span, startRevision: deletedAt + 1, prevKv: true });
    assert.deepEqual((await drainToProgress(later)).events.map((e) => s(e.kv.key)), ['huge/after']);
    later.cancel();
  } finally {
    await store.close();
  }
});

test("at most watchReplaysAtOnceMax replay steps of clients' watchers read at once, member-wide; the others wait their turn and every watcher is served; the member's own does not wait", async () => {
  // The hub over a history whose steps the test ends one at a time.
  const current = 10;
  let reading = 0;
  let readingMost = 0;
  const ends: (() => void)[] = [];
  const source: HistorySource = {
    currentRevision: () => current,
    compactRevision: () => 0,
    history: async (_span, fromMain, toMain) => {
      reading++;
      readingMost = Math.max(readingMost, reading);
      await new Promise<void>((resolve) => ends.push(resolve));
      reading--;
      const kv = { key: b('k'), value: b('v'), createRevision: fromMain, modRevision: fromMain, version: 1, lease: 0 };
      return { events: [{ type: 'put', kv }], through: toMain };
    },
  };
  const hub = new WatchHub(source, new ManualClock(0));
  const watchers = 3 * watchReplaysAtOnceMax;
  const all = Array.from({ length: watchers }, () => hub.watch({ key: b('k'), startRevision: 1 }));
  const firsts = all.map(async (w) => w.next());
  await waitUntil(() => ends.length === watchReplaysAtOnceMax, 5_000, 'the first replay steps reading');
  assert.equal(readingMost, watchReplaysAtOnceMax);
  // The member's own watcher (its RBAC policy's) reads at once, whatever clients replay.
  const own = hub.watch({ key: b('k'), startRevision: 1, forMember: true });
  const ownFirst = own.next();
  await waitUntil(() => ends.length === watchReplaysAtOnceMax + 1, 5_000, "the member's own replay step reading");
  ends.pop()!();
  const ownEvents = await ownFirst;
  assert.equal(ownEvents.done === true ? undefined : ownEvents.value.events[0]!.kv.modRevision, 1);
  own.cancel();
  readingMost = 0;
  let served = 0;
  while (served < watchers) {
    await waitUntil(() => ends.length > 0, 5_000, 'a replay step reading');
    assert.ok(reading <= watchReplaysAtOnceMax, `${reading} steps read at once`);
    ends.shift()!();
    served++;
  }
  for (const first of await Promise.all(firsts)) assert.equal(first.done === true ? undefined : first.value.events[0]!.kv.modRevision, 1);
  assert.ok(readingMost <= watchReplaysAtOnceMax, `${readingMost} steps read at once`);
  for (const w of all) w.cancel();
});
