// The simulator's own parts, tested on their own: if these lie, every sweep result is worthless.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../src/base/index.ts';
import type { Message } from '../../src/raft/index.ts';
import { Counters } from './counters.ts';
import { SimDisk } from './disk.ts';
import { EventQueue } from './event-queue.ts';
import { Invariants, Violation } from './invariants.ts';
import { KvStateMachine } from './kv.ts';
import { SimNetwork } from './network.ts';

test('the event queue runs events in time order, ties in insertion order', () => {
  const q = new EventQueue();
  const seen: string[] = [];
  q.at(5, () => seen.push('b'));
  q.at(1, () => seen.push('a'));
  q.at(5, () => seen.push('c'));
  q.at(9, () => q.after(0, () => seen.push('e')));
  q.at(7, () => seen.push('d'));
  q.runUntil(100);
  assert.deepEqual(seen, ['a', 'b', 'c', 'd', 'e']);
  assert.throws(() => q.at(50, () => undefined), RangeError);
});

const hs = (term: number, commit: number) => ({ term, vote: 0, commit });
const entry = (index: number, term: number) => ({ index, term, type: 'normal' as const, data: new Uint8Array([index]) });

test('a crash loses unsynced disk writes beyond a random prefix, never synced ones', () => {
  for (let seed = 1; seed <= 50; seed++) {
    const disk = new SimDisk({ snapshot: undefined, entries: [], hardState: hs(0, 0) });
    disk.write({ kind: 'entries', entries: [entry(1, 1)] });
    disk.write({ kind: 'hardState', hardState: hs(1, 1) });
    disk.sync();
    disk.write({ kind: 'entries', entries: [entry(2, 1)] });
    disk.write({ kind: 'entries', entries: [entry(3, 1)] });
    const lost = disk.crash(seededRandom(seed));
    const d = disk.read();
    assert.deepEqual(d.hardState, hs(1, 1));
    assert.equal(d.entries.length, 3 - lost);
    assert.deepEqual(d.entries.map((e) => e.index), [1, 2, 3].slice(0, 3 - lost));
  }
});

test('disk appends overwrite the conflicting tail; compaction and installed snapshots trim the log', () => {
  const disk = new SimDisk({ snapshot: undefined, entries: [], hardState: hs(0, 0) });
  disk.write({ kind: 'entries', entries: [entry(1, 1), entry(2, 1), entry(3, 1)] });
  disk.write({ kind: 'entries', entries: [entry(2, 2)] });
  disk.sync();
  assert.deepEqual(disk.read().entries.map((e) => `${e.index}/${e.term}`), ['1/1', '2/2']);
  disk.write({ kind: 'compact', index: 1 });
  disk.sync();
  assert.deepEqual(disk.read().entries.map((e) => e.index), [2]);
  const cs = { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
  disk.write({ kind: 'installSnapshot', snapshot: { metadata: { index: 9, term: 3, confState: cs }, data: new Uint8Array() }, hardState: hs(3, 9) });
  disk.sync();
  assert.deepEqual(disk.read().hardState, hs(3, 9));
  assert.deepEqual(disk.read().entries, []);
  assert.equal(disk.read().snapshot?.metadata.index, 9);
  assert.deepEqual(disk.read().snapshot?.metadata.confState, cs);
});

function message(from: number, to: number): Message {
  return { type: 'heartbeat', from, to, term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 };
}

function net(params: Partial<ConstructorParameters<typeof SimNetwork>[2]> = {}) {
  const q = new EventQueue();
  const got: Message[] = [];
  const counters = new Counters();
  const n = new SimNetwork(q, seededRandom(7), {
    dropProbability: 0, duplicateProbability: 0, delayMin: 1, delayMax: 10, longDelayProbability: 0, longDelayMax: 10, ...params,
  }, counters, (m) => got.push(m));
  return { q, got, n, counters };
}

test('the network delivers copies, not the sender\'s objects, and reorders by random delay', () => {
  const { q, got, n, counters } = net();
  const sent = Array.from({ length: 50 }, () => message(1, 2));
  for (const m of sent) n.send(m);
  q.runUntil(1000);
  assert.equal(got.length, 50);
  assert.ok(got.every((m) => !sent.includes(m)));
  assert.ok(counters.get('messagesReordered') > 0);
});

test('the network drops and duplicates at the configured rates, and not when not lossy', () => {
  const lossy = net({ dropProbability: 0.5, duplicateProbability: 0.5 });
  for (let i = 0; i < 200; i++) lossy.n.send(message(1, 2));
  lossy.q.runUntil(1000);
  assert.ok(lossy.counters.get('messagesDropped') > 50 && lossy.counters.get('messagesDuplicated') > 20);
  const calm = net({ dropProbability: 0.5, duplicateProbability: 0.5 });
  calm.n.lossy = false;
  for (let i = 0; i < 200; i++) calm.n.send(message(1, 2));
  calm.q.runUntil(1000);
  assert.equal(calm.got.length, 200);
});

test('partitions: symmetric, one-way and bridge cut exactly the intended links, and heal restores them', () => {
  const { n } = net();
  n.partition([1, 2], [3]);
  assert.ok(n.isCut(1, 3) && n.isCut(3, 2) && !n.isCut(1, 2));
  n.heal();
  n.cutOneWay([1], [2, 3]);
  assert.ok(n.isCut(1, 2) && n.isCut(1, 3) && !n.isCut(2, 1) && !n.isCut(3, 1));
  n.heal();
  n.bridge([1, 2], [3, 4], 2);
  assert.ok(n.isCut(1, 3) && n.isCut(4, 1) && !n.isCut(2, 3) && !n.isCut(4, 2) && !n.isCut(2, 1));
  n.heal();
  assert.ok(!n.partitioned);
});

test('a message in flight when a partition starts is cut on arrival and its sender told', () => {
  const { q, got, n, counters } = net();
  const outcomes: string[] = [];
  n.send(message(1, 2), (o) => outcomes.push(o));
  n.partition([1], [2]);
  q.runUntil(1000);
  assert.equal(got.length, 0);
  assert.equal(counters.get('messagesCut'), 1);
  assert.deepEqual(outcomes, ['cut']);
});

test('the state machine applies an operation id once and its image round-trips canonically', () => {
  const kv = new KvStateMachine();
  assert.deepEqual(kv.apply({ opId: 'a', input: { kind: 'write', key: 'x', value: '1' } }), { kind: 'write' });
  assert.deepEqual(kv.apply({ opId: 'b', input: { kind: 'cas', key: 'x', expected: '1', value: '2' } }), { kind: 'cas', ok: true });
  // A duplicate of 'b' must not apply again (it would fail now), and must report the first outcome.
  assert.deepEqual(kv.apply({ opId: 'b', input: { kind: 'cas', key: 'x', expected: '1', value: '2' } }), { kind: 'cas', ok: true });
  const copy = KvStateMachine.decode(kv.encode());
  assert.equal(copy.get('x'), '2');
  assert.ok(copy.hasApplied('a') && copy.hasApplied('b') && !copy.hasApplied('c'));
  assert.deepEqual(copy.encode(), kv.encode());
});

test('the invariants flag two leaders in a term, a double or undurable vote, a changed committed entry, an undurable term and a term going back', () => {
  const catches = (f: (inv: Invariants) => void, kind: string) => {
    assert.throws(() => f(new Invariants()), (e) => e instanceof Violation && e.kind === kind);
  };
  catches((inv) => { inv.onLeader(1, 5); inv.onLeader(2, 5); }, 'two leaders in a term');
  const grant = (to: number, term: number): Message => ({ ...message(1, to), type: 'voteResp', term });
  const durable = (term: number, vote: number) => ({ term, vote, commit: 0 });
  catches((inv) => { inv.onSend(1, grant(2, 3), durable(3, 2)); inv.onSend(1, grant(3, 3), durable(3, 3)); }, 'two votes in a term');
  catches((inv) => inv.onSend(1, grant(2, 3), durable(3, 0)), 'vote sent before it was durable');
  catches((inv) => { inv.onCommitted(1, entry(4, 2)); inv.onCommitted(2, entry(4, 3)); }, 'committed entry changed');
  catches((inv) => { inv.onApply(1, entry(4, 2)); inv.onApply(2, { ...entry(4, 2), data: new Uint8Array([9]) }); }, 'committed entry changed');
  const heartbeat = (term: number): Message => ({ ...message(1, 2), term });
  catches((inv) => { inv.onSend(1, heartbeat(4), durable(4, 0)); inv.onRestart(1, hs(3, 0)); }, 'term went back across a restart');
  catches((inv) => inv.onSend(1, heartbeat(5), durable(4, 0)), 'term sent before it was durable');
  catches((inv) => { inv.onHardState(1, hs(4, 7)); inv.onHardState(1, hs(4, 6)); }, 'commit went back');
  catches((inv) => { inv.onAppend(1, [entry(1, 1), entry(2, 2)], 0); inv.onAppend(2, [entry(1, 2), entry(2, 2)], 0); }, 'log matching');
  const ok = new Invariants();
  ok.onLeader(1, 5);
  ok.onLeader(1, 5);
  ok.onLeader(2, 6);
  ok.onSend(1, grant(2, 3), durable(3, 2));
  ok.onSend(1, grant(2, 3), durable(3, 2));
  ok.onSend(1, grant(3, 4), durable(4, 3));
  // Two steps between Readys: a vote granted in term 4, then term 5 seen; only term 5 is durable, which
  // keeps the node from ever voting in term 4 again.
  ok.onSend(1, grant(3, 4), durable(5, 0));
  ok.onSend(1, { ...message(1, 2), type: 'preVote', term: 9 }, durable(4, 3));
  ok.onRestart(1, hs(4, 0));
  // A term and vote written but neither synced nor promised in any message may be lost by a crash
  // (fsync latency), and the vote cast again differently.
  ok.onHardState(1, { term: 5, vote: 2, commit: 0 });
  ok.onRestart(1, hs(4, 0));
  ok.onSend(1, grant(3, 5), durable(5, 3));
});
