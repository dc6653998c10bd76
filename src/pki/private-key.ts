/**
 * Private keys on disk: PKCS#8 PEM, encrypted PKCS#8 (AES-256-CBC, PBES2) when a passphrase is
 * given. Conversion goes through node:crypto KeyObjects; intermediate DER buffers are wiped once used.
 * (PEM text lives in JS strings, which cannot be wiped; callers keep them short-lived.)
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { type CryptoKey, keyAlgorithm, subtle } from './crypto-provider.ts';
import { PkiError } from './errors.ts';

const encryptedPemLabel = '-----BEGIN ENCRYPTED PRIVATE KEY-----';

export async function privateKeyToPem(key: CryptoKey, passphrase?: string): Promise<string> {
  const der = Buffer.from(await subtle.exportKey('pkcs8', key));
  try {
    const keyObject = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    const pem = passphrase === undefined
      ? keyObject.export({ format: 'pem', type: 'pkcs8' })
      : keyObject.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase });
    return pem.toString();
  } finally {
    der.fill(0);
  }
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
