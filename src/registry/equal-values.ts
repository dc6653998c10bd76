/**
 * Equality of stored objects and their values without a timing side channel. Objects here hold Secret
 * data, so every string is compared in constant time (crypto's equalConstantTime over its UTF-8 bytes,
 * wiped afterwards), and every string of two objects is compared whatever the first difference; only
 * the shape — keys, array lengths, the kinds of values — and a string's length may decide early. Every
 * comparison of an object that may hold Secret values goes through here (docs/security.md).
 */
import { isDeepStrictEqual } from 'node:util';
import { equalConstantTime, wipe } from '../crypto/index.ts';

const encoder = new TextEncoder();

/** isDeepStrictEqual for JSON-shaped values (plain objects, arrays, strings, numbers, booleans, null, undefined), strings in constant time. */
export function equalValues(a: unknown, b: unknown): boolean {
  if (typeof a === 'string' && typeof b === 'string') return equalStrings(a, b);
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false;
    let same = true;
    for (let i = 0; i < a.length; i++) same = equalValues(a[i], b[i]) && same;
    return same;
  }
  if (isPlainObject(a) && isPlainObject(b) && Object.getPrototypeOf(a) === Object.getPrototypeOf(b)) {
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length || !keys.every((key) => Object.hasOwn(b, key))) return false;
    let same = true;
    for (const key of keys) same = equalValues(a[key], b[key]) && same;
    return same;
  }
  // Anything else holds no string to hide, or differs in kind: numbers, booleans, null, undefined, mixed
  // kinds, objects of different prototypes (as isDeepStrictEqual, a null-prototype object is not {}), class instances.
  return isDeepStrictEqual(a, b);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function equalStrings(a: string, b: string): boolean {
  const aBytes = encoder.encode(a);
  const bBytes = encoder.encode(b);
  try {
    return equalConstantTime(aBytes, bBytes);
  } finally {
    wipe(aBytes);
    wipe(bBytes);
  }
}
