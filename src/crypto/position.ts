/**
 * Where a sealed page lives. The position is bound into the page as additional data, so a page copied
 * to another store, kind, index or sub-slot fails to open there.
 */
import { assert } from '../base/index.ts';
import { storeIdBytesMax } from '../config/index.ts';

export const RecordKind = {
  walEntry: 1,
  walHardState: 2,
  walSnapshot: 3,
  mvccRevision: 4,
  mvccMeta: 5,
  keyring: 6,
  audit: 7,
  backup: 8,
  memberIdentity: 9,
  mvccLease: 10,
  mvccIndexCheckpoint: 11,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

const kindNames = new Map<number, string>(Object.entries(RecordKind).map(([name, value]) => [value, name]));

/** The name of a kind for messages ('walEntry'), or 'kind <n>' for an unknown number. */
export function recordKindName(kind: number): string {
  return kindNames.get(kind) ?? `kind ${kind}`;
}

/** Where a page lives; bound as additional data so a moved, swapped or replayed page fails to open. */
export interface PagePosition {
  /** Which store (member data dir + store name) the page belongs to. */
  storeId: string;
  kind: RecordKind;
  /** Revision or log index: a safe integer >= 0. */
  index: number;
  /** A slot within the index (a chunk number, a field), 0..2^32-1. */
  sub: number;
}

const encoder = new TextEncoder();

/**
 * The additional data for a page: a domain tag, the position and the page header (version, DEK id,
 * nonce). Invariant: two distinct positions never encode to the same bytes (length-prefixed store id,
 * fixed-width numbers).
 */
export function encodeAdditionalData(position: PagePosition, header: Uint8Array): Uint8Array {
  const storeId = storeIdBytes(position.storeId);
  assert(storeId.length <= storeIdBytesMax, `store id of ${storeId.length} bytes exceeds ${storeIdBytesMax}`);
  assert(kindNames.has(position.kind), `record kind ${position.kind} is not a RecordKind`);
  assert(Number.isSafeInteger(position.index) && position.index >= 0, `page index ${position.index} is not a safe integer >= 0`);
  assert(Number.isInteger(position.sub) && position.sub >= 0 && position.sub <= 0xffff_ffff, `page sub ${position.sub} is not a u32`);
  const tag = domainTag;
  const out = new Uint8Array(tag.length + 2 + storeId.length + 1 + 8 + 4 + header.length);
  const view = new DataView(out.buffer);
  let at = 0;
  out.set(tag, at);
  at += tag.length;
  view.setUint16(at, storeId.length);
  at += 2;
  out.set(storeId, at);
  at += storeId.length;
  view.setUint8(at, position.kind);
  at += 1;
  // The index as a big-endian u64: a safe integer's high 21 bits and low 32.
  view.setUint32(at, Math.floor(position.index / 0x1_0000_0000));
  view.setUint32(at + 4, position.index >>> 0);
  at += 8;
  view.setUint32(at, position.sub);
  at += 4;
  out.set(header, at);
  return out;
}

const domainTag = encoder.encode('coffer/page/v1\u0000');

/** The last store id encoded, and its bytes: a store seals and opens its pages under one id, a page at a time. */
let lastStoreId = { id: '', bytes: new Uint8Array(0) };

function storeIdBytes(id: string): Uint8Array {
  if (lastStoreId.id !== id) lastStoreId = { id, bytes: encoder.encode(id) };
  return lastStoreId.bytes;
}

/** "walEntry index 7 sub 0" — for error messages; never contains page content. */
export function describePosition(position: PagePosition): string {
  return `${recordKindName(position.kind)} index ${position.index} sub ${position.sub} of store ${JSON.stringify(position.storeId)}`;
}
