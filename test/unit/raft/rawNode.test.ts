import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../../src/base/index.ts';
import {
  type Config,
  type Message,
  ConfChangeError,
  makeConfState,
  MemoryStorage,
  ProposalDroppedError,
  raftConfigDefaults,
  RawNode,
  type Ready,
} from '../../../src/raft/index.ts';

function config(id: number, extra: Partial<Config> = {}): Config {
  return { ...raftConfigDefaults, id, preVote: false, checkQuorum: false, ...extra };
}

/** Persists and applies a Ready the way the host contract says, then advances. */
function handle(rn: RawNode, storage: MemoryStorage): Ready {
  const rd = rn.ready();
  if (rd.snapshot) storage.applySnapshot(rd.snapshot);
  storage.append(rd.entries);
  if (rd.hardState) storage.setHardState(rd.hardState);
  rn.advance(rd);
  return rd;
}

test('a single voter elects itself, but commits its entry only after persisting it', () => {
  const storage = new MemoryStorage(makeConfState([1]));
  const rn = new RawNode(config(1), storage, seededRandom(1));
  rn.campaign();
  const rd = rn.ready();
  assert.equal(rd.softState?.role, 'leader');
  assert.deepEqual(rd.entries.map((e) => [e.index, e.term]), [[1, 1]]);
  assert.equal(rd.hardState?.commit, 0, 'not committed before the leader persisted it');
  assert.equal(rd.mustSync, true);
  storage.append(rd.entries);
  if (rd.hardState) storage.setHardState(rd.hardState);
  rn.advance(rd);
  const rd2 = handle(rn, storage);
  assert.equal(rd2.hardState?.commit, 1);
  assert.deepEqual(rd2.committedEntries.map((e) => e.index), [1]);
});

test('votes, vote requests and append acknowledgements wait for persistence', () => {
  const s1 = new MemoryStorage(makeConfState([1, 2, 3]));
  const n1 = new RawNode(config(1), s1, seededRandom(1));
  n1.campaign();
  const rd = n1.ready();
  assert.deepEqual(rd.messages, []);
  assert.deepEqual(rd.messagesAfterPersist.map((m) => m.type), ['vote', 'vote']);
  assert.equal(rd.hardState?.vote, 1);

  const s2 = new MemoryStorage(makeConfState([1, 2, 3]));
  const n2 = new RawNode(config(2), s2, seededRandom(2));
  n2.step(rd.messagesAfterPersist[0]!);
  const rd2 = n2.ready();
  assert.deepEqual(rd2.messages, []);
  assert.deepEqual(rd2.messagesAfterPersist.map((m) => [m.type, m.reject]), [['voteResp', false]]);
  assert.equal(rd2.mustSync, true, 'a vote must be fsynced');
  if (rd2.hardState) s2.setHardState(rd2.hardState);
  n2.advance(rd2);

  // The append acknowledgement of node 2 waits too; the leader's appends themselves may go at once.
  if (rd.hardState) s1.setHardState(rd.hardState);
  n1.advance(rd);
  n1.step(rd2.messagesAfterPersist[0]!);
  const rd3 = n1.ready();
  assert.deepEqual(rd3.messages.map((m) => m.type), ['app', 'app']);
  n2.step(rd3.messages[0]!);
  const rd4 = n2.ready();
  assert.deepEqual(rd4.messages, []);
  assert.deepEqual(rd4.messagesAfterPersist.map((m) => [m.type, m.index]), [['appResp', 1]]);
  assert.equal(rd4.mustSync, true);
});

test('the same seed and inputs give the same Readys', () => {
  function run(): string {
    const trace: string[] = [];
    const storages = [1, 2, 3].map(() => new MemoryStorage(makeConfState([1, 2, 3])));
    const nodes = [1, 2, 3].map((id) => new RawNode(config(id, { preVote: true }), storages[id - 1]!, seededRandom(77 + id)));
    for (let t = 0; t < 60; t++) {
      for (const n of nodes) n.tick();
      for (let i = 0; i < 3; i++) {
        const n = nodes[i]!;
        if (!n.hasReady()) continue;
        const rd = handle(n, storages[i]!);
        trace.push(JSON.stringify([i, rd.softState, rd.hardState, rd.entries.length, rd.messages.length, rd.messagesAfterPersist.length]));
        for (const m of [...rd.messages, ...rd.messagesAfterPersist]) nodes[m.to - 1]!.step(m);
      }
    }
    return trace.join('\n');
  }
  const a = run();
  assert.ok(a.includes('"leader"'), 'someone was elected');
  assert.equal(run(), a);
});

test('ready() twice without advance() is a host bug', () => {
  const rn = new RawNode(config(1), new MemoryStorage(makeConfState([1])), seededRandom(1));
  rn.campaign();
  rn.ready();
  assert.equal(rn.hasReady(), false, 'no further Ready until the outstanding one is advanced');
  assert.throws(() => rn.ready(), /before advance/);
});

test('a restarted node keeps its term, vote and commit', () => {
  const storage = new MemoryStorage(makeConfState([1]));
  const rn = new RawNode(config(1), storage, seededRandom(1));
  rn.campaign();
  handle(rn, storage);
  handle(rn, storage);
  rn.propose(new TextEncoder().encode('x'));
  handle(rn, storage);
  handle(rn, storage);
  const restarted = new RawNode(config(1), storage, seededRandom(2));
  const st = restarted.status();
  assert.deepEqual(st.hardState, { term: 1, vote: 1, commit: 2 });
  assert.equal(st.softState.role, 'follower');
  assert.deepEqual(restarted.ready().committedEntries.map((e) => e.index), [1, 2], 'applied 0: replays committed entries');
});

test('basicStatus is the status without the membership and the progress map, on a leader too', () => {
  const storage = new MemoryStorage(makeConfState([1]));
  const rn = new RawNode(config(1), storage, seededRandom(1));
  rn.campaign();
  handle(rn, storage);
  handle(rn, storage);
  const { confState, leadTransferee, progress, ...rest } = rn.status();
  assert.ok(progress !== undefined && confState.voters.length === 1 && leadTransferee === 0, 'the full status of a leader');
  assert.deepEqual(rn.basicStatus(), rest);
  assert.deepEqual(rn.basicStatus().softState, { leader: 1, role: 'leader' });
  assert.equal('progress' in rn.basicStatus(), false);
});

test('proposals without a leader raise ProposalDroppedError', () => {
  const rn = new RawNode(config(1), new MemoryStorage(makeConfState([1, 2, 3])), seededRandom(1));
  assert.throws(() => rn.propose(new Uint8Array([1])), (e: unknown) => e instanceof ProposalDroppedError && e.code === 'E_PROPOSAL_DROPPED');
  assert.throws(() => rn.readIndex(new Uint8Array([1])), ProposalDroppedError);
});

test('a conf change that would remove the last voter is refused with ConfChangeError', () => {
  const storage = new MemoryStorage(makeConfState([1]));
  const rn = new RawNode(config(1), storage, seededRandom(1));
  rn.campaign();
  handle(rn, storage);
  handle(rn, storage);
  assert.throws(() => rn.proposeConfChange({ type: 'removeNode', nodeId: 1 }), ConfChangeError);
});

test('a single voter answers ReadIndex once it committed in its term', () => {
  const storage = new MemoryStorage(makeConfState([1]));
  const rn = new RawNode(config(1), storage, seededRandom(1));
  rn.campaign();
  rn.readIndex(new TextEncoder().encode('early'));
  const rd = handle(rn, storage);
  assert.deepEqual(rd.readStates, [], 'queued until the term entry commits');
  const rd2 = handle(rn, storage);
  assert.deepEqual(rd2.readStates.map((r) => [r.index, new TextDecoder().decode(r.requestCtx)]), [[1, 'early']]);
});

test('messages of a local-only kind arriving from a peer are ignored', () => {
  const rn = new RawNode(config(1), new MemoryStorage(makeConfState([1, 2, 3])), seededRandom(1));
  rn.step({ type: 'hup', from: 2, to: 1, term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 });
  assert.equal(rn.hasReady(), false);
  assert.equal(rn.status().softState.role, 'follower');
});

test('config validation names the field', () => {
  assert.throws(() => new RawNode(config(1, { electionTicks: 1, heartbeatTicks: 1 }), new MemoryStorage(), seededRandom(1)),
    (e: unknown) => e instanceof Error && 'field' in e && e.field === 'electionTicks');
  const storage = new MemoryStorage(makeConfState([1]));
  assert.throws(() => new RawNode(config(1, { applied: 5 }), storage, seededRandom(1)), /applied/);
});

test('a commit notice marked noReply is accepted silently; a marked append that does not match is still rejected, and entries are always acknowledged', () => {
  const storage = new MemoryStorage(makeConfState([1, 2]));
  const follower = new RawNode(config(2), storage, seededRandom(2));
  const app = (fields: Partial<Message>): Message =>
    ({ type: 'app', from: 1, to: 2, term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, ...fields });
  const sent = (rd: Ready) => [...rd.messages, ...rd.messagesAfterPersist].map((m) => ({ type: m.type, index: m.index, reject: m.reject }));

  follower.step(app({ entries: [{ index: 1, term: 1, type: 'normal', data: new Uint8Array() }] }));
  assert.deepEqual(sent(handle(follower, storage)), [{ type: 'appResp', index: 1, reject: false }], 'entries are acknowledged');

  follower.step(app({ index: 1, logTerm: 1, commit: 1, noReply: true }));
  const notice = handle(follower, storage);
  assert.deepEqual(notice.committedEntries.map((e) => e.index), [1], 'the commit notice moved the commit index');
  assert.deepEqual(sent(notice), [], 'and asked for no answer');

  follower.step(app({ index: 0, logTerm: 0, commit: 1, noReply: true }));
  assert.deepEqual(sent(handle(follower, storage)), [], 'a stale notice below the commit index gets none either');

  follower.step(app({ index: 5, logTerm: 1, commit: 1, noReply: true }));
  assert.deepEqual(sent(handle(follower, storage)), [{ type: 'appResp', index: 5, reject: true }],
    'a notice the log does not match is rejected, so the leader learns the follower is behind');

  follower.step(app({ index: 1, logTerm: 1, commit: 1 }));
  assert.deepEqual(sent(handle(follower, storage)), [{ type: 'appResp', index: 1, reject: false }], 'without the mark, an empty append is answered');

  follower.step(app({ index: 1, logTerm: 1, commit: 1, noReply: true, entries: [{ index: 2, term: 1, type: 'normal', data: new Uint8Array() }] }));
  assert.deepEqual(sent(handle(follower, storage)), [{ type: 'appResp', index: 2, reject: false }], 'entries are acknowledged even under the mark');
});
