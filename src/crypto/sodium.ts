/**
 * The one place libsodium is loaded. Its WebAssembly module initialises asynchronously, so every async
 * entry point of src/crypto awaits `sodiumReady()` before any synchronous seal/open can run.
 */
import sodium from 'libsodium-wrappers';

let ready: Promise<typeof sodium> | undefined;

export function sodiumReady(): Promise<typeof sodium> {
  ready ??= sodium.ready.then(() => sodium);
  return ready;
}

export { sodium };

/** Overwrites a buffer holding key material or plaintext. */
export function wipe(buffer: Uint8Array | undefined): void {
  if (buffer !== undefined && buffer.length > 0) sodium.memzero(buffer);
}

/** Constant-time equality for secrets and MACs; false on differing lengths (lengths are not secret). */
export function equalConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return sodium.memcmp(a, b);
}
