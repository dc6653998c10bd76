/**
 * A KEK held in memory as 32 bytes (from a passphrase or a key file). Wrapping is
 * XChaCha20-Poly1305-IETF with a random nonce: wrapped = nonce (24) | ciphertext + tag.
 */
import { randomFillSync } from 'node:crypto';
import type { Kek, KekRecord } from './kek.ts';
import { sodium, wipe } from './sodium.ts';

export const kekBytes = 32;
const nonceBytes = 24;

export function localKek(key: Uint8Array, record: KekRecord): Kek {
  // Our own copy, so the caller can wipe theirs; wiped by kek.wipe().
  const kek = Uint8Array.from(key);
  return {
    record,
    wrap(plain, additional) {
      const nonce = randomFillSync(new Uint8Array(nonceBytes));
      const sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plain, additional, null, nonce, kek);
      const out = new Uint8Array(nonceBytes + sealed.length);
      out.set(nonce, 0);
      out.set(sealed, nonceBytes);
      return Promise.resolve(out);
    },
    unwrap(wrapped, additional) {
      if (wrapped.length < nonceBytes + sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES) return Promise.resolve(undefined);
      try {
        return Promise.resolve(sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
          null, wrapped.subarray(nonceBytes), additional, wrapped.subarray(0, nonceBytes), kek));
      } catch {
        return Promise.resolve(undefined);
      }
    },
    wipe() {
      wipe(kek);
    },
  };
}
