/**
 * Private keys on disk: PKCS#8 PEM, or — when a passphrase is given (the CA's key) — an encrypted
 * PKCS#8 written here: EncryptedPrivateKeyInfo (RFC 5958) under PBES2 (RFC 8018), PBKDF2-HMAC-SHA256 at
 * caKeyPbkdf2Iterations and AES-256-CBC, which node and OpenSSL read. node's own export takes OpenSSL's
 * default of 2,048 iterations, too few for a key that can be carried away and guessed at; a key written
 * that way still loads, as readers take the count from the file. Conversion goes through node:crypto;
 * the plaintext DER and the derived key are wiped once used. (PEM text lives in JS strings, which cannot
 * be wiped; callers keep them short-lived.)
 */
import { createCipheriv, createPrivateKey, type KeyObject, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { caKeyPbkdf2Iterations } from '../config/index.ts';
import { binary, integer, nullValue, octets, oid, seq, toDer } from './asn1.ts';
import { type CryptoKey, keyAlgorithm, subtle, x509 } from './crypto-provider.ts';
import { PkiError } from './errors.ts';

const encryptedPemLabel = '-----BEGIN ENCRYPTED PRIVATE KEY-----';
/** PBKDF2 salt: 128 bits, NIST SP 800-132's least. */
const saltBytes = 16;
/** AES-256's key. */
const aesKeyBytes = 32;
/** One AES block: CBC's IV. */
const ivBytes = 16;

const pbkdf2Async = promisify(pbkdf2);

export async function privateKeyToPem(key: CryptoKey, passphrase?: string): Promise<string> {
  const der = Buffer.from(await subtle.exportKey('pkcs8', key));
  try {
    if (passphrase !== undefined) {
      return x509.PemConverter.encode(await encryptPkcs8(der, passphrase), 'ENCRYPTED PRIVATE KEY') + '\n';
    }
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString();
  } finally {
    der.fill(0);
  }
}

/** The DER EncryptedPrivateKeyInfo of `pkcs8Der` under `passphrase` (see the header). */
async function encryptPkcs8(pkcs8Der: Buffer, passphrase: string): Promise<Buffer> {
  const salt = randomBytes(saltBytes);
  const iv = randomBytes(ivBytes);
  const secret = Buffer.from(passphrase, 'utf8');
  const key = await pbkdf2Async(secret, salt, caKeyPbkdf2Iterations, aesKeyBytes, 'sha256').finally(() => secret.fill(0));
  let encrypted: Buffer;
  try {
    const cipher = createCipheriv('aes-256-cbc', key, iv);
    encrypted = Buffer.concat([cipher.update(pkcs8Der), cipher.final()]);
  } finally {
    key.fill(0);
  }
  return toDer(seq([
    seq([oid('pkcs5PBES2'), seq([
      seq([oid('pkcs5PBKDF2'), seq([octets(binary(salt)), integer(caKeyPbkdf2Iterations), seq([oid('hmacWithSHA256'), nullValue()])])]),
      seq([oid('aes256-CBC'), octets(binary(iv))]),
    ])]),
    octets(binary(encrypted)),
  ]));
}

export function isEncryptedKeyPem(pem: string): boolean {
  return pem.includes(encryptedPemLabel);
}

/**
 * Parses a P-256 private key PEM into a node KeyObject. `path` only names the file in errors; an
 * encrypted key without (or with the wrong) passphrase is CA_PASSPHRASE_REQUIRED / _WRONG.
 */
export function parsePrivateKeyPem(pem: string, path: string, passphrase?: string): KeyObject {
  const encrypted = isEncryptedKeyPem(pem);
  if (encrypted && passphrase === undefined) {
    throw new PkiError('CA_PASSPHRASE_REQUIRED', `${path} is encrypted: set COFFER_CA_PASSPHRASE`);
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(encrypted ? { key: pem, format: 'pem', passphrase } : { key: pem, format: 'pem' });
  } catch (cause) {
    if (encrypted) throw new PkiError('CA_PASSPHRASE_WRONG', `COFFER_CA_PASSPHRASE does not decrypt ${path}`, { cause });
    throw new PkiError('BAD_PEM', `${path} is not a PEM private key`, { cause });
  }
  if (keyObject.asymmetricKeyType !== 'ec' || keyObject.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new PkiError('BAD_PEM', `${path} is not an ECDSA P-256 private key`);
  }
  return keyObject;
}

/** A non-extractable WebCrypto signing key from a parsed private key. */
export async function toSigningKey(keyObject: KeyObject): Promise<CryptoKey> {
  const der = keyObject.export({ format: 'der', type: 'pkcs8' });
  try {
    return await subtle.importKey('pkcs8', der, keyAlgorithm, false, ['sign']);
  } finally {
    der.fill(0);
  }
}
