/**
 * Turning a template into a signed certificate, and key identifiers. The only clock- and disk-free
 * async step between a template and its PEM: WebCrypto signs with ECDSA P-256 / SHA-256.
 */
import { type CryptoKey, signingAlgorithm, x509 } from './crypto-provider.ts';
import type { CertificateTemplate } from './templates.ts';

/** SHA-1 over the subject public key (RFC 5280 §4.2.1.2 method 1), as hex. */
export async function keyIdOf(publicKey: CryptoKey | x509.PublicKey): Promise<string> {
  const extension = await x509.SubjectKeyIdentifierExtension.create(publicKey);
  return extension.keyId;
}

export interface Issuer {
  /** The issuer's subject; for a self-signed CA, the template's own subject. */
  name: x509.Name | x509.JsonName;
  key: CryptoKey;
}

export async function signCertificate(
  template: CertificateTemplate,
  subjectPublicKey: CryptoKey,
  issuer: Issuer,
): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    serialNumber: template.serialNumber,
    subject: template.subject,
    issuer: issuer.name,
    notBefore: template.notBefore,
    notAfter: template.notAfter,
    extensions: template.extensions,
    publicKey: subjectPublicKey,
    signingKey: issuer.key,
    signingAlgorithm,
  });
}
