// Test support: a CA and leaf certificates built in memory from the pure templates, without disk.
import { randomBytes } from 'node:crypto';
import {
  caTemplate, type CertificateTemplate, clientTemplate, type CryptoKey, generateKeyPair, keyIdOf, memberTemplate,
  serialFromRandomBytes, signCertificate, splitHosts, validityFor, type x509,
} from '../../../src/pki/index.ts';

type X509Certificate = x509.X509Certificate;

export interface MemoryCa {
  cert: X509Certificate;
  key: CryptoKey;
  keyId: string;
}

export const serial = (): string => serialFromRandomBytes(randomBytes(16));

export async function memoryCa(nowMs = Date.now()): Promise<MemoryCa> {
  const keys = await generateKeyPair();
  const keyId = await keyIdOf(keys.publicKey);
  const template = caTemplate({ serialNumber: serial(), validity: validityFor(nowMs, 30), commonName: 'Test CA', subjectKeyId: keyId });
  const cert = await signCertificate(template, keys.publicKey, { name: template.subject, key: keys.privateKey });
  return { cert, key: keys.privateKey, keyId };
}

interface Common {
  serialNumber: string;
  validity: ReturnType<typeof validityFor>;
  subjectKeyId: string;
  authorityKeyId: string;
}

/** Signs whatever template `build` makes (optionally altered, to forge odd certificates). */
export async function memoryLeaf(ca: MemoryCa, build: (common: Common) => CertificateTemplate): Promise<X509Certificate> {
  const keys = await generateKeyPair();
  const template = build({
    serialNumber: serial(),
    validity: validityFor(Date.now(), 1),
    subjectKeyId: await keyIdOf(keys.publicKey),
    authorityKeyId: ca.keyId,
  });
  return signCertificate(template, keys.publicKey, { name: ca.cert.subjectName, key: ca.key });
}

export const memberCert = (ca: MemoryCa, name: string, hosts = ['127.0.0.1', 'localhost']) =>
  memoryLeaf(ca, (c) => memberTemplate({ ...c, name, hosts: splitHosts(hosts) }));

export const clientCert = (ca: MemoryCa, user: string, groups: string[] = []) =>
  memoryLeaf(ca, (c) => clientTemplate({ ...c, user, groups }));

export const der = (cert: X509Certificate): Uint8Array => new Uint8Array(cert.rawData);
