/**
 * Keys are bytes (as in etcd). Inside the index a key is held as a latin1 string — one char per byte —
 * so JavaScript's string order is exactly the bytewise order of the keys, and Map lookups are cheap.
 *
 * Range convention (etcd's): `end` absent or empty means the single key `key`; `end` = [0x00] means every
 * key >= `key`; otherwise the half-open interval [key, end). A prefix is [prefix, prefixEnd(prefix)).
 */
import { Buffer } from 'node:buffer';

export function keyToString(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

export function stringToKey(key: string): Uint8Array {
  return new Uint8Array(Buffer.from(key, 'latin1'));
}

/** A key interval in index form. `end` undefined: one key; `end` null: no upper bound. */
export interface KeySpan {
  start: string;
  end: string | undefined | null;
}

export function toSpan(key: Uint8Array, end: Uint8Array | undefined): KeySpan {
  const start = keyToString(key);
  if (end === undefined || end.length === 0) return { start, end: undefined };
  if (end.length === 1 && end[0] === 0) return { start, end: null };
  return { start, end: keyToString(end) };
}

export function spanContains(span: KeySpan, key: string): boolean {
  if (span.end === undefined) return key === span.start;
  return key >= span.start && (span.end === null || key < span.end);
}

/** The smallest key greater than every key with this prefix; [0x00] (no bound) if there is none. */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = Uint8Array.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Uint8Array.of(0);
}
