/**
 * Issuing member and client certificates and revoking them, on the CA directory.
 *
 * Invariants: a leaf never outlives its CA; existing certificate or key files for the same name are
 * replaced only with `force` (the old certificate stays valid until revoked); every issued certificate
 * is recorded in issued.json before any of its files is written, so a crash or a failed write leaves at
 * worst a revocable entry without files, never a certificate the registry lacks (which nothing could
 * revoke); each issue and revoke runs under the CA lock (ca-lock.ts), from reading the registry to its
 * last file, so none undoes another's change to the registry; private keys are written 0600 before their
 * certificate, so a watcher never sees a certificate whose key is missing.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { certValidityDaysDefault, p12PasswordBytes } from '../config/index.ts';
import { type CaSigner, newSerial, readRegistry, recordOf, writeCrlAndRegistry, writeRegistry } from './ca.ts';
import { withCaLock } from './ca-lock.ts';
import { generateKeyPair, subtle, type x509 } from './crypto-provider.ts';
import { PkiError } from './errors.ts';
import { fileExists, privateFileMode, publicFileMode, writeFileAtomic } from './files.ts';
import { checkGroups, checkMemberName, checkUserName, splitHosts } from './names.ts';
import { buildPkcs12 } from './pkcs12.ts';
import { privateKeyToPem } from './private-key.ts';
import { type IssuedRecord, withIssued, withRevoked } from './registry.ts';
import { normalizeSerial } from './serial.ts';
import { keyIdOf, signCertificate } from './sign.ts';
import { type CertificateTemplate, clientTemplate, memberTemplate, type Validity, validityFor } from './templates.ts';

interface LeafOptions {
  days?: number;
  force?: boolean;
  nowMs?: number;
}

export interface IssueMemberOptions extends LeafOptions {
  name: string;
  hosts: readonly string[];
}

export interface IssueClientOptions extends LeafOptions {
  user: string;
  groups?: readonly string[];
  /** PKCS#12 password (COFFER_P12_PASSWORD); when absent one is generated into <user>.p12.pass. */
  p12Password?: string;
}

export interface IssueResult {
  serial: string;
  cert: x509.X509Certificate;
  files: string[];
}

export async function issueMember(ca: CaSigner, options: IssueMemberOptions): Promise<IssueResult> {
  const name = checkMemberName(options.name);
  const hosts = splitHosts(options.hosts);
  const certPath = ca.layout.memberCert(name);
  const keyPath = ca.layout.memberKey(name);
  return withCaLock(ca.layout, async () => {
    await assertFree([certPath, keyPath], options.force);
    const leaf = await signLeaf(ca, options, (common) => memberTemplate({ ...common, name, hosts }));
    const keyPem = await privateKeyToPem(leaf.privateKey);
    await record(ca, recordOf(leaf.cert, 'member', name));
    await writeFileAtomic(keyPath, keyPem, privateFileMode);
    await writeFileAtomic(certPath, leaf.cert.toString('pem') + '\n', publicFileMode);
    return { serial: leaf.cert.serialNumber, cert: leaf.cert, files: [certPath, keyPath] };
  });
}

export async function issueClient(ca: CaSigner, options: IssueClientOptions): Promise<IssueResult> {
  const user = checkUserName(options.user);
  const groups = checkGroups(options.groups ?? []);
  const paths = {
    cert: ca.layout.clientCert(user),
    key: ca.layout.clientKey(user),
    p12: ca.layout.clientP12(user),
    p12Password: ca.layout.clientP12Password(user),
  };
  return withCaLock(ca.layout, async () => {
    await assertFree([paths.cert, paths.key, paths.p12], options.force);
    const leaf = await signLeaf(ca, options, (common) => clientTemplate({ ...common, user, groups }));

    const password = options.p12Password ?? randomBytes(p12PasswordBytes).toString('base64url');
    const pkcs8 = Buffer.from(await subtle.exportKey('pkcs8', leaf.privateKey));
    let p12: Buffer;
    try {
      p12 = buildPkcs12({
        certificateDer: new Uint8Array(leaf.cert.rawData),
        chainDer: [new Uint8Array(ca.cert.rawData)],
        privateKeyPkcs8Der: pkcs8,
        password,
        friendlyName: user,
      });
    } finally {
      pkcs8.fill(0);
    }

    await record(ca, recordOf(leaf.cert, 'client', user));
    const files = [paths.cert, paths.key, paths.p12];
    await writeFileAtomic(paths.key, await privateKeyToPem(leaf.privateKey), privateFileMode);
    await writeFileAtomic(paths.cert, leaf.cert.toString('pem') + '\n', publicFileMode);
    // The .p12 holds the key: private, like the key itself.
    await writeFileAtomic(paths.p12, p12, privateFileMode);
    if (options.p12Password === undefined) {
      await writeFileAtomic(paths.p12Password, password + '\n', privateFileMode);
      files.push(paths.p12Password);
    } else {
      // A stale generated password next to a .p12 it no longer opens would only mislead.
      await rm(paths.p12Password, { force: true });
    }
    return { serial: leaf.cert.serialNumber, cert: leaf.cert, files };
  });
}

export interface RevokeOutcome {
  record: IssuedRecord;
  alreadyRevoked: boolean;
  crlPath: string;
}

/** Adds `serialText` to the CRL and rewrites crl.pem; revoking twice is harmless and rewrites it again. */
export async function revokeCertificate(ca: CaSigner, serialText: string, nowMs = Date.now()): Promise<RevokeOutcome> {
  const serial = normalizeSerial(serialText);
  return withCaLock(ca.layout, async () => {
    const result = withRevoked(await readRegistry(ca.layout), serial, new Date(nowMs));
    await writeCrlAndRegistry(ca, result.registry, nowMs);
    return { record: result.record, alreadyRevoked: result.alreadyRevoked, crlPath: ca.layout.crl };
  });
}

interface CommonLeafInput {
  serialNumber: string;
  validity: Validity;
  subjectKeyId: string;
  authorityKeyId: string;
}

async function signLeaf(ca: CaSigner, options: LeafOptions, template: (common: CommonLeafInput) => CertificateTemplate) {
  const days = options.days ?? certValidityDaysDefault;
  const validity = validityFor(options.nowMs ?? Date.now(), days);
  if (validity.notAfter > ca.cert.notAfter) {
    throw new PkiError('INVALID_VALIDITY', `validity of ${days} days ends after the CA expires (${ca.cert.notAfter.toISOString()})`);
  }
  const keys = await generateKeyPair();
  const filled = template({
    serialNumber: newSerial(),
    validity,
    subjectKeyId: await keyIdOf(keys.publicKey),
    authorityKeyId: ca.keyId,
  });
  const cert = await signCertificate(filled, keys.publicKey, { name: ca.cert.subjectName, key: ca.key });
  return { cert, privateKey: keys.privateKey };
}

async function assertFree(paths: readonly string[], force: boolean | undefined): Promise<void> {
  if (force === true) return;
  for (const path of paths) {
    if (await fileExists(path)) throw new PkiError('CERT_EXISTS', `${path} already exists; pass --force to replace it`);
  }
}

/** Adds `issued` to issued.json; the caller holds the CA lock. */
async function record(ca: CaSigner, issued: IssuedRecord): Promise<void> {
  await writeRegistry(ca.layout, withIssued(await readRegistry(ca.layout), issued));
}
