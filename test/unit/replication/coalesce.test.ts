// Merging a Ready's messages to one peer (src/replication/coalesce.ts): which messages merge and which
// must not, and, with the real Raft core, that a cluster whose messages are merged reaches the same
// logs, commits and applied data as one whose messages go one by one — with far fewer messages.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../../src/base/index.ts';
import {
  type Entry, entryBytes, makeConfState, MemoryStorage, type Message, type NodeId, raftConfigDefaults, RawNode,
} from '../../../src/raft/index.ts';
import { coalesceMessages } from '../../../src/replication/coalesce.ts';

const data = (n: number) => new Uint8Array(n).fill(7);
const entry = (index: number, term = 2, bytes = 10): Entry => ({ index, term, type: 'normal', data: data(bytes) });
const msg = (fields: Partial<Message> & Pick<Message, 'type' | 'to'>): Message => ({
  from: 1, term: 2, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, ...fields,
});
/** An append to `to` of entries first..last (after index first - 1), at term 2. */
const app = (to: NodeId, first: number, last: number, commit: number): Message =>
  msg({ type: 'app', to, index: first - 1, logTerm: 2, commit, entries: Array.from({ length: last - first + 1 }, (_, i) => entry(first + i)) });
const indexes = (m: Message) => m.entries.map((e) => e.index);

test('appends to one follower that continue each other become one, with every entry and the last commit; each follower keeps its own', () => {
  const out = coalesceMessages([app(2, 11, 11, 9), app(3, 11, 11, 9), app(2, 12, 13, 10), app(3, 12, 13, 10), app(2, 14, 13, 12), app(3, 14, 13, 12)], 1 << 20);
  assert.deepEqual(out.map((m) => [m.to, indexes(m), m.index, m.commit]), [[2, [11, 12, 13], 10, 12], [3, [11, 12, 13], 10, 12]]);
});

test('an append that does not continue the one before it (a probe from an earlier index, another term, another leader) is sent as it is', () => {
  const resent = app(2, 11, 12, 10);
  const otherTerm = { ...app(2, 13, 13, 10), term: 3 };
  const wrongLogTerm = { ...app(2, 13, 13, 10), logTerm: 1 };
  for (const second of [resent, otherTerm, wrongLogTerm, { ...app(2, 13, 13, 10), from: 4 }]) {
    const out = coalesceMessages([app(2, 11, 12, 10), second], 1 << 20);
    assert.equal(out.length, 2, JSON.stringify({ index: second.index, term: second.term, logTerm: second.logTerm, from: second.from }));
    assert.equal(out[1], second);
  }
});

test('nothing merges across another message to the same peer, and a merged message keeps the place of the first', () => {
  const heartbeat = msg({ type: 'heartbeat', to: 2, commit: 10 });
  const out = coalesceMessages([app(2, 11, 11, 10), heartbeat, app(2, 12, 12, 10), app(2, 13, 13, 11)], 1 << 20);
  assert.deepEqual(out.map((m) => [m.type, indexes(m)]), [['app', [11]], ['heartbeat', []], ['app', [12, 13]]]);
});

test('a merged append stays within maxMsgBytes of entries; a commit-only append still joins a full one', () => {
  const limit = 3 * entryBytes(entry(1));
  const out = coalesceMessages([app(2, 11, 12, 10), app(2, 13, 13, 10), app(2, 14, 14, 10), app(2, 15, 14, 13)], limit);
  assert.deepEqual(out.map((m) => [indexes(m), m.commit]), [[[11, 12, 13], 10], [[14], 13]]);
});

test('a merged append asks for no reply only when every part it merges asks for none: entries are always acknowledged', () => {
  const notice = (commit: number): Message => ({ ...app(2, 11, 10, commit), noReply: true });
  assert.equal(coalesceMessages([notice(9), notice(10)], 1 << 20)[0]!.noReply, true, 'two commit notices');
  for (const [first, second] of [[notice(9), app(2, 11, 12, 10)], [app(2, 11, 12, 10), { ...app(2, 13, 12, 11), noReply: true as const }]]) {
    const out = coalesceMessages([first!, second!], 1 << 20);
    assert.deepEqual(out.map((m) => [indexes(m), m.noReply]), [[[11, 12], undefined]]);
  }
});

test('forwarded proposals of normal entries merge; one carrying a conf change is never merged, so the leader cannot drop writes with it', () => {
  const prop = (e: Entry) => msg({ type: 'prop', to: 1, from: 2, term: 0, entries: [e] });
  const conf: Entry = { index: 0, term: 0, type: 'confChange', data: data(4) };
  const out = coalesceMessages([prop(entry(0)), prop(entry(0)), prop(conf), prop(entry(0)), prop(entry(0))], 1 << 20);
  assert.deepEqual(out.map((m) => m.entries.map((e) => e.type)), [['normal', 'normal'], ['confChange'], ['normal', 'normal']]);
});

test('acceptances of appends collapse to the one that accepts the most; a rejection is kept, and ends the run', () => {
  const resp = (index: number, reject = false) => msg({ type: 'appResp', to: 1, from: 2, index, reject });
  const out = coalesceMessages([resp(11), resp(13), resp(12), resp(14, true), resp(15), resp(16)], 1 << 20);
  assert.deepEqual(out.map((m) => [m.index, m.reject]), [[13, false], [14, true], [16, false]]);
});

test('the messages given are not changed', () => {
  const first = app(2, 11, 11, 10);
  coalesceMessages([first, app(2, 12, 12, 11)], 1 << 20);
  assert.deepEqual([indexes(first), first.commit], [[11], 10]);
});

/**
 * A three-member cluster of the real core under a host that follows the Ready contract, with every
 * Ready's messages delivered as `transform` makes them; proposals arrive in bursts at the leader and at a
 * follower (which forwards them), so Readies carry many messages to each peer. Returns each member's
 * log, commit and applied data, and the messages sent.
 */
function run(transform: (messages: readonly Message[]) => readonly Message[]) {
  const ids = [1, 2, 3];
  const nodes = ids.map((id) => {
    const storage = new MemoryStorage(makeConfState(ids, []));
    return { id, storage, rn: new RawNode({ ...raftConfigDefaults, id, maxInflightMsgs: 64 }, storage, seededRandom(id)), applied: [] as string[] };
  });
  const queue: Message[] = [];
  let sent = 0;
  const settle = () => {
    for (let round = 0; round < 10_000; round++) {
      let busy = false;
      for (const n of nodes) {
        if (!n.rn.hasReady()) continue;
        busy = true;
        const rd = n.rn.ready();
        const send = (ms: readonly Message[]) => { const out = transform(ms); sent += out.length; queue.push(...out); };
        send(rd.messages);
        if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
        n.storage.append(rd.entries);
        if (rd.hardState) n.storage.setHardState(rd.hardState);
        send(rd.messagesAfterPersist);
        for (const e of rd.committedEntries) if (e.type === 'normal' && e.data.length > 0) n.applied.push(new TextDecoder().decode(e.data));
        n.rn.advance(rd);
      }
      // Delivery in small slices, so a node steps some messages between its Readies and not all at once.
      for (const m of queue.splice(0, 7)) nodes[m.to - 1]!.rn.step(m);
      if (!busy && queue.length === 0) return;
    }
    throw new Error('the cluster did not settle');
  };
  nodes[0]!.rn.campaign();
  settle();
  for (let burst = 0; burst < 20; burst++) {
    for (let i = 0; i < 40; i++) nodes[burst % 2 === 0 ? 0 : 1]!.rn.propose(new TextEncoder().encode(`w${burst}.${i}`));
    settle();
  }
  return {
    sent,
    members: nodes.map((n) => {
      const log = n.rn.logEntries();
      return { committed: log.committed, log: log.entries.map((e) => `${e.index}/${e.term}/${new TextDecoder().decode(e.data)}`), applied: n.applied };
    }),
  };
}

test('with the real core: a cluster whose messages are merged ends with the logs, commits and applied writes of one whose messages go one by one', () => {
  const oneByOne = run((ms) => ms);
  const merged = run((ms) => coalesceMessages(ms, raftConfigDefaults.maxMsgBytes));
  assert.equal(oneByOne.members[0]!.applied.length, 800, 'every write was applied');
  assert.deepEqual(merged.members, oneByOne.members);
  assert.ok(merged.sent * 4 < oneByOne.sent, `merged: ${merged.sent} messages, one by one: ${oneByOne.sent}`);
});
