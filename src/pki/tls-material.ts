/**
 * The certificate, key, CA and CRL a TLS endpoint uses, loaded and checked together. Loading fails
 * with one line naming the problem and the file — missing file, key not matching the certificate,
 * certificate expired or not yet valid, certificate or CRL not from the CA, CRL older than the one
 * loaded before — instead of an OpenSSL error at the first handshake. The CRL's serials are kept as a
 * set, so connections opened before a revocation can be checked against it (docs/security.md,
 * "Revocation").
 */
import { createPrivateKey, type KeyObject, X509Certificate as NodeX509Certificate } from 'node:crypto';
import { crlNumberOf } from './crl.ts';
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
  /** The CRL's number, if it has one; a reload refuses a CRL below it (checkCrlOrder). */
  crlNumber?: bigint;
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

/**
 * Checks the texts read from `files`. With `loaded` (a reload), also refuses a CRL older than the
 * loaded one's (checkCrlOrder).
 */
export async function checkTlsMaterial(files: TlsFiles, texts: TlsTexts, nowMs: number, loaded?: TlsMaterial): Promise<TlsMaterial> {
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
  let crl: Pick<TlsMaterial, 'revokedSerials' | 'crlNumber'> = { revokedSerials: new Set<string>() };
  if (texts.crl !== undefined && files.crl !== undefined) {
    const checked = await checkCrl(texts.crl, files.crl, texts.ca, files.ca);
    const crlNumber = crlNumberIn(checked, files.crl);
    // CRL numbers count per CA key: a new CA (`coffer ca init --force`) starts again at 1. The key, not
    // the file's text, says whether it is the same CA, so rewriting ca.crt cannot restart the order.
    if (loaded?.crl !== undefined && ca.publicKey.equals(parseNodeCert(loaded.ca, loaded.files.ca).publicKey)) {
      checkCrlOrder({ crl: checked, crlNumber }, { crl: new x509.X509Crl(loaded.crl), crlNumber: loaded.crlNumber }, files.crl);
    }
    crl = { revokedSerials: revokedSerialsOf(checked), ...(crlNumber === undefined ? {} : { crlNumber }) };
  }

  const parsed = new x509.X509Certificate(cert.raw);
  return {
    files,
    ...texts,
    ...crl,
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

/** Checks the CRL is the CA's; returns it parsed. */
export async function checkCrl(crlPem: string, crlPath: string, caPem: string, caPath: string): Promise<x509.X509Crl> {
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
  return crl;
}

/** The canonical serials `crl` revokes. */
export function revokedSerialsOf(crl: x509.X509Crl): Set<string> {
  return new Set(crl.entries.map((entry) => normalizeSerial(entry.serialNumber)));
}

/** The CRL's number (crlNumberOf), undefined if it has none; one that does not parse is BAD_PEM. */
export function crlNumberIn(crl: x509.X509Crl, crlPath: string): bigint | undefined {
  try {
    return crlNumberOf(crl);
  } catch (cause) {
    throw new PkiError('BAD_PEM', `CRL ${crlPath} has a CRL number that does not parse`, { cause });
  }
}

/**
 * Refuses, at a reload, a CRL older than the loaded one: an earlier crl.pem put back would un-revoke
 * every certificate revoked since, and the file is public (ConfigMaps, config management, rsync). The
 * CRL number orders them — the CA raises it for every CRL it signs (RFC 5280 §5.2.3; ca.ts):
 * - a lower number is older;
 * - the same number with other content is not the CA's next CRL (the CA never signs two under one
 *   number; a CA directory restored from a backup would): neither can be told newer, and the loaded
 *   one keeps every revocation it holds;
 * - a CRL without a number after one with a number cannot be ordered;
 * - between two CRLs without numbers (not the CA's own; another tool's), thisUpdate orders them.
 * A higher number is taken whatever its thisUpdate, which is only as right as the CA host's clock: a
 * revocation must not wait for a clock. nextUpdate is not checked: members would stop taking CRLs when
 * an operator forgets to reissue one in time (Coffer's CRLs hold until the CA itself expires; crl.ts).
 */
function checkCrlOrder(next: NumberedCrl, loaded: NumberedCrl, crlPath: string): void {
  const refuse = (why: string) => new PkiError('CRL_STALE', `CRL ${crlPath} ${why}; keeping the loaded CRL`);
  if (loaded.crlNumber !== undefined) {
    if (next.crlNumber === undefined) throw refuse(`has no CRL number and the loaded CRL is number ${loaded.crlNumber}`);
    if (next.crlNumber < loaded.crlNumber) throw refuse(`is number ${next.crlNumber}, older than the loaded CRL's number ${loaded.crlNumber}`);
    if (next.crlNumber === loaded.crlNumber && !Buffer.from(next.crl.rawData).equals(Buffer.from(loaded.crl.rawData))) {
      throw refuse(`is number ${next.crlNumber}, as the loaded CRL is, but differs from it`);
    }
  } else if (next.crlNumber === undefined && next.crl.thisUpdate.getTime() < loaded.crl.thisUpdate.getTime()) {
    throw refuse(`was issued at ${next.crl.thisUpdate.toISOString()}, before the loaded CRL (${loaded.crl.thisUpdate.toISOString()})`);
  }
}

interface NumberedCrl {
  crl: x509.X509Crl;
  crlNumber: bigint | undefined;
}
