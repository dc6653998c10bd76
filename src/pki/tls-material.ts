/**
 * The certificate, key, CA and CRL a TLS endpoint uses, loaded and checked together. Loading fails
 * with one line naming the problem and the file — missing file, key not matching the certificate,
 * certificate expired or not yet valid, certificate or CRL not from the CA — instead of an OpenSSL
 * error at the first handshake. The CRL's serials are kept as a set, so connections opened before a
 * revocation can be checked against it (docs/security.md, "Revocation").
 */
import { createPrivateKey, type KeyObject, X509Certificate as NodeX509Certificate } from 'node:crypto';
import { x509 } from './crypto-provider.ts';
import { PkiError } from './errors.ts';
import { readPkiText } from './files.ts';
import { normalizeSerial } from './serial.ts';

export interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
  /** Optional: without a CRL nothing is checked for revocation. */
  crl?: string;
}

/** The files' text as read, before any check. */
export interface TlsTexts {
  cert: string;
  key: string;
  ca: string;
  crl?: string;
}

/** Checked PEM material. Invariant: key matches cert, cert is within validity and signed by ca. */
export interface TlsMaterial extends TlsTexts {
  files: TlsFiles;
  /** Canonical serials the CRL revokes (empty without a CRL). */
  revokedSerials: ReadonlySet<string>;
  /** Canonical serial of `cert`. */
  serial: string;
  notAfter: Date;
}

export async function loadTlsMaterial(files: TlsFiles, nowMs = Date.now()): Promise<TlsMaterial> {
  return checkTlsMaterial(files, await readTlsTexts(files), nowMs);
}

export async function readTlsTexts(files: TlsFiles): Promise<TlsTexts> {
  const [cert, key, ca, crl] = await Promise.all([
    readPkiText(files.cert),
    readPkiText(files.key),
    readPkiText(files.ca),
    files.crl === undefined ? Promise.resolve(undefined) : readPkiText(files.crl),
  ]);
  return { cert, key, ca, ...(crl === undefined ? {} : { crl }) };
}

/** Whether `texts` are, byte for byte, what `material` was loaded from. */
export function sameTexts(texts: TlsTexts, material: TlsMaterial): boolean {
  return texts.cert === material.cert && texts.key === material.key && texts.ca === material.ca && texts.crl === material.crl;
}

/** Checks the texts read from `files`. */
export async function checkTlsMaterial(files: TlsFiles, texts: TlsTexts, nowMs: number): Promise<TlsMaterial> {
  const cert = parseNodeCert(texts.cert, files.cert);
  const ca = parseNodeCert(texts.ca, files.ca);
  const key = parseKey(texts.key, files.key);
  if (!cert.checkPrivateKey(key)) {
    throw new PkiError('KEY_MISMATCH', `key ${files.key} does not match certificate ${files.cert}`);
  }
  checkValidity(ca, files.ca, nowMs);
  checkValidity(cert, files.cert, nowMs);
  if (cert.checkIssued(ca) === false || !cert.verify(ca.publicKey)) {
    throw new PkiError('UNKNOWN_CA', `certificate ${files.cert} was not issued by the CA in ${files.ca}`);
  }
  const revokedSerials = texts.crl !== undefined && files.crl !== undefined ? await checkCrl(texts.crl, files.crl, texts.ca, files.ca) : new Set<string>();

  const parsed = new x509.X509Certificate(cert.raw);
  return {
    files,
    ...texts,
    revokedSerials,
    serial: parsed.serialNumber,
    notAfter: parsed.notAfter,
  };
}

function parseNodeCert(pem: string, path: string): NodeX509Certificate {
  try {
    return new NodeX509Certificate(pem);
  } catch (cause) {
    throw new PkiError('BAD_PEM', `${path} is not a PEM certificate`, { cause });
  }
}

function parseKey(pem: string, path: string): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch (cause) {
    throw new PkiError('BAD_PEM', `${path} is not an unencrypted PEM private key`, { cause });
  }
}

function checkValidity(cert: NodeX509Certificate, path: string, nowMs: number): void {
  const parsed = new x509.X509Certificate(cert.raw);
  if (nowMs < parsed.notBefore.getTime()) {
    throw new PkiError('CERT_NOT_YET_VALID', `certificate ${path} is not valid until ${parsed.notBefore.toISOString()}`);
  }
  if (nowMs > parsed.notAfter.getTime()) {
    throw new PkiError('CERT_EXPIRED', `certificate ${path} expired at ${parsed.notAfter.toISOString()}`);
  }
}

/** Checks the CRL is the CA's; returns the canonical serials it revokes. */
export async function checkCrl(crlPem: string, crlPath: string, caPem: string, caPath: string): Promise<Set<string>> {
  let crl: x509.X509Crl;
  try {
    crl = new x509.X509Crl(crlPem);
  } catch (cause) {
    throw new PkiError('BAD_PEM', `${crlPath} is not a PEM CRL`, { cause });
  }
  const caCert = new x509.X509Certificate(caPem);
  if (!(await crl.verify({ publicKey: caCert.publicKey }))) {
    throw new PkiError('UNKNOWN_CA', `CRL ${crlPath} was not signed by the CA in ${caPath}`);
  }
  return new Set(crl.entries.map((entry) => normalizeSerial(entry.serialNumber)));
}
