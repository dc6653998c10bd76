/**
 * The sealed page format, the single point of encryption for everything a member writes:
 *
 *   version u8 (=1) | DEK id u32 BE | nonce 24 bytes | XChaCha20-Poly1305-IETF ciphertext + 16-byte tag
 *
 * The additional data is the page's position plus the 29-byte header (see position.ts), so every bit
 * of the header is authenticated and a page opens only at the position it was sealed for. Pages of
 * opensslAeadBytesMin bytes or more go through OpenSSL (xchacha-openssl.ts) where it has the ciphers,
 * smaller ones through libsodium: the same bytes either way.
 */
import { IntegrityError } from './errors.ts';
import { type NoncePool, nonceBytes } from './nonces.ts';
import { describePosition, encodeAdditionalData, type PagePosition } from './position.ts';
import { sodium } from './sodium.ts';
import { throughOpenssl, xchachaOpenOpenssl, xchachaSealOpenssl } from './xchacha-openssl.ts';

export const pageFormatVersion = 1;
export const pageHeaderBytes = 1 + 4 + nonceBytes;
export const pageTagBytes = 16;
/** Bytes a sealed page adds to its plaintext. */
export const pageOverheadBytes = pageHeaderBytes + pageTagBytes;

export interface Sealer {
  /** Encrypts `plaintext` for `position` under the active DEK; the caller still owns (and wipes) plaintext. */
  seal(plaintext: Uint8Array, position: PagePosition): Uint8Array;
  /** Decrypts a page sealed for `position`; throws IntegrityError if it was altered, moved or swapped. */
  open(sealed: Uint8Array, position: PagePosition): Uint8Array;
  /** The id of the DEK new pages are sealed with. */
  activeDekId(): number;
  /** The id of the DEK a sealed page names in its header (unauthenticated until opened). */
  dekIdOf(sealed: Uint8Array): number;
}

/** Reads the DEK id from a page header; throws IntegrityError if the header is not a page header. */
export function dekIdOfPage(sealed: Uint8Array): number {
  if (sealed.length < pageOverheadBytes) {
    throw new IntegrityError(`sealed page of ${sealed.length} bytes is shorter than the ${pageOverheadBytes}-byte minimum`);
  }
  if (sealed[0] !== pageFormatVersion) {
    throw new IntegrityError(`sealed page has format version ${sealed[0]}, expected ${pageFormatVersion}`);
  }
  return new DataView(sealed.buffer, sealed.byteOffset, sealed.byteLength).getUint32(1);
}

export function sealPage(
  plaintext: Uint8Array,
  position: PagePosition,
  dekId: number,
  dek: Uint8Array,
  nonces: NoncePool,
): Uint8Array {
  const header = new Uint8Array(pageHeaderBytes);
  header[0] = pageFormatVersion;
  new DataView(header.buffer).setUint32(1, dekId);
  nonces.take(header, 5);
  const nonce = header.subarray(5);
  const additional = encodeAdditionalData(position, header);
  const ciphertext = throughOpenssl(plaintext.length)
    ? xchachaSealOpenssl(plaintext, additional, nonce, dek)
    : sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, additional, null, nonce, dek);
  const out = new Uint8Array(pageHeaderBytes + ciphertext.length);
  out.set(header, 0);
  out.set(ciphertext, pageHeaderBytes);
  return out;
}

export function openPage(
  sealed: Uint8Array,
  position: PagePosition,
  dekById: (id: number) => Uint8Array | undefined,
): Uint8Array {
  // Described only for an error: every page a member opens at start-up passes here.
  const where = () => describePosition(position);
  let dekId: number;
  try {
    dekId = dekIdOfPage(sealed);
  } catch (error) {
    throw new IntegrityError(`page ${where()} failed to open: ${(error as Error).message}`);
  }
  const dek = dekById(dekId);
  if (dek === undefined) throw new IntegrityError(`page ${where()} failed to open: it names DEK ${dekId}, which the keyring does not hold`);
  const header = sealed.subarray(0, pageHeaderBytes);
  const nonce = sealed.subarray(5, pageHeaderBytes);
  const additional = encodeAdditionalData(position, header);
  const ciphertext = sealed.subarray(pageHeaderBytes);
  if (throughOpenssl(ciphertext.length - pageTagBytes)) {
    const plain = xchachaOpenOpenssl(ciphertext, additional, nonce, dek);
    if (plain === undefined) throw authenticationFailed(where());
    return plain;
  }
  try {
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, additional, nonce, dek);
  } catch {
    // libsodium says only "ciphertext cannot be decrypted using that key"; nothing about contents.
    throw authenticationFailed(where());
  }
}

function authenticationFailed(where: string): IntegrityError {
  return new IntegrityError(`page ${where} failed to open: authentication failed (altered, moved, swapped or replayed)`);
}
