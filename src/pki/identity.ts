/**
 * Who is on the other end of a verified TLS connection. These functions run after OpenSSL has
 * verified the chain to the Coffer CA, validity and the CRL; they read the (DER) peer certificate
 * and decide what kind of certificate it is.
 *
 * A member certificate is recognised by all of: O exactly `coffer:members`, the URI SAN
 * `coffer://member/<name>` with <name> equal to CN, and EKU serverAuth. Client certificates can never
 * satisfy this (issuing refuses the reserved group; client EKU is clientAuth only), so a client
 * certificate cannot pass as a member.
 *
 * Choice for the client port: a member certificate is accepted there and maps to user
 * `system:member:<name>`, group `system:members` (as Kubernetes maps node certificates to
 * `system:node:<name>`), so members can forward requests to the leader's API under their own name;
 * RBAC decides what that identity may do. No client certificate can produce this identity: client
 * user names cannot contain ':' and `system:members` is a reserved group.
 */
import { x509 } from './crypto-provider.ts';
import { PkiError } from './errors.ts';
import { memberUriPrefix, memberUserPrefix, membersGroup, membersOrganization } from './names.ts';

/** node's `getPeerCertificate()` result (its `raw` DER), or the DER bytes themselves. */
export type PeerCertificateLike = Uint8Array | { raw?: Uint8Array };

export interface ClientIdentity {
  user: string;
  groups: string[];
  /** Which kind of certificate the identity came from. */
  kind: 'client' | 'member';
}

export function clientIdentity(peerCert: PeerCertificateLike): ClientIdentity {
  const cert = parsePeer(peerCert, 'NOT_A_CLIENT_CERT');
  const member = memberNameOf(cert);
  if (member !== undefined) return { user: `${memberUserPrefix}${member}`, groups: [membersGroup], kind: 'member' };
  const commonNames = cert.subjectName.getField('CN');
  const user = commonNames[0];
  if (commonNames.length !== 1 || user === undefined || user === '') {
    throw new PkiError('NOT_A_CLIENT_CERT', `certificate ${cert.serialNumber} has no single CN to use as the user`);
  }
  const groups = cert.subjectName.getField('O');
  if (groups.includes(membersOrganization) || groups.includes(membersGroup) || user.startsWith(memberUserPrefix)) {
    // Claims the members' names without being a well-formed member certificate.
    throw new PkiError('NOT_A_CLIENT_CERT', `certificate ${cert.serialNumber} uses names reserved for members`);
  }
  return { user, groups, kind: 'client' };
}

/** The member a certificate names; throws NOT_A_MEMBER_CERT for anything else (client certificates included). */
export function memberIdentity(peerCert: PeerCertificateLike): string {
  const cert = parsePeer(peerCert, 'NOT_A_MEMBER_CERT');
  const name = memberNameOf(cert);
  if (name === undefined) {
    throw new PkiError('NOT_A_MEMBER_CERT', `certificate ${cert.serialNumber} (${cert.subject}) is not a member certificate`);
  }
  return name;
}

/** The member name, if the certificate is one; checks the peer is the member it claims to be. */
export function verifyMemberClaim(peerCert: PeerCertificateLike, claimedName: string): string {
  const name = memberIdentity(peerCert);
  if (name !== claimedName) {
    throw new PkiError('PEER_NAME_MISMATCH', `peer claims to be member ${JSON.stringify(claimedName)} but its certificate is member ${JSON.stringify(name)}`);
  }
  return name;
}

function memberNameOf(cert: x509.X509Certificate): string | undefined {
  const organizations = cert.subjectName.getField('O');
  const commonNames = cert.subjectName.getField('CN');
  const name = commonNames[0];
  if (organizations.length !== 1 || organizations[0] !== membersOrganization) return undefined;
  if (commonNames.length !== 1 || name === undefined) return undefined;
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const memberUris = (san?.names.items ?? [])
    .filter((n) => n.type === 'url' && n.value.startsWith(memberUriPrefix))
    .map((n) => n.value);
  if (memberUris.length !== 1 || memberUris[0] !== `${memberUriPrefix}${name}`) return undefined;
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  if (!eku?.usages.includes(x509.ExtendedKeyUsage.serverAuth)) return undefined;
  return name;
}

function parsePeer(peerCert: PeerCertificateLike, code: 'NOT_A_MEMBER_CERT' | 'NOT_A_CLIENT_CERT'): x509.X509Certificate {
  const der = peerCert instanceof Uint8Array ? peerCert : peerCert.raw;
  if (der === undefined || der.length === 0) throw new PkiError(code, 'the peer presented no certificate');
  try {
    return new x509.X509Certificate(der);
  } catch (cause) {
    throw new PkiError(code, 'the peer certificate could not be parsed', { cause });
  }
}
