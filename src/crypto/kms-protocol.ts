/**
 * The KMS plugin protocol (documented in README.md next to this file). One request per connection over
 * a Unix stream socket: the client writes one JSON line, the plugin answers one JSON line and closes.
 * Binary fields are base64.
 */

export const kmsProtocolVersion = 1;

export type KmsRequest =
  | { v: 1; op: 'wrap'; keyId: string | null; plaintext: string; aad: string }
  | { v: 1; op: 'unwrap'; keyId: string; ciphertext: string; aad: string };

export type KmsResponse =
  | { ok: true; keyId: string; ciphertext: string }
  | { ok: true; plaintext: string }
  | { ok: false; code: KmsErrorCode; error: string };

/** `unauthentic`: the ciphertext does not open under that key (wrong key, altered data). */
export type KmsErrorCode = 'unauthentic' | 'unknown-key' | 'bad-request' | 'internal';

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
