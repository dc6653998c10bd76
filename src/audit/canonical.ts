/**
 * Canonical JSON: at every depth, an object's keys in the order JSON.stringify writes an object whose
 * keys were added sorted by UTF-16 code units — keys that are array indexes ("0", "9", "10") first, in
 * numeric order, then the others by code units (a verifier written elsewhere must order them so too);
 * no whitespace, values as JSON.stringify writes them. Audit lines are written in this form and hashed
 * in this form, so a verifier recomputes the same bytes from a parsed line, and any re-serialisation (a
 * duplicated key, changed spacing, reordered keys) is visible as a mismatch between the line and its
 * canonical form.
 * Invariant: canonicalJson(JSON.parse(canonicalJson(x))) === canonicalJson(x) for JSON data.
 */
import { assert, byCodeUnits, setOwnMember, sortInPlace } from '../base/index.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonicalValue(value, 0));
}

/** An object's canonical JSON split around a member it lacks: the members before it and after it, each without braces. */
export interface CanonicalAround {
  before: string;
  after: string;
}

/**
 * The canonical JSON of the members of `value` and `extra` together (no name in both), split around
 * `name` (in neither), so that a record serialised twice, the second time with one more member (the
 * audit chain's hash), has its values serialised once and no merged copy of it is made:
 * `{${before},${after}}` (a comma only between two non-empty parts) is canonicalJson({...value, ...extra}).
 */
export function canonicalAround(value: object, extra: Readonly<Record<string, unknown>>, name: string): CanonicalAround {
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  const names = Object.keys(value);
  for (const key of Object.keys(extra)) {
    assert(!Object.hasOwn(value, key), `the member ${key} is already in the object`);
    names.push(key);
  }
  for (const key of sortInPlace(names, byCodeUnits)) {
    const item = Object.hasOwn(extra, key) ? extra[key] : (value as Record<string, unknown>)[key];
    if (item === undefined) continue;
    assert(key !== name, `the member ${name} is already in the object`);
    setOwnMember(key < name ? before : after, key, canonicalValue(item, 1));
  }
  return { before: JSON.stringify(before).slice(1, -1), after: JSON.stringify(after).slice(1, -1) };
}

/** The canonical JSON of an object given split around a member, without that member, or with it (`text`: its `"name":value`). */
export function joinAround({ before, after }: CanonicalAround, text = ''): string {
  let inner = before;
  if (text !== '') inner = inner === '' ? text : `${inner},${text}`;
  if (after !== '') inner = inner === '' ? after : `${inner},${after}`;
  return `{${inner}}`;
}

// Audit records are shallow (an event with request/response bodies); anything deeper is a bug or an attack.
const depthMax = 64;

/**
 * `value` in a form JSON.stringify writes canonically: `value` itself when it already is one (a record
 * parsed from a canonical line, as every member's log appends the records that travel in entries), so
 * nothing is copied; otherwise a copy with its keys sorted at every depth.
 */
function canonicalValue(value: unknown, depth: number): unknown {
  return inCanonicalOrder(value, depth) ? value : sortKeys(value, depth);
}

/**
 * Whether JSON.stringify writes `value` as it writes its sorted copy: plain objects only (a Date, a
 * Buffer or any other class has a toJSON or keys of its own that the copy does not keep), each with
 * its keys strictly increasing, at every depth. Checks the limits as it goes.
 */
function inCanonicalOrder(value: unknown, depth: number): boolean {
  withinLimits(value, depth);
  if (Array.isArray(value)) return value.every((item) => inCanonicalOrder(item, depth + 1));
  if (value !== null && typeof value === 'object') {
    const prototype: unknown = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) return false;
    const keys = Object.keys(value);
    for (let i = 0; i < keys.length; i++) {
      if (i > 0 && !(keys[i - 1]! < keys[i]!)) return false;
      if (!inCanonicalOrder((value as Record<string, unknown>)[keys[i]!], depth + 1)) return false;
    }
  }
  return true;
}

/** What no record may hold, whether it is copied or not: nesting past depthMax, a number JSON cannot write. */
function withinLimits(value: unknown, depth: number): void {
  if (depth > depthMax) assert(false, `audit record nests deeper than ${depthMax} levels`);
  if (typeof value === 'number' && !Number.isFinite(value)) assert(false, `audit record holds a non-finite number ${value}`);
}

function sortKeys(value: unknown, depth: number): unknown {
  withinLimits(value, depth);
  if (Array.isArray(value)) return value.map((item) => sortKeys(item, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of sortInPlace(Object.keys(value), byCodeUnits)) {
      const item = (value as Record<string, unknown>)[key];
      if (item !== undefined) setOwnMember(out, key, sortKeys(item, depth + 1));
    }
    return out;
  }
  return value;
}
