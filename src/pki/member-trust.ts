/**
 * Whether a certificate met outside a TLS handshake — the one that signed a backup
 * (storage/backup/signature.ts) — is a member certificate of this CA, checked as the peer listener
 * checks a member at a handshake: issued and signed by the CA, a member certificate by
 * memberIdentity's rules (O exactly `coffer:members`, the URI SAN `coffer://member/<name>` equal to
 * CN, EKU serverAuth — so no client certificate passes), not revoked by the CA's CRL (crl.pem beside
 * the CA certificate, as the CLI finds it, itself checked to be the CA's), and — CA and certificate —
 * valid at the time asked about.
 *
 * Outside a handshake a wrong CA makes nothing fail: it makes whatever its holder signed authentic. So
 * the CA certificate and the CRL are read only from files no other user could have written
 * (readTrustedPkiText), and a missing CRL is reported, not taken as "nothing revoked": whether to go on
 * without a revocation check is the caller's to decide.
 */
import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import { dirname } from 'node:path';
import { x509 } from './crypto-provider.ts';
import { isPkiError, PkiError } from './errors.ts';
import { readTrustedPkiText } from './files.ts';
import { memberIdentity } from './identity.ts';
import { caLayout } from './layout.ts';
import { normalizeSerial } from './serial.ts';
import { checkCrl, crlNumberIn, revokedSerialsOf } from './tls-material.ts';

export interface MemberTrust {
  caFile: string;
  /** Where the CRL is looked for: crl.pem beside the CA certificate. */
  crlFile: string;
  /** The CRL checked, by its number (undefined if it has none) — or undefined when there is none at crlFile: no certificate is then seen revoked. */
  crl: { number: bigint | undefined } | undefined;
  /** The member `certificate` (DER) is, if it is one of this CA's, unrevoked and valid at `atMs`; else a PkiError saying why not. */
  verifyMember(certificate: Uint8Array, atMs: number): { name: string; serial: string };
}

/** The CA certificate in `caFile` and the CRL beside it (if any), to check member certificates against. */
export async function loadMemberTrust(caFile: string): Promise<MemberTrust> {
  const caPem = await readTrustedPkiText(caFile, 'the CA certificate');
  let ca: NodeX509Certificate;
  try {
    ca = new NodeX509Certificate(caPem);
  } catch (cause) {
    throw new PkiError('BAD_PEM', `${caFile} is not a PEM certificate`, { cause });
  }
  const crlFile = caLayout(dirname(caFile)).crl;
  const crlPem = await readTrustedPkiText(crlFile, 'the CRL').catch((error: unknown) => {
    if (isPkiError(error, 'FILE_MISSING')) return undefined;
    throw error;
  });
  const crl = crlPem === undefined ? undefined : await checkCrl(crlPem, crlFile, caPem, caFile);
  const revoked = crl === undefined ? new Set<string>() : revokedSerialsOf(crl);
  return {
    caFile,
    crlFile,
    crl: crl === undefined ? undefined : { number: crlNumberIn(crl, crlFile) },
    verifyMember(certificate, atMs) {
      let cert: NodeX509Certificate;
      try {
        cert = new NodeX509Certificate(certificate);
      } catch (cause) {
        throw new PkiError('BAD_PEM', 'the certificate does not parse', { cause });
      }
      const parsed = new x509.X509Certificate(cert.raw);
      const serial = normalizeSerial(parsed.serialNumber);
      if (cert.checkIssued(ca) === false || !cert.verify(ca.publicKey)) {
        throw new PkiError('UNKNOWN_CA', `certificate ${serial} (${parsed.subject}) was not issued by the CA in ${caFile}`);
      }
      const name = memberIdentity(certificate);
      if (revoked.has(serial)) throw new PkiError('CERT_REVOKED', `member ${name}'s certificate ${serial} is revoked (${crlFile})`);
      const when = new Date(atMs).toISOString();
      for (const [which, c] of [['the CA certificate', new x509.X509Certificate(ca.raw)], [`member ${name}'s certificate ${serial}`, parsed]] as const) {
        if (atMs < c.notBefore.getTime()) throw new PkiError('CERT_NOT_YET_VALID', `${which} was not yet valid at ${when} (from ${c.notBefore.toISOString()})`);
        if (atMs > c.notAfter.getTime()) throw new PkiError('CERT_EXPIRED', `${which} had expired at ${when} (at ${c.notAfter.toISOString()})`);
      }
      return { name, serial };
    },
  };
}
