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

// Audit records are shallow (an event with request/response bodies); anything deeper is a bug or an attack.
const depthMax = 64;

function sortKeys(value: unknown, depth: number): unknown {
  assert(depth <= depthMax, `audit record nests deeper than ${depthMax} levels`);
  if (Array.isArray(value)) return value.map((item) => sortKeys(item, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const item = (value as Record<string, unknown>)[key];
      if (item !== undefined) out[key] = sortKeys(item, depth + 1);
    }
    return out;
  }
  if (typeof value === 'number') assert(Number.isFinite(value), `audit record holds a non-finite number ${value}`);
  return value;
}
