/**
 * Canonical JSON: object keys sorted by UTF-16 code unit order at every depth, no whitespace, values
 * as JSON.stringify writes them. Audit lines are written in this form and hashed in this form, so a
 * verifier recomputes the same bytes from a parsed line, and any re-serialisation (a duplicated key,
 * changed spacing, reordered keys) is visible as a mismatch between the line and its canonical form.
 * Invariant: canonicalJson(JSON.parse(canonicalJson(x))) === canonicalJson(x) for JSON data.
 */
import { assert } from '../base/index.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value, 0));
}

/** One member of an object's canonical JSON: its key and its `"key":value` text. */
export interface CanonicalMember {
  key: string;
  text: string;
}

/**
 * The members of `value`'s canonical JSON, in canonical order (members JSON leaves out are left out):
 * joinMembers(canonicalMembers(x)) === canonicalJson(x). For a record that is serialised twice with one
 * more top-level member the second time (the audit chain's hash), so its values are serialised once.
 */
export function canonicalMembers(value: object): CanonicalMember[] {
  const members: CanonicalMember[] = [];
  for (const key of Object.keys(value).sort()) {
    const item = (value as Record<string, unknown>)[key];
    const text = item === undefined ? undefined : (JSON.stringify(sortKeys(item, 1)) as string | undefined);
    if (text !== undefined) members.push({ key, text: `${JSON.stringify(key)}:${text}` });
  }
  return members;
}

/** The canonical JSON of an object given as its canonical members, with `extra` (a key not among them) in its place. */
export function joinMembers(members: readonly CanonicalMember[], extra?: CanonicalMember): string {
  if (extra === undefined) return `{${members.map((m) => m.text).join(',')}}`;
  const texts: string[] = [];
  let placed = false;
  for (const member of members) {
    assert(member.key !== extra.key, `the member ${extra.key} is already in the object`);
    if (!placed && extra.key < member.key) {
      texts.push(extra.text);
      placed = true;
    }
    texts.push(member.text);
  }
  if (!placed) texts.push(extra.text);
  return `{${texts.join(',')}}`;
}

// Audit records are shallow (an event with request/response bodies); anything deeper is a bug or an attack.
const depthMax = 64;

function sortKeys(value: unknown, depth: number): unknown {
  if (depth > depthMax) assert(false, `audit record nests deeper than ${depthMax} levels`);
  if (Array.isArray(value)) return value.map((item) => sortKeys(item, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const item = (value as Record<string, unknown>)[key];
      if (item !== undefined) out[key] = sortKeys(item, depth + 1);
    }
    return out;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) assert(false, `audit record holds a non-finite number ${value}`);
  return value;
}
