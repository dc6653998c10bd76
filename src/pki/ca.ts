/**
 * The CA on disk: creating it, loading it to sign, and keeping crl.pem and issued.json in step.
 * Used by both `scripts/bootstrap-ca.ts` and `coffer ca`, so they cannot disagree.
 *
 * Invariants: an existing CA is never replaced without `force`, and a refusal happens before any file
 * is written; ca.key is PKCS#8 (encrypted when a passphrase is given), mode 0600; crl.pem always lists
 * exactly the registry's revoked serials; issued.json and crl.pem are read, changed and written back
 * only under the CA lock (ca-lock.ts), by initCa here and by issue.ts.
 */
import { createPublicKey, randomBytes } from 'node:crypto';
import { caValidityDaysDefault, certSerialBytes, shortNewPassphrase } from '../config/index.ts';
import { withCaLock } from './ca-lock.ts';
import { crlToPem, signCrl } from './crl.ts';
import { type CryptoKey, generateKeyPair, x509 } from './crypto-provider.ts';
import { PkiError } from './errors.ts';
import { fileExists, privateFileMode, publicFileMode, readPkiText, writeFileAtomic } from './files.ts';
import { type CaLayout, caLayout } from './layout.ts';
import { parsePrivateKeyPem, privateKeyToPem, toSigningKey } from './private-key.ts';
import {
  emptyRegistry, type IssuedRecord, parseRegistry, type Registry, revokedRecords, withIssued, withNextCrlNumber,
} from './registry.ts';
import { serialFromRandomBytes } from './serial.ts';
import { keyIdOf, signCertificate } from './sign.ts';
import { caTemplate, validityFor } from './templates.ts';

export const caCommonNameDefault = 'Coffer CA';

/** A loaded CA, able to sign. */
export interface CaSigner {
  layout: CaLayout;
  cert: x509.X509Certificate;
  key: CryptoKey;
  keyId: string;
}

export interface InitCaOptions {
  dir: string;
  /** CA validity; default caValidityDaysDefault. */
  days?: number;
  force?: boolean;
  /** Encrypts ca.key (COFFER_CA_PASSPHRASE); at least newPassphraseCharsMin characters. */
  passphrase?: string;
  commonName?: string;
  nowMs?: number;
}

export interface InitCaResult {
  signer: CaSigner;
  files: string[];
}

/** Refuses with CA_EXISTS, touching nothing, if ca.crt or ca.key exists and `force` is not set. */
export async function assertNoCa(layout: CaLayout): Promise<void> {
  for (const path of [layout.caCert, layout.caKey]) {
    if (await fileExists(path)) {
      throw new PkiError('CA_EXISTS', `${path} already exists; pass --force to replace the CA (every issued certificate stops working)`);
    }
  }
}

/**
 * Refuses with CA_PASSPHRASE_SHORT a new CA key passphrase too short (naming its length only), before
 * anything is written. Holds the CA lock (ca-lock.ts) from the CA_EXISTS check to the last file: two
 * inits cannot both find no CA, and no issue or revoke writes the registry in the middle.
 */
export async function initCa(options: InitCaOptions): Promise<InitCaResult> {
  const layout = caLayout(options.dir);
  const short = options.passphrase === undefined ? undefined : shortNewPassphrase(Buffer.from(options.passphrase, 'utf8'), 'COFFER_CA_PASSPHRASE', 'a new CA key', 'ca.key');
  if (short !== undefined) throw new PkiError('CA_PASSPHRASE_SHORT', short);
  return withCaLock(layout, async () => {
    if (options.force !== true) await assertNoCa(layout);
    const nowMs = options.nowMs ?? Date.now();
    const validity = validityFor(nowMs, options.days ?? caValidityDaysDefault);

    const keys = await generateKeyPair();
    const keyId = await keyIdOf(keys.publicKey);
    const template = caTemplate({
      serialNumber: newSerial(),
      validity,
      commonName: options.commonName ?? caCommonNameDefault,
      subjectKeyId: keyId,
    });
    const cert = await signCertificate(template, keys.publicKey, { name: template.subject, key: keys.privateKey });

    await writeFileAtomic(layout.caKey, await privateKeyToPem(keys.privateKey, options.passphrase), privateFileMode);
    await writeFileAtomic(layout.caCert, cert.toString('pem') + '\n', publicFileMode);
    const signer: CaSigner = { layout, cert, key: keys.privateKey, keyId };
    const registry = withIssued(emptyRegistry(), recordOf(cert, 'ca', template.subject[0]?.CN?.[0] ?? caCommonNameDefault));
    await writeCrlAndRegistry(signer, registry, nowMs);
    return { signer, files: [layout.caCert, layout.caKey, layout.crl, layout.registry] };
  });
}

/** Loads ca.crt and ca.key and checks they belong together. */
export async function loadCa(dir: string, passphrase?: string): Promise<CaSigner> {
  const layout = caLayout(dir);
  const certPem = await readPkiText(layout.caCert);
  const cert = parseCertificatePem(certPem, layout.caCert);
  const keyObject = parsePrivateKeyPem(await readPkiText(layout.caKey), layout.caKey, passphrase);
  const keySpki = createPublicKey(keyObject).export({ format: 'der', type: 'spki' });
  if (!keySpki.equals(Buffer.from(cert.publicKey.rawData))) {
    throw new PkiError('KEY_MISMATCH', `key ${layout.caKey} does not match certificate ${layout.caCert}`);
  }
  const key = await toSigningKey(keyObject);
  const keyId = await keyIdOf(cert.publicKey);
  return { layout, cert, key, keyId };
}

export function parseCertificatePem(pem: string, path: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(pem);
  } catch (cause) {
    throw new PkiError('BAD_PEM', `${path} is not a PEM certificate`, { cause });
  }
}

/** issued.json, or an empty registry if the CA directory predates it. */
export async function readRegistry(layout: CaLayout): Promise<Registry> {
  if (!(await fileExists(layout.registry))) return emptyRegistry();
  return parseRegistry(await readPkiText(layout.registry), layout.registry);
}

/** What `coffer ca list` shows; FILE_MISSING if `dir` holds no CA. */
export async function listIssued(dir: string): Promise<readonly IssuedRecord[]> {
  const layout = caLayout(dir);
  if (!(await fileExists(layout.caCert))) throw new PkiError('FILE_MISSING', `missing file: ${layout.caCert}`);
  return (await readRegistry(layout)).certificates;
}

/** Replaces issued.json; only under the CA lock (ca-lock.ts), with a registry read under the same hold. */
export async function writeRegistry(layout: CaLayout, registry: Registry): Promise<void> {
  await writeFileAtomic(layout.registry, JSON.stringify(registry, null, 2) + '\n', publicFileMode);
}

/**
 * Signs a CRL of the registry's revoked serials (numbered one past the last), writes the registry,
 * then crl.pem; only under the CA lock, like writeRegistry. Order: if the CRL write fails, the registry already says "revoked" and the next
 * revoke (even of the same serial) rewrites the CRL.
 */
export async function writeCrlAndRegistry(signer: CaSigner, registry: Registry, nowMs: number): Promise<Registry> {
  const next = withNextCrlNumber(registry);
  const crl = await signCrl({
    issuer: signer.cert.subjectName,
    authorityKeyId: signer.keyId,
    crlNumber: next.crlNumber,
    thisUpdate: new Date(nowMs),
    nextUpdate: signer.cert.notAfter,
    revoked: revokedRecords(next).map((r) => ({ serial: r.serial, revokedAt: new Date(r.revokedAt ?? nowMs) })),
  }, signer.key);
  await writeRegistry(signer.layout, next);
  await writeFileAtomic(signer.layout.crl, crlToPem(crl), publicFileMode);
  return next;
}

export function newSerial(): string {
  return serialFromRandomBytes(randomBytes(certSerialBytes));
}

export function recordOf(cert: x509.X509Certificate, kind: IssuedRecord['kind'], name: string): IssuedRecord {
  return {
    serial: cert.serialNumber.toLowerCase(),
    kind,
    name,
    subject: cert.subject,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
  };
}
