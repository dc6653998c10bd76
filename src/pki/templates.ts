/**
 * Certificate templates: pure functions from "what to certify" to the fields and extensions of a
 * certificate — no keys, no clock, no disk. Signing (sign.ts) and storage (ca.ts, issue.ts) are separate,
 * so these are tested on their own and cannot drift between `bootstrap-ca` and `coffer ca`.
 *
 * Profiles:
 * - CA: basicConstraints cA, pathLen 0 (it signs leaves only), critical; keyUsage keyCertSign + cRLSign,
 *   critical; subject key id.
 * - member: CN = name, O = coffer:members; EKU serverAuth + clientAuth (a member both serves and dials
 *   peers); SANs: the DNS names and IPs it is reached at plus `coffer://member/<name>`.
 * - client: CN = user, one O RDN per group (the Kubernetes convention); EKU clientAuth only.
 * Leaves: basicConstraints cA false (critical), keyUsage digitalSignature (critical), subject and
 * authority key ids.
 */
import { certBackdateMs, certValidityDaysMax } from '../config/index.ts';
import { x509 } from './crypto-provider.ts';
import { PkiError } from './errors.ts';
import { memberUriPrefix, membersOrganization, type SplitHosts } from './names.ts';

const dayMs = 24 * 60 * 60 * 1000;

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

export interface CertificateTemplate {
  serialNumber: string;
  subject: x509.JsonName;
  notBefore: Date;
  notAfter: Date;
  extensions: x509.Extension[];
}

/**
 * `days` of validity counted from `nowMs`, with notBefore set back by certBackdateMs for clock skew,
 * both rounded down to whole seconds. Invariant: notBefore < nowMs < notAfter.
 */
export function validityFor(nowMs: number, days: number): Validity {
  if (!Number.isInteger(days) || days < 1 || days > certValidityDaysMax) {
    throw new PkiError('INVALID_VALIDITY', `validity of ${days} days is not a whole number in 1..${certValidityDaysMax}`);
  }
  // Whole seconds: certificates store no finer time, so comparisons against a signed certificate's
  // dates (a leaf must not outlive its CA) see exactly what was signed.
  const second = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);
  return { notBefore: second(nowMs - certBackdateMs), notAfter: second(nowMs + days * dayMs) };
}

export interface CaTemplateInput {
  serialNumber: string;
  validity: Validity;
  commonName: string;
  /** Hex SHA-1 key identifier of the CA's public key. */
  subjectKeyId: string;
}

export function caTemplate(input: CaTemplateInput): CertificateTemplate {
  return {
    serialNumber: input.serialNumber,
    subject: [{ CN: [input.commonName] }, { O: ['coffer'] }],
    ...input.validity,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectKeyIdentifierExtension(input.subjectKeyId),
    ],
  };
}

interface LeafTemplateInput {
  serialNumber: string;
  validity: Validity;
  subjectKeyId: string;
  /** The issuing CA's subject key id. */
  authorityKeyId: string;
}

export interface MemberTemplateInput extends LeafTemplateInput {
  name: string;
  hosts: SplitHosts;
}

export function memberTemplate(input: MemberTemplateInput): CertificateTemplate {
  const names: x509.JsonGeneralName[] = [
    ...input.hosts.dns.map((value) => ({ type: 'dns' as const, value })),
    ...input.hosts.ips.map((value) => ({ type: 'ip' as const, value })),
    { type: 'url', value: `${memberUriPrefix}${input.name}` },
  ];
  return {
    serialNumber: input.serialNumber,
    subject: [{ CN: [input.name] }, { O: [membersOrganization] }],
    ...input.validity,
    extensions: [
      ...leafExtensions(input),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
      new x509.SubjectAlternativeNameExtension(names, false),
    ],
  };
}

export interface ClientTemplateInput extends LeafTemplateInput {
  user: string;
  groups: readonly string[];
}

export function clientTemplate(input: ClientTemplateInput): CertificateTemplate {
  return {
    serialNumber: input.serialNumber,
    // One RDN per group, so each O is its own attribute (as kube-apiserver reads them).
    subject: [{ CN: [input.user] }, ...input.groups.map((group) => ({ O: [group] }))],
    ...input.validity,
    extensions: [
      ...leafExtensions(input),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
    ],
  };
}

function leafExtensions(input: LeafTemplateInput): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.SubjectKeyIdentifierExtension(input.subjectKeyId),
    new x509.AuthorityKeyIdentifierExtension(input.authorityKeyId),
  ];
}
