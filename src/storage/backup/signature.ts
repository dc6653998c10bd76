/**
 * Who made a backup sealed to a backup recipient. crypto_box_seal is anonymous and the recipient's
 * public key is given to every member, so the sealing says nothing about the writer: anyone holding
 * FILE.pub can write a file that opens with the secret key. From format 2 such a backup is signed by
 * the member that wrote it, with its TLS identity (its member certificate and key: ECDSA P-256, the
 * only key type the Coffer CA issues), and ends in a signature part after its FINAL chunk. A reader
 * checks the signature here; whether the certificate is one to trust (a member certificate of the
 * cluster's CA, valid when it signed) is its caller's decision, `VerifySigner` (restore checks it
 * against the CA: src/server/restore.ts).
 *
 * What is signed — ECDSA P-256 with SHA-256, the signature in IEEE P1363 form (r‖s, 64 bytes) — is
 *
 *   "coffer-backup-signature-v1\n"
 *   ‖ SHA-256(magic line ‖ header line, as in the file, padding included)
 *   ‖ SHA-256(every chunk as in the file, in order, FINAL included: length word and ciphertext)
 *   ‖ SHA-256(the signing certificate, DER)
 *
 * so every byte of the file but the signature itself. Two digests rather than one over the file front
 * to back because the writer fills in the header line last (the record count); both are computed as
 * the bytes are written, and as they are read. The signature part: u32 length, then the msgpack array
 * [algorithm, certificate DER, signature].
 */
import { createHash, createPrivateKey, type KeyObject, sign, verify, X509Certificate } from 'node:crypto';
import { BackupError } from './errors.ts';
import { pack, unpack } from './records.ts';

export const signatureAlgorithm = 'ecdsa-p256-sha256';
const signatureBytes = 64;
const domain = new TextEncoder().encode('coffer-backup-signature-v1\n');

/** A member's TLS identity, signing the backups it writes. */
export interface BackupSigner {
  /** The member certificate, DER. */
  certificate: Uint8Array;
  /** Its private key (ECDSA P-256). */
  key: KeyObject;
}

/**
 * Decides whether the certificate that signed a backup is one to trust, given when the backup says it
 * was made; returns who it is (for messages), or throws saying why not.
 */
export type VerifySigner = (certificate: Uint8Array, signedAt: Date) => string | Promise<string>;

/** A signer from PEM text (a member's certificate and key files); refuses a key that is not the certificate's or not P-256. */
export function backupSigner(certificatePem: string, keyPem: string): BackupSigner {
  const refused = (why: string, cause?: unknown) => new BackupError('E_BACKUP_SIGNATURE', `cannot sign backups: ${why}`, { cause });
  let certificate: X509Certificate;
  let key: KeyObject;
  try {
    certificate = new X509Certificate(certificatePem);
    key = createPrivateKey({ key: keyPem, format: 'pem' });
  } catch (cause) {
    throw refused('the member certificate or key does not parse', cause);
  }
  if (!isP256(key)) throw refused('the member key is not an ECDSA P-256 key');
  if (!certificate.checkPrivateKey(key)) throw refused('the member key is not the member certificate\'s');
  return { certificate: new Uint8Array(certificate.raw), key };
}

/** SHA-256 of the file's front: the magic line and the header line. */
export function frontDigest(front: Uint8Array): Buffer {
  return createHash('sha256').update(front).digest();
}

/** The framed signature part's size for `signer` (the FINAL chunk's padding counts it). */
export function signaturePartBytes(signer: BackupSigner): number {
  return 4 + pack([signatureAlgorithm, signer.certificate, new Uint8Array(signatureBytes)]).length;
}

/** The framed signature part over the file's front and chunks digests. */
export function signaturePart(signer: BackupSigner, front: Uint8Array, chunks: Uint8Array): Uint8Array {
  const signature = sign('sha256', signedMessage(front, chunks, signer.certificate), { key: signer.key, dsaEncoding: 'ieee-p1363' });
  const body = pack([signatureAlgorithm, signer.certificate, new Uint8Array(signature)]);
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  if (out.length !== signaturePartBytes(signer)) throw new RangeError(`a signature part of ${out.length} bytes, not the ${signaturePartBytes(signer)} the padding counted`);
  return out;
}

/**
 * Checks a signature part's body against the file's front and chunks digests; returns the certificate
 * that signed (not yet trusted: that is the caller's VerifySigner).
 */
export function verifySignaturePart(body: Uint8Array, front: Uint8Array, chunks: Uint8Array, file: string): Uint8Array {
  const refused = (why: string) => new BackupError('E_BACKUP_SIGNATURE', `backup ${file} is refused: ${why}`);
  let decoded: unknown;
  try {
    decoded = unpack(body);
  } catch {
    throw refused('its signature part does not decode');
  }
  const [algorithm, certificate, signature] = Array.isArray(decoded) && decoded.length === 3 ? decoded as unknown[] : [];
  if (algorithm !== signatureAlgorithm) throw refused(`its signature is not of a kind this build checks (${signatureAlgorithm})`);
  if (!(certificate instanceof Uint8Array) || !(signature instanceof Uint8Array) || signature.length !== signatureBytes) {
    throw refused('its signature part is malformed');
  }
  let publicKey: KeyObject;
  try {
    publicKey = new X509Certificate(certificate).publicKey;
  } catch {
    throw refused('its signing certificate does not parse');
  }
  if (!isP256(publicKey)) throw refused('its signing certificate does not hold an ECDSA P-256 key');
  if (!verify('sha256', signedMessage(front, chunks, certificate), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)) {
    throw refused('its signature does not verify (the file was changed after it was signed)');
  }
  return certificate;
}

function signedMessage(front: Uint8Array, chunks: Uint8Array, certificate: Uint8Array): Buffer {
  return Buffer.concat([domain, front, chunks, createHash('sha256').update(certificate).digest()]);
}

function isP256(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}
