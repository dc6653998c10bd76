/**
 * pki — Coffer's built-in certificate authority and its mutual-TLS plumbing.
 *
 * Owns: the CA directory (ca.crt, ca.key, crl.pem, issued.json, its lock ca.lock, members/, clients/),
 * certificate templates (pure), issuing, revocation and CRLs, PKCS#12 export, TLS options for the peer
 * and client listeners and for dialing, hot reload of TLS material, and mapping peer certificates to
 * identities.
 *
 * Invariants: ECDSA P-256 keys and SHA-256 signatures only; private keys are written 0600 and never
 * logged or put into errors; a member certificate and a client certificate are always
 * distinguishable (O coffer:members + URI SAN coffer://member/<name> + serverAuth), and no client
 * certificate can be issued with the members' reserved names; every connection is TLS 1.3 with a
 * client certificate verified against the Coffer CA and its CRL; issued.json and crl.pem change only
 * under the CA directory's lock, and a certificate is in issued.json before its files exist.
 */
export { PkiError, type PkiErrorCode, isPkiError } from './errors.ts';
export {
  checkGroups, checkMemberName, checkUserName, splitHosts, type SplitHosts,
  memberUriPrefix, memberUserPrefix, membersGroup, membersOrganization,
} from './names.ts';
export { normalizeSerial, serialFromRandomBytes } from './serial.ts';
export {
  caTemplate, clientTemplate, memberTemplate, validityFor,
  type CaTemplateInput, type CertificateTemplate, type ClientTemplateInput, type MemberTemplateInput, type Validity,
} from './templates.ts';
export { keyIdOf, signCertificate, type Issuer } from './sign.ts';
export { crlNumberOf, crlToPem, derInteger, signCrl, type CrlInput, type RevokedEntry } from './crl.ts';
// x509: @peculiar/x509 with its WebCrypto provider set (import it from here, never directly).
export { generateKeyPair, x509, type CryptoKey, type CryptoKeyPair } from './crypto-provider.ts';
export { buildPkcs12, type Pkcs12Input } from './pkcs12.ts';
export { caLayout, type CaLayout } from './layout.ts';
export { privateFileMode, publicFileMode, writeFileAtomic } from './files.ts';
export { type CertKind, type IssuedRecord, type Registry } from './registry.ts';
export {
  caCommonNameDefault, initCa, listIssued, loadCa, readRegistry, type CaSigner, type InitCaOptions, type InitCaResult,
} from './ca.ts';
export {
  issueClient, issueMember, revokeCertificate,
  type IssueClientOptions, type IssueMemberOptions, type IssueResult, type RevokeOutcome,
} from './issue.ts';
export { bootstrapCa, bootstrapDefaults, type BootstrapOptions, type BootstrapResult } from './bootstrap.ts';
export { clientIdentity, memberIdentity, verifyMemberClaim, type ClientIdentity, type PeerCertificateLike } from './identity.ts';
export { heldCertificate, type HeldCertificate } from './held-certificate.ts';
export { loadTlsMaterial, type TlsFiles, type TlsMaterial } from './tls-material.ts';
export { loadMemberTrust, type MemberTrust } from './member-trust.ts';
export {
  acceptPeer, clientTlsOptions, closeUnverifiedClients, onHandshakeRefused, type RefusedCertificate, secureContextOptions, serverTlsOptions, tlsMinVersion, type ClientTlsOptions,
} from './tls-options.ts';
export { TlsReloader, type TlsReloaderEvents, type TlsReloaderOptions } from './tls-reloader.ts';
export { buildKubeconfig, type KubeconfigInput } from './kubeconfig.ts';
