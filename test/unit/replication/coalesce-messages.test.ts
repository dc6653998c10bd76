// A Ready's messages to one peer, joined (src/replication/coalesce-messages.ts): only an append that
// continues the last one to its peer, or a forwarded proposal of ordinary entries, joins; nothing is
// reordered and no joined message passes the size limit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Entry, Message } from '../../../src/raft/index.ts';
import { makeMessage } from '../../../src/raft/messages.ts';
import { coalesceMessages } from '../../../src/replication/coalesce-messages.ts';

const data = (n: number): Uint8Array => new Uint8Array(n).fill(7);
const entry = (index: number, term = 2, type: Entry['type'] = 'normal', bytes = 10): Entry => ({ index, term, type, data: data(bytes) });
/** The append a leader of term 2 sends `to` with `entries` after index `index` (of term `logTerm`). */
const app = (to: number, index: number, entries: Entry[], commit: number, logTerm = 2): Message =>
  makeMessage({ type: 'app', from: 1, to, term: 2, index, logTerm, entries, commit });
const prop = (entries: Entry[]): Message => makeMessage({ type: 'prop', from: 2, to: 1, entries });
const unlimited = 1024 * 1024;

test('appends that continue each other join per peer, in the place of the first, with the newest commit', () => {
  const messages = [
    app(2, 10, [entry(11)], 9), app(3, 10, [entry(11)], 9),
    app(2, 11, [entry(12)], 9), app(3, 11, [entry(12)], 10),
    app(2, 12, [entry(13), entry(14)], 10),
  ];
  const joined = coalesceMessages(messages, unlimited);
  assert.deepEqual(joined.map((m) => [m.to, m.index, m.logTerm, m.entries.map((e) => e.index), m.commit]), [
    [2, 10, 2, [11, 12, 13, 14], 10],
    [3, 10, 2, [11, 12], 10],
  ]);
});

test('an append that does not continue the last one to its peer stays apart', () => {
  const gap = [app(2, 10, [entry(11)], 9), app(2, 12, [entry(13)], 9)];
  assert.equal(coalesceMessages(gap, unlimited).length, 2);
  // The entry before the second append is of another term than the first one's last entry.
  const otherTerm = [app(2, 10, [entry(11, 1)], 9, 1), app(2, 11, [entry(12)], 9, 2)];
  assert.equal(coalesceMessages(otherTerm, unlimited).length, 2);
  const emptyThenMore = [app(2, 10, [], 9), app(2, 10, [entry(11)], 10)];
  assert.deepEqual(coalesceMessages(emptyThenMore, unlimited).map((m) => m.entries.length), [1]);
});

test('nothing joins across another message to the same peer, so nothing is reordered', () => {
  const heartbeat = makeMessage({ type: 'heartbeat', from: 1, to: 2, term: 2, commit: 9 });
  const messages = [app(2, 10, [entry(11)], 9), heartbeat, app(2, 11, [entry(12)], 9)];
  assert.deepEqual(coalesceMessages(messages, unlimited).map((m) => m.type), ['app', 'heartbeat', 'app']);
  // A message to another peer in between does not matter.
  const other = makeMessage({ type: 'heartbeat', from: 1, to: 3, term: 2 });
  assert.deepEqual(coalesceMessages([app(2, 10, [entry(11)], 9), other, app(2, 11, [entry(12)], 9)], unlimited).map((m) => [m.type, m.to]), [['app', 2], ['heartbeat', 3]]);
});

test('a joined append stays within the message size limit', () => {
  const messages = [app(2, 10, [entry(11, 2, 'normal', 300)], 9), app(2, 11, [entry(12, 2, 'normal', 300)], 9), app(2, 12, [entry(13, 2, 'normal', 300)], 9)];
  const joined = coalesceMessages(messages, 700);
  assert.deepEqual(joined.map((m) => m.entries.map((e) => e.index)), [[11, 12], [13]]);
});

test('forwarded proposals join when every entry is ordinary; a conf change travels alone', () => {
  assert.deepEqual(coalesceMessages([prop([entry(0)]), prop([entry(0), entry(0)])], unlimited).map((m) => m.entries.length), [3]);
  const withChange = [prop([entry(0)]), prop([entry(0, 0, 'confChange')]), prop([entry(0)])];
  assert.deepEqual(coalesceMessages(withChange, unlimited).map((m) => m.entries.map((e) => e.type)), [['normal'], ['confChange'], ['normal']]);
});

test('messages of other kinds, or carrying a context, are passed as they are', () => {
  const reads = [makeMessage({ type: 'readIndex', from: 2, to: 1, context: data(3) }), makeMessage({ type: 'readIndex', from: 2, to: 1, context: data(4) })];
  assert.deepEqual(coalesceMessages(reads, unlimited), reads);
  const acks = [makeMessage({ type: 'appResp', from: 2, to: 1, term: 2, index: 11 }), makeMessage({ type: 'appResp', from: 2, to: 1, term: 2, index: 12 })];
  assert.deepEqual(coalesceMessages(acks, unlimited), acks);
});
