/**
 * The client's certificate, key and CA, checked on this machine before any connection. A member
 * refuses an expired or revoked certificate, or a key that does not belong to the certificate, by
 * closing the connection, which tells the client nothing; so the CLI looks first and says what is
 * wrong and what to do. Revocation is looked up in the CRL beside the CA certificate (crl.pem in the
 * same directory, as bootstrap-ca lays out certs/), when there is one.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { caLayout, clientIdentity, isPkiError, loadTlsMaterial, type TlsFiles, x509 } from '../pki/index.ts';
import { CliError } from './errors.ts';

/** The certificate is well formed and matches its key, but a member would refuse it (revoked, expired, not yet valid). */
export class RefusedCredentialsError extends CliError {
  override readonly code = 'E_REFUSED_CREDENTIALS';
}

export interface CredentialFiles {
  cert: string;
  key: string;
  ca: string;
}

/** The CRL `coffer` checks a certificate against: crl.pem beside the CA certificate, if present. */
export function crlBeside(caFile: string): string | undefined {
  const crl = caLayout(dirname(caFile)).crl;
  return existsSync(crl) ? crl : undefined;
}

/** TLS options for dialing, PEM text only. */
export type PemCredentials = ConnectionOptions & { cert: string; key: string; ca: string };

/** TLS options for dialing with these files; a CliError naming the file and the remedy if they cannot work. */
export async function readCredentials(files: CredentialFiles, nowMs = Date.now()): Promise<PemCredentials> {
  const crl = crlBeside(files.ca);
  const tlsFiles: TlsFiles = { ...files, ...(crl === undefined ? {} : { crl }) };
  let material;
  try {
    material = await loadTlsMaterial(tlsFiles, nowMs);
  } catch (error) {
    if (!isPkiError(error)) throw error;
    const certPem = error.code === 'CERT_EXPIRED' ? await readFile(files.cert, 'utf8') : '';
    const message = `${error.message}${remedy(error.code, files, certPem)}`;
    throw error.code === 'CERT_EXPIRED' || error.code === 'CERT_NOT_YET_VALID' ? new RefusedCredentialsError(message) : new CliError(message);
  }
  if (material.crl !== undefined && crl !== undefined) {
    const cert = new x509.X509Certificate(material.cert);
    const revoked = new x509.X509Crl(material.crl).findRevoked(cert);
    if (revoked !== null) {
      throw new RefusedCredentialsError(`certificate ${files.cert} (${who(material.cert)}, serial ${material.serial}) was revoked on ${revoked.revocationDate.toISOString()} ` +
        `(${crl}); a member refuses it: ask for a new one${reissue(material.cert)}`);
    }
  }
  return { cert: material.cert, key: material.key, ca: material.ca, rejectUnauthorized: true };
}

function remedy(code: string, files: CredentialFiles, certPem: string): string {
  switch (code) {
    case 'FILE_MISSING': return ' (give --cacert, --cert and --key, or COFFER_CACERT, COFFER_CERT and COFFER_KEY)';
    case 'KEY_MISMATCH': return `: give the key issued with ${files.cert} (--key)`;
    case 'CERT_EXPIRED': return `; a member refuses it: ask for a new one${reissue(certPem)}`;
    case 'UNKNOWN_CA': return ' (--cacert names the CA the members trust)';
    default: return '';
  }
}

/** Whose certificate it is, for a message: its user, or its subject when it is not a client certificate. */
function who(certPem: string): string {
  const cert = new x509.X509Certificate(certPem);
  try {
    return `user ${clientIdentity(new Uint8Array(cert.rawData)).user}`;
  } catch {
    return cert.subject;
  }
}

function reissue(certPem: string): string {
  const named = who(certPem);
  return named.startsWith('user ') ? ` (coffer ca issue --user ${named.slice('user '.length)} --force)` : '';
}
