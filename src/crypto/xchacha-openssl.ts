/**
 * XChaCha20-Poly1305-IETF through OpenSSL (node:crypto), for large pages. The construction is the
 * XChaCha20 one (draft-irtf-cfrg-xchacha): a subkey HChaCha20(key, nonce[0..16)), then ChaCha20-Poly1305
 * (RFC 8439) under it with the 12-byte nonce 0^4 ‖ nonce[16..24). Its bytes are libsodium's
 * crypto_aead_xchacha20poly1305_ietf_* exactly; a test seals with each and opens with the other.
 *
 * HChaCha20 is ChaCha20's block function without the final addition of the input state. OpenSSL's
 * raw ChaCha20, given the 16 nonce bytes as its counter ‖ nonce IV, returns one block with that addition
 * made (the key stream of 64 zero bytes); subtracting the input words it added — the four constants
 * and the four nonce words — leaves HChaCha20's eight output words.
 *
 * libsodium's WebAssembly build stays faster for small pages (one call, no cipher contexts, no copies
 * through a wasm heap that matter at that size), so page.ts takes this path only from
 * opensslAeadBytesMin up (measured in docs/performance.md, "start-up after three changes").
 */
import { createCipheriv, createDecipheriv, getCiphers } from 'node:crypto';
import { wipe } from './sodium.ts';

/** Plaintext bytes from which a page is sealed and opened through OpenSSL rather than libsodium. */
export const opensslAeadBytesMin = 8192;
/** Whether node's OpenSSL has both ciphers the construction needs; without them libsodium takes every page. */
const opensslCiphers = getCiphers();
const opensslHasChaCha = opensslCiphers.includes('chacha20') && opensslCiphers.includes('chacha20-poly1305');

/** Whether a page of `plaintextBytes` goes through OpenSSL. */
export function throughOpenssl(plaintextBytes: number): boolean {
  return opensslHasChaCha && plaintextBytes >= opensslAeadBytesMin;
}

const keyBytes = 32;
const nonceBytes = 24;
const tagBytes = 16;
/** "expand 32-byte k", ChaCha20's constants, as little-endian words. */
const sigma = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574] as const;
const zeroBlock = new Uint8Array(64);

/** HChaCha20(key, input16): the 32-byte subkey. The caller wipes it. */
export function hchacha20(key: Uint8Array, input16: Uint8Array): Buffer {
  const block = createCipheriv('chacha20', key, input16).update(zeroBlock);
  const words = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const input = new DataView(input16.buffer, input16.byteOffset, input16.byteLength);
  const subkey = Buffer.alloc(keyBytes);
  for (let i = 0; i < 4; i++) {
    subkey.writeUInt32LE((words.getUint32(4 * i, true) - sigma[i]!) >>> 0, 4 * i);
    subkey.writeUInt32LE((words.getUint32(48 + 4 * i, true) - input.getUint32(4 * i, true)) >>> 0, 16 + 4 * i);
  }
  wipe(block);
  return subkey;
}

/** ChaCha20-Poly1305's 12-byte nonce for an XChaCha20 nonce: four zero bytes, then its last eight. */
function innerNonce(nonce: Uint8Array): Buffer {
  const inner = Buffer.alloc(12);
  inner.set(nonce.subarray(16, nonceBytes), 4);
  return inner;
}

function checkSizes(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== keyBytes || nonce.length !== nonceBytes) throw new RangeError(`XChaCha20-Poly1305 takes a ${keyBytes}-byte key and a ${nonceBytes}-byte nonce`);
}

/** Encrypts `plaintext`: ciphertext ‖ 16-byte tag, as libsodium's encrypt returns it. */
export function xchachaSealOpenssl(plaintext: Uint8Array, additional: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array {
  checkSizes(key, nonce);
  const subkey = hchacha20(key, nonce.subarray(0, 16));
  try {
    const cipher = createCipheriv('chacha20-poly1305', subkey, innerNonce(nonce), { authTagLength: tagBytes });
    cipher.setAAD(additional, { plaintextLength: plaintext.length });
    const out = new Uint8Array(plaintext.length + tagBytes);
    out.set(cipher.update(plaintext), 0);
    cipher.final();
    out.set(cipher.getAuthTag(), plaintext.length);
    return out;
  } finally {
    wipe(subkey);
  }
}

/** Decrypts ciphertext ‖ tag; undefined when it does not authenticate (nothing of it is returned then). */
export function xchachaOpenOpenssl(sealed: Uint8Array, additional: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | undefined {
  checkSizes(key, nonce);
  if (sealed.length < tagBytes) return undefined;
  const length = sealed.length - tagBytes;
  const subkey = hchacha20(key, nonce.subarray(0, 16));
  let plain: Buffer | undefined;
  try {
    const decipher = createDecipheriv('chacha20-poly1305', subkey, innerNonce(nonce), { authTagLength: tagBytes });
    decipher.setAAD(additional, { plaintextLength: length });
    decipher.setAuthTag(sealed.subarray(length));
    plain = decipher.update(sealed.subarray(0, length));
    decipher.final();
    // A plain Uint8Array over the same bytes: a Buffer's slice() would share memory where callers expect a copy.
    return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
  } catch {
    wipe(plain);
    return undefined;
  } finally {
    wipe(subkey);
  }
}
