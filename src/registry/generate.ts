/**
 * Server-side generation of Secret values, shared by `rotate --generate` (the API) and scheduled
 * rotation (the coffer.dev/rotate-generate annotation): a spec names a key, a length and a charset;
 * values are drawn with node:crypto's randomInt, which rejects rather than reduces modulo, so every
 * character of the charset is equally likely.
 *
 * Invariants: a value exists only in the returned map (base64, as Secret data holds it); the buffer
 * that built it is wiped; spec errors name the key and the bad length or charset, never a value.
 */
import { randomInt } from 'node:crypto';
import { setOwnMember } from '../base/index.ts';
import { generatedKeysMax, generatedValueCharsMax } from '../config/index.ts';

export const generateCharsets: Readonly<Record<string, string>> = {
  alnum: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
  hex: '0123456789abcdef',
  base64: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
  // Printable ASCII without the space.
  ascii: Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i)).join(''),
};
export const generatedLengthDefault = 32;
export const generatedCharsetDefault = 'alnum';

export interface GenerateSpec {
  key: string;
  length: number;
  charset: string;
}

/** Checks one spec's length and charset (defaults filled in); the error message, or the spec. */
export function checkGenerateSpec(key: string, length: unknown, charset: unknown): GenerateSpec | string {
  const len = length === undefined ? generatedLengthDefault : length;
  if (typeof len !== 'number' || !Number.isInteger(len) || len < 1 || len > generatedValueCharsMax) {
    return `generate[${JSON.stringify(key.slice(0, 64))}].length ${JSON.stringify(len)} must be an integer from 1 to ${generatedValueCharsMax}`;
  }
  const name = charset === undefined ? generatedCharsetDefault : charset;
  if (typeof name !== 'string' || !Object.hasOwn(generateCharsets, name)) {
    return `generate[${JSON.stringify(key.slice(0, 64))}].charset ${JSON.stringify(name).slice(0, 64)} is not one of ${Object.keys(generateCharsets).join(', ')}`;
  }
  return { key, length: len, charset: name };
}

/**
 * `key[:length[:charset]][,…]` — the CLI's --generate syntax, comma-separated — as specs, or the
 * message saying what is wrong. Keys must be distinct; there are 1 to generatedKeysMax of them.
 */
export function parseGenerateList(text: string): GenerateSpec[] | string {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.length > generatedKeysMax || parts.some((p) => p === '')) {
    return `must be 1 to ${generatedKeysMax} comma-separated key[:length[:charset]]`;
  }
  const specs: GenerateSpec[] = [];
  for (const part of parts) {
    const [key = '', length, charset, ...extra] = part.split(':');
    if (key === '' || extra.length > 0 || (length !== undefined && !/^\d{1,6}$/.test(length))) {
      return `${JSON.stringify(part.slice(0, 64))} must be key[:length[:charset]]`;
    }
    const spec = checkGenerateSpec(key, length === undefined ? undefined : Number(length), charset);
    if (typeof spec === 'string') return spec;
    if (specs.some((s) => s.key === key)) return `key ${JSON.stringify(key.slice(0, 64))} is named twice`;
    specs.push(spec);
  }
  return specs;
}

/** A fresh value for each spec, base64-encoded. */
export function generateValues(specs: readonly GenerateSpec[]): Record<string, string> {
  const out: Record<string, string> = {};
  // setOwnMember: a key named __proto__ is a data key like any other, never the prototype.
  for (const spec of specs) setOwnMember(out, spec.key, generate(spec.length, generateCharsets[spec.charset]!));
  return out;
}

/** `length` characters drawn uniformly from `charset`, base64-encoded. */
export function generate(length: number, charset: string): string {
  const bytes = Buffer.alloc(length);
  try {
    for (let i = 0; i < length; i += 1) bytes[i] = charset.charCodeAt(randomInt(charset.length));
    return bytes.toString('base64');
  } finally {
    bytes.fill(0);
  }
}
