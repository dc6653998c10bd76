/**
 * A revision is (main, sub): `main` is the store-wide counter, bumped once per write operation or
 * transaction that changes something; `sub` numbers the changes inside it. On disk a revision page is
 * keyed only by its revision: 'r' | main u64 BE | sub u32 BE — so byte order is revision order and
 * no key name appears in the clear.
 */
import { assert } from '../../base/index.ts';

export interface Revision {
  main: number;
  sub: number;
}

export const revisionKeyBytes = 13;
const pagePrefix = 0x72; // 'r'
/** The one meta record: 'm'. */
export const metaRecordKey = Uint8Array.of(0x6d);
export const subMax = 0xffff_ffff;

export function compareRevisions(a: Revision, b: Revision): number {
  return a.main !== b.main ? a.main - b.main : a.sub - b.sub;
}

export function encodeRevisionKey(main: number, sub: number): Uint8Array {
  assert(Number.isSafeInteger(main) && main >= 0, `revision main ${main} is not a safe integer >= 0`);
  assert(Number.isInteger(sub) && sub >= 0 && sub <= subMax, `revision sub ${sub} is not a u32`);
  const out = new Uint8Array(revisionKeyBytes);
  const view = new DataView(out.buffer);
  out[0] = pagePrefix;
  view.setBigUint64(1, BigInt(main));
  view.setUint32(9, sub);
  return out;
}

export function isRevisionKey(key: Uint8Array): boolean {
  return key.length === revisionKeyBytes && key[0] === pagePrefix;
}

export function decodeRevisionKey(key: Uint8Array): Revision {
  assert(isRevisionKey(key), `record key of ${key.length} bytes is not a revision key`);
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
  return { main: Number(view.getBigUint64(1)), sub: view.getUint32(9) };
}

/** Bounds covering every revision page with main in [fromMain, toMain]. */
export function revisionKeyRange(fromMain: number, toMain: number): { gte: Uint8Array; lte: Uint8Array } {
  return { gte: encodeRevisionKey(fromMain, 0), lte: encodeRevisionKey(toMain, subMax) };
}
