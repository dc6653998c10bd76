/**
 * node `tls` options for Coffer's two listeners and for dialing. Every connection is mutual TLS 1.3
 * against the Coffer CA only (the `ca` option replaces node's public roots), with the CRL applied.
 *
 * The TLS layer proves "issued by our CA, valid, not revoked". Which *kind* of certificate is
 * acceptable is decided right after the handshake by identity.ts: the peer listener refuses anything
 * but a member certificate (acceptPeer), and a dialer refuses a server that is not the member it
 * meant to reach (checkServerIdentity).
 */
import {
  checkServerIdentity, type ConnectionOptions, type PeerCertificate, type SecureContextOptions, type Server, type TlsOptions,
  type TLSSocket,
} from 'node:tls';
import { tlsHandshakeTimeoutMs } from '../config/index.ts';
import { isPkiError } from './errors.ts';
import { memberIdentity, verifyMemberClaim } from './identity.ts';
import { normalizeSerial } from './serial.ts';
import type { TlsMaterial } from './tls-material.ts';

export const tlsMinVersion = 'TLSv1.3';

/** What server.setSecureContext() takes: the reloadable part of a server's options. */
export function secureContextOptions(material: TlsMaterial): SecureContextOptions {
  return {
    minVersion: tlsMinVersion,
    cert: material.cert,
    key: material.key,
    ca: material.ca,
    ...(material.crl === undefined ? {} : { crl: material.crl }),
  };
}

/**
 * Options for tls.createServer / https.createServer: a client certificate is required and verified,
 * and a handshake not done within tlsHandshakeTimeoutMs is dropped.
 */
export function serverTlsOptions(material: TlsMaterial): TlsOptions {
  return { ...secureContextOptions(material), requestCert: true, rejectUnauthorized: true, handshakeTimeout: tlsHandshakeTimeoutMs };
}

export interface ClientTlsOptions {
  /** When dialing a peer: the member the server must be (its certificate's member name). */
  expectedMember?: string;
}

/** Options for tls.connect / https.request with this endpoint's certificate as the client certificate. */
export function clientTlsOptions(material: TlsMaterial, options: ClientTlsOptions = {}): ConnectionOptions {
  const { expectedMember } = options;
  return {
    ...secureContextOptions(material),
    rejectUnauthorized: true,
    ...(expectedMember === undefined ? {} : {
      checkServerIdentity: (host: string, cert: PeerCertificate): Error | undefined =>
        checkServerIdentity(host, cert) ?? memberClaimError(cert, expectedMember),
    }),
  };
}

/**
 * The member on the other end of a connection accepted by the peer listener. Throws
 * NOT_A_MEMBER_CERT for a client (or missing) certificate and PEER_NAME_MISMATCH when the peer claims
 * (in the transport's hello) to be a member other than the one its certificate names.
 */
export function acceptPeer(socket: TLSSocket, claimedName?: string): string {
  const cert = socket.getPeerCertificate();
  return claimedName === undefined ? memberIdentity(cert) : verifyMemberClaim(cert, claimedName);
}

/**
 * Calls `onRefused` with the reason for every handshake the server refuses. node closes a connection
 * whose client certificate fails verification without a TLS alert, so the client sees only a close;
 * the reason (CERT_HAS_EXPIRED, CERT_REVOKED, UNABLE_TO_VERIFY_LEAF_SIGNATURE…) exists only here,
 * for the server's log.
 */
export function onHandshakeRefused(server: Server, onRefused: (reason: string, remoteAddress: string | undefined) => void): void {
  server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
    const verifyError = socket.authorizationError as unknown; // typed Error, but node stores the code string
    const reason = typeof verifyError === 'string' ? verifyError
      : verifyError instanceof Error ? verifyError.message : error.code ?? error.message;
    onRefused(reason, socket.remoteAddress);
  });
}

/** A client certificate a listener turned away, as the member logs it (never the certificate itself). */
export interface RefusedCertificate {
  /** The subject as `CN=…, O=…`, when the client sent a certificate. */
  subject?: string;
  /** Canonical serial, as `coffer ca list` shows it. */
  serial?: string;
  /** OpenSSL's verification code: CERT_REVOKED, CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE… */
  reason: string;
  remoteAddress?: string;
}

/**
 * For a listener that must say whose certificate it refused and why (the client port: a user asks why
 * they are turned away). node's own refusal (`rejectUnauthorized: true`) drops the certificate before
 * anything can read it, so such a listener takes the handshake with `rejectUnauthorized: false`, and
 * this closes every connection whose certificate did not verify against the CA and CRL — before any
 * byte of a request is read (it runs ahead of the HTTP server's own listener) — and reports it.
 * Behind it, the API's identity step also refuses an unverified socket.
 */
export function closeUnverifiedClients(server: Server, onRefused: (refused: RefusedCertificate) => void): void {
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    if (socket.authorized) return;
    const cert = socket.getPeerCertificate();
    const verifyError = socket.authorizationError as unknown; // typed Error, but node stores the code string
    const reason = typeof verifyError === 'string' ? verifyError : verifyError instanceof Error ? verifyError.message : 'not verified';
    socket.destroy();
    const subject = Object.entries(cert.subject ?? {}).map(([field, value]) => `${field}=${String(value)}`).join(', ');
    onRefused({
      reason,
      ...(subject === '' ? {} : { subject }),
      ...(typeof cert.serialNumber === 'string' && cert.serialNumber !== '' ? { serial: shownSerial(cert.serialNumber) } : {}),
      ...(socket.remoteAddress === undefined ? {} : { remoteAddress: socket.remoteAddress }),
    });
  });
}

/** The serial as `coffer ca list` shows it; a foreign certificate's odd serial as it came. */
function shownSerial(serial: string): string {
  try {
    return normalizeSerial(serial);
  } catch {
    return serial;
  }
}

function memberClaimError(cert: PeerCertificate, expected: string): Error | undefined {
  try {
    verifyMemberClaim(cert, expected);
    return undefined;
  } catch (error) {
    if (isPkiError(error)) return error;
    throw error;
  }
}
