/**
 * The peer wire format: one msgpack value per frame (msgpackr — measured against JSON in
 * scripts/bench-codec.ts; it is several times faster and carries bytes without base64). Decoding
 * checks the shape of every field before the value reaches Raft, so a malformed frame is a typed
 * error naming the field, never a corrupt message inside the core.
 */
import { CofferError, decodeMsgpack, encodeMsgpack } from '../base/index.ts';
import type { Entry, Message, MessageType, Snapshot } from '../raft/index.ts';

/** Why a peer connection exists: the first frame on it, naming the sender and the cluster. */
export interface HelloFrame {
  kind: 'hello';
  clusterId: string;
  /** The sender's member name; must equal the identity in its certificate. */
  member: string;
  memberId: number;
}
export interface RaftFrame {
  kind: 'raft';
  message: Message;
  /**
   * Set on a snapshot message whose data went ahead in snapChunk frames on the same connection:
   * the data's total length. The receiver joins the chunks in order.
   */
  snapshotBytes?: number;
}
/** A piece of a snapshot's data, sent ahead of its raft frame (a frame has a size limit). */
export interface SnapChunkFrame {
  kind: 'snapChunk';
  data: Uint8Array;
}
/**
 * A frame a listener sends back: "end this connection and dial again" (the listener's certificate was
 * reloaded). The dialer ends the connection itself, so nothing it wrote is lost.
 */
export interface GoawayFrame {
  kind: 'goaway';
}
/**
 * The other frame a listener sends back, before it closes the connection: "this cluster removed you"
 * (the listener applied the change that removed the dialer). A removed member may never hear it from
 * Raft — the leader stops replicating to it once the removal is applied, possibly before it learned
 * that the removal committed — so it learns it here, as etcd's peers answer a removed member 410.
 */
export interface RemovedFrame {
  kind: 'removed';
}
export type PeerFrame = HelloFrame | RaftFrame | SnapChunkFrame | GoawayFrame | RemovedFrame;

export class MalformedFrameError extends CofferError {
  readonly code = 'E_MALFORMED_FRAME';
  constructor(field: string, problem: string) {
    super(`malformed peer frame: ${field} ${problem}`);
  }
}

export function encodePeerFrame(frame: PeerFrame): Uint8Array {
  return encodeMsgpack(frame);
}

export function decodePeerFrame(encoded: Uint8Array): PeerFrame {
  let value: unknown;
  try {
    value = decodeMsgpack(encoded);
  } catch {
    throw new MalformedFrameError('frame', 'is not valid msgpack');
  }
  const frame = record(value, 'frame');
  switch (frame.kind) {
    case 'hello':
      return {
        kind: 'hello',
        clusterId: string(frame.clusterId, 'hello.clusterId'),
        member: string(frame.member, 'hello.member'),
        memberId: count(frame.memberId, 'hello.memberId'),
      };
    case 'raft': {
      const decoded: RaftFrame = { kind: 'raft', message: message(frame.message) };
      if (frame.snapshotBytes !== undefined) decoded.snapshotBytes = count(frame.snapshotBytes, 'raft.snapshotBytes');
      return decoded;
    }
    case 'snapChunk':
      return { kind: 'snapChunk', data: bytes(frame.data, 'snapChunk.data') };
    case 'goaway':
      return { kind: 'goaway' };
    case 'removed':
      return { kind: 'removed' };
    default:
      throw new MalformedFrameError('frame.kind', `is not hello, raft, snapChunk, goaway or removed`);
  }
}

const messageTypes: ReadonlySet<string> = new Set<MessageType>([
  'prop', 'app', 'appResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'snap', 'heartbeat',
  'heartbeatResp', 'transferLeader', 'timeoutNow', 'readIndex', 'readIndexResp',
]);

function message(value: unknown): Message {
  const m = record(value, 'message');
  const type = string(m.type, 'message.type');
  // Local-only kinds (hup, beat, checkQuorum, unreachable, snapStatus) never cross the wire.
  if (!messageTypes.has(type)) throw new MalformedFrameError('message.type', `is not a network message type`);
  const decoded: Message = {
    type: type as MessageType,
    from: count(m.from, 'message.from'),
    to: count(m.to, 'message.to'),
    term: count(m.term, 'message.term'),
    logTerm: count(m.logTerm, 'message.logTerm'),
    index: count(m.index, 'message.index'),
    entries: list(m.entries, 'message.entries').map((e, i) => entry(e, `message.entries[${i}]`)),
    commit: count(m.commit, 'message.commit'),
    reject: boolean(m.reject, 'message.reject'),
    rejectHint: count(m.rejectHint, 'message.rejectHint'),
  };
  if (m.snapshot !== undefined) decoded.snapshot = snapshot(m.snapshot);
  if (m.context !== undefined) decoded.context = bytes(m.context, 'message.context');
  if (m.noReply !== undefined) {
    if (m.noReply !== true) throw new MalformedFrameError('message.noReply', 'is not true');
    if (decoded.type !== 'app' || decoded.entries.length > 0) throw new MalformedFrameError('message.noReply', 'marks only an append without entries');
    decoded.noReply = true;
  }
  checkMessageShape(decoded);
  return decoded;
}

/** The messages a member sends without its term: a proposal or a read it forwards to the leader. */
const termlessTypes: ReadonlySet<MessageType> = new Set<MessageType>(['prop', 'readIndex']);

/**
 * What no member sends, refused here before Raft sees it: Raft treats a message without a term as one of
 * the member's own (no term check at all), asserts what a correct leader's append guarantees, and
 * installs whatever snapshot a `snap` brings.
 */
function checkMessageShape(m: Message): void {
  if (m.term === 0 && !termlessTypes.has(m.type)) throw new MalformedFrameError('message.term', `is 0 on a ${m.type} message (only a forwarded proposal or read has none)`);
  if (m.type === 'prop' && m.entries.length === 0) throw new MalformedFrameError('message.entries', 'is empty on a proposal');
  if ((m.type === 'snap') !== (m.snapshot !== undefined)) throw new MalformedFrameError('message.snapshot', 'comes with a snap message, and only with one');
  if (m.type !== 'app') return;
  // An append's entries follow (index, logTerm) one by one, their terms never falling and never past the leader's.
  let term = m.logTerm;
  m.entries.forEach((e, i) => {
    if (e.index !== m.index + 1 + i) throw new MalformedFrameError(`message.entries[${i}].index`, `is ${e.index}, not ${m.index + 1 + i}`);
    if (e.term < term || e.term > m.term) throw new MalformedFrameError(`message.entries[${i}].term`, `is ${e.term}, outside ${term}..${m.term}`);
    term = e.term;
  });
}

function entry(value: unknown, field: string): Entry {
  const e = record(value, field);
  const type = string(e.type, `${field}.type`);
  if (type !== 'normal' && type !== 'confChange') throw new MalformedFrameError(`${field}.type`, 'is not normal or confChange');
  return { index: count(e.index, `${field}.index`), term: count(e.term, `${field}.term`), type, data: bytes(e.data, `${field}.data`) };
}

function snapshot(value: unknown): Snapshot {
  const s = record(value, 'message.snapshot');
  const meta = record(s.metadata, 'message.snapshot.metadata');
  const conf = record(meta.confState, 'message.snapshot.metadata.confState');
  const ids = (v: unknown, f: string) => list(v, f).map((id, i) => count(id, `${f}[${i}]`));
  return {
    metadata: {
      index: count(meta.index, 'snapshot.metadata.index'),
      term: count(meta.term, 'snapshot.metadata.term'),
      confState: {
        voters: ids(conf.voters, 'confState.voters'),
        learners: ids(conf.learners, 'confState.learners'),
        votersOutgoing: ids(conf.votersOutgoing, 'confState.votersOutgoing'),
        learnersNext: ids(conf.learnersNext, 'confState.learnersNext'),
        autoLeave: boolean(conf.autoLeave, 'confState.autoLeave'),
      },
    },
    data: bytes(s.data, 'message.snapshot.data'),
  };
}

function record(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new MalformedFrameError(field, 'is not a map');
  }
  return value as Record<string, unknown>;
}

function list(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) throw new MalformedFrameError(field, 'is not an array');
  return value;
}

function string(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new MalformedFrameError(field, 'is not a string');
  return value;
}

function count(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new MalformedFrameError(field, 'is not a non-negative safe integer');
  }
  return value;
}

function boolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw new MalformedFrameError(field, 'is not a boolean');
  return value;
}

function bytes(value: unknown, field: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new MalformedFrameError(field, 'is not bytes');
  return value;
}
