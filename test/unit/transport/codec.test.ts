import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeMsgpack } from '../../../src/base/index.ts';
import { decodePeerFrame, encodePeerFrame, MalformedFrameError } from '../../../src/transport/index.ts';
import type { PeerFrame } from '../../../src/transport/index.ts';

const appendFrame: PeerFrame = {
  kind: 'raft',
  message: {
    type: 'app', from: 1, to: 2, term: 7, logTerm: 6, index: 41, commit: 40, reject: false, rejectHint: 0,
    entries: [
      { index: 42, term: 7, type: 'normal', data: new Uint8Array([1, 2, 3]) },
      { index: 43, term: 7, type: 'confChange', data: new Uint8Array([9]) },
    ],
    context: new Uint8Array([0xca, 0xfe]),
  },
};

/** Bytes as plain arrays (a Buffer and a Uint8Array with the same bytes compare equal). */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return [...value];
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

test('a raft frame round-trips with its entries, bytes and context', () => {
  assert.deepEqual(plain(decodePeerFrame(encodePeerFrame(appendFrame))), plain(appendFrame));
});

test('a commit notice keeps its noReply mark across the wire', () => {
  const notice: PeerFrame = { kind: 'raft', message: { ...appendFrame.message, entries: [], noReply: true } };
  assert.equal((decodePeerFrame(encodePeerFrame(notice)) as typeof notice).message.noReply, true);
  assert.equal('noReply' in (decodePeerFrame(encodePeerFrame(appendFrame)) as typeof appendFrame).message, false);
});

test('a snapshot message round-trips with its metadata', () => {
  const frame: PeerFrame = {
    kind: 'raft',
    message: {
      type: 'snap', from: 1, to: 3, term: 2, logTerm: 0, index: 0, commit: 0, reject: false, rejectHint: 0, entries: [],
      snapshot: {
        metadata: { index: 10, term: 2, confState: { voters: [1, 2, 3], learners: [4], votersOutgoing: [], learnersNext: [], autoLeave: false } },
        data: new Uint8Array([5, 6]),
      },
    },
  };
  assert.deepEqual(plain(decodePeerFrame(encodePeerFrame(frame))), plain(frame));
});

test('a goaway frame round-trips, carrying nothing else', () => {
  assert.deepEqual(decodePeerFrame(encodePeerFrame({ kind: 'goaway' })), { kind: 'goaway' });
  assert.deepEqual(decodePeerFrame(encodeMsgpack({ kind: 'goaway', extra: 'ignored' })), { kind: 'goaway' });
});

test('malformed frames are typed errors naming the field', () => {
  const cases: Array<[unknown, RegExp]> = [
    [[1, 2], /frame is not a map/],
    [{ kind: 'gossip' }, /frame\.kind/],
    [{ kind: 'hello', clusterId: 'c', member: 'm1', memberId: -1 }, /hello\.memberId/],
    [{ kind: 'raft', message: { ...appendFrame.message, type: 'hup' } }, /message\.type is not a network message type/],
    [{ kind: 'raft', message: { ...appendFrame.message, term: '7' } }, /message\.term/],
    [{ kind: 'raft', message: { ...appendFrame.message, noReply: false } }, /message\.noReply is not true/],
    [{ kind: 'raft', message: { ...appendFrame.message, noReply: true } }, /message\.noReply marks only an append without entries/],
    [{ kind: 'raft', message: { ...appendFrame.message, type: 'heartbeat', entries: [], noReply: true } }, /message\.noReply marks only an append without entries/],
    [{ kind: 'raft', message: { ...appendFrame.message, entries: [{ index: 1, term: 1, type: 'normal', data: 'x' }] } }, /message\.entries\[0\]\.data is not bytes/],
  ];
  for (const [value, pattern] of cases) {
    assert.throws(() => decodePeerFrame(encodeMsgpack(value)), (e: unknown) => e instanceof MalformedFrameError && pattern.test(e.message));
  }
});

test('messages no member sends are refused before Raft sees them', () => {
  const app = appendFrame.message;
  const snapshot = { metadata: { index: 10, term: 2, confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data: new Uint8Array([1]) };
  const entry = (index: number, term: number) => ({ index, term, type: 'normal' as const, data: new Uint8Array([1]) });
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    // Raft takes a message without a term for one of the member's own, and checks no term at all.
    [{ ...app, type: 'heartbeat', entries: [], term: 0 }, /message\.term is 0 on a heartbeat message/],
    [{ ...app, term: 0, entries: [] }, /message\.term is 0 on a app message/],
    [{ ...app, type: 'vote', entries: [], term: 0 }, /message\.term is 0 on a vote message/],
    [{ ...app, type: 'prop', term: 0, entries: [] }, /message\.entries is empty on a proposal/],
    [{ ...app, entries: [entry(42, 7), entry(44, 7)] }, /message\.entries\[1\]\.index is 44, not 43/],
    [{ ...app, entries: [entry(41, 7)] }, /message\.entries\[0\]\.index is 41, not 42/],
    [{ ...app, entries: [entry(42, 8)] }, /message\.entries\[0\]\.term is 8, outside 6\.\.7/],
    [{ ...app, entries: [entry(42, 5)] }, /message\.entries\[0\]\.term is 5, outside 6\.\.7/],
    [{ ...app, entries: [entry(42, 7), entry(43, 6)] }, /message\.entries\[1\]\.term is 6, outside 7\.\.7/],
    [{ ...app, type: 'heartbeat', entries: [], snapshot }, /message\.snapshot comes with a snap message, and only with one/],
    [{ ...app, type: 'snap', entries: [] }, /message\.snapshot comes with a snap message, and only with one/],
  ];
  for (const [message, pattern] of cases) {
    assert.throws(() => decodePeerFrame(encodeMsgpack({ kind: 'raft', message })), (e: unknown) => e instanceof MalformedFrameError && pattern.test(e.message), String(pattern));
  }
  // What members do send without a term: a proposal or a read forwarded to the leader.
  for (const type of ['prop', 'readIndex'] as const) {
    const message = { ...app, type, term: 0, logTerm: 0, index: 0, entries: [entry(0, 0)] };
    assert.equal((decodePeerFrame(encodePeerFrame({ kind: 'raft', message })) as { message: { type: string } }).message.type, type);
  }
});

test('random bytes never decode into anything but a frame or a MalformedFrameError', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
    try {
      const frame = decodePeerFrame(bytes);
      assert.ok(frame.kind === 'hello' || frame.kind === 'raft');
    } catch (error) {
      assert.ok(error instanceof MalformedFrameError, `unexpected ${String(error)}`);
    }
  }));
});
