/**
 * Certificate revocation lists signed by the CA. The list is derived from the registry's revoked
 * entries every time, so rewriting crl.pem is idempotent.
 *
 * nextUpdate is the CA's own notAfter: OpenSSL refuses every handshake once a CRL has expired, and a
 * self-hosted CA has no publisher re-signing it on a schedule; the CRL stays authoritative until it is
 * replaced by the next `coffer ca revoke`.
 *
 * The CRL number orders the CA's CRLs: a member refuses one below the CRL it has loaded
 * (tls-material.ts, checkCrlOrder), so an earlier crl.pem put back cannot un-revoke a certificate.
 */
import { type CryptoKey, signingAlgorithm, x509 } from './crypto-provider.ts';

/** The CRL number extension (RFC 5280 §5.2.3). */
const crlNumberOid = '2.5.29.20';

export interface RevokedEntry {
  serial: string;
  revokedAt: Date;
}

export interface CrlInput {
  issuer: x509.Name;
  authorityKeyId: string;
  /** Monotonic CRL number (RFC 5280 §5.2.3), increased by every rewrite. */
  crlNumber: number;
  thisUpdate: Date;
  nextUpdate: Date;
  revoked: readonly RevokedEntry[];
}

export async function signCrl(input: CrlInput, caKey: CryptoKey): Promise<x509.X509Crl> {
  return x509.X509CrlGenerator.create({
    issuer: input.issuer,
    thisUpdate: input.thisUpdate,
    nextUpdate: input.nextUpdate,
    signingAlgorithm,
    signingKey: caKey,
    extensions: [
      new x509.AuthorityKeyIdentifierExtension(input.authorityKeyId),
      new x509.Extension(crlNumberOid, false, derInteger(input.crlNumber)),
    ],
    entries: input.revoked.map((entry) => ({
      serialNumber: entry.serial,
      revocationDate: entry.revokedAt,
    })),
  });
}

/** DER INTEGER for a non-negative safe integer (the CRL number's value). */
export function derInteger(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`CRL number ${value} is not a non-negative integer`);
  const bytes: number[] = [];
  let rest = value;
  do {
    bytes.unshift(rest % 256);
    rest = Math.floor(rest / 256);
  } while (rest > 0);
  if ((bytes[0] ?? 0) > 0x7f) bytes.unshift(0);
  return Uint8Array.from([0x02, bytes.length, ...bytes]);
}

/**
 * derInteger's inverse: the CRL's number, or undefined if it has none. RangeError if the value is not a
 * non-negative DER INTEGER of short-form length (RFC 5280 allows at most 20 octets).
 */
export function crlNumberOf(crl: x509.X509Crl): bigint | undefined {
  const extension = crl.getExtension(crlNumberOid);
  if (extension === null) return undefined;
  const der = new Uint8Array(extension.value);
  const length = der[1] ?? 0;
  if (der[0] !== 0x02 || length === 0 || length > 0x7f || der.length !== 2 + length || ((der[2] ?? 0) & 0x80) !== 0) {
    throw new RangeError('the CRL number is not a non-negative DER INTEGER');
  }
  return BigInt(`0x${Buffer.from(der.subarray(2)).toString('hex')}`);
}

/** PEM with the label OpenSSL and node's `crl` option read ("X509 CRL"; @peculiar/x509 writes "CRL"). */
export function crlToPem(crl: x509.X509Crl): string {
  return x509.PemConverter.encode(crl.rawData, 'X509 CRL') + '\n';
}
