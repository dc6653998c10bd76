/**
 * Plaintext encodings of WAL records (what goes inside a sealed page) and the record types.
 *   entry:      u8 entry type (0 normal, 1 confChange) | u64 term | data
 *   state:      msgpack { hardState, confState }
 *   snapshot:   msgpack SnapshotMarker
 * u64 values are safe integers written as two big-endian u32 halves.
 */
import { assert, decodeMsgpack, encodeMsgpack } from '../../base/index.ts';
import type { ConfState, Entry, HardState } from '../../raft/index.ts';

export const RecordType = { entry: 1, state: 2, snapshot: 3 } as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** What a snapshot marker record says: which snapshot file is current and how to verify it. */
export interface SnapshotMarker {
  index: number;
  term: number;
  confState: ConfState;
  /** Sealed chunks in the snapshot file; a file with fewer or more is corrupt. */
  chunks: number;
  bytes: number;
}

export interface WalState {
  hardState: HardState;
  confState: ConfState;
}

export function writeU64(view: DataView, at: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, `u64 value ${value} is not a safe integer >= 0`);
  view.setUint32(at, Math.floor(value / 2 ** 32));
  view.setUint32(at + 4, value >>> 0);
}

export function readU64(view: DataView, at: number): number {
  return view.getUint32(at) * 2 ** 32 + view.getUint32(at + 4);
}

const entryHeaderBytes = 1 + 8;

export function encodeEntry(entry: Entry): Uint8Array {
  const out = new Uint8Array(entryHeaderBytes + entry.data.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, entry.type === 'normal' ? 0 : 1);
  writeU64(view, 1, entry.term);
  out.set(entry.data, entryHeaderBytes);
  return out;
}

/** Decodes an entry's plaintext; returns undefined if it is malformed (the caller names file and offset). */
export function decodeEntry(index: number, plain: Uint8Array): Entry | undefined {
  if (plain.length < entryHeaderBytes) return undefined;
  const view = new DataView(plain.buffer, plain.byteOffset, plain.byteLength);
  const type = view.getUint8(0);
  if (type > 1) return undefined;
  const term = readU64(view, 1);
  return { index, term, type: type === 0 ? 'normal' : 'confChange', data: plain.subarray(entryHeaderBytes) };
}

export function encodeState(state: WalState): Uint8Array {
  return encodeMsgpack({ hardState: state.hardState, confState: state.confState });
}

export function decodeState(plain: Uint8Array): WalState | undefined {
  const value = safeUnpack(plain);
  if (!isObject(value) || !isObject(value.hardState) || !isObject(value.confState)) return undefined;
  const hs = value.hardState;
  if (!isCount(hs.term) || !isCount(hs.vote) || !isCount(hs.commit)) return undefined;
  const confState = decodeConfState(value.confState);
  if (confState === undefined) return undefined;
  return { hardState: { term: hs.term, vote: hs.vote, commit: hs.commit }, confState };
}

export function encodeMarker(marker: SnapshotMarker): Uint8Array {
  return encodeMsgpack(marker);
}

export function decodeMarker(plain: Uint8Array): SnapshotMarker | undefined {
  const value = safeUnpack(plain);
  if (!isObject(value) || !isCount(value.index) || !isCount(value.term) || !isCount(value.chunks) || !isCount(value.bytes)) return undefined;
  const confState = isObject(value.confState) ? decodeConfState(value.confState) : undefined;
  if (confState === undefined) return undefined;
  return { index: value.index, term: value.term, confState, chunks: value.chunks, bytes: value.bytes };
}

function decodeConfState(value: Record<string, unknown>): ConfState | undefined {
  const ids = (v: unknown): number[] | undefined => (Array.isArray(v) && v.every(isCount) ? [...v] : undefined);
  const voters = ids(value.voters);
  const learners = ids(value.learners);
  const votersOutgoing = ids(value.votersOutgoing);
  const learnersNext = ids(value.learnersNext);
  if (!voters || !learners || !votersOutgoing || !learnersNext || typeof value.autoLeave !== 'boolean') return undefined;
  return { voters, learners, votersOutgoing, learnersNext, autoLeave: value.autoLeave };
}

function safeUnpack(plain: Uint8Array): unknown {
  try {
    return decodeMsgpack(plain);
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
