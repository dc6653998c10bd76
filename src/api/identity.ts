/**
 * Who is calling: the identity the verified client certificate names (CN = user, O = groups; a
 * member certificate maps to system:member:<name>). The lookup is a seam so app.inject() tests can
 * name an identity without a socket; the server passes the TLS one.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { clientIdentitiesCachedMax } from '../config/index.ts';
import { clientIdentity, type ClientIdentity, heldCertificate, type HeldCertificate } from '../pki/index.ts';

/**
 * What an identity is read from: a request's connection, and its headers for tests that name identities
 * without sockets. A request node refused before routing has only its connection (headers empty).
 */
export interface IdentitySource {
  /** `stream` is present on HTTP/2 requests (node's compatibility layer): its session is the connection. */
  raw: { socket: Socket; stream?: { session?: { socket: Socket } | undefined } };
  headers: IncomingHttpHeaders;
}

export type Identify = (request: IdentitySource) => ClientIdentity | undefined;

/** Whether a certificate verified at its connection's handshake is still good now (TlsReloader.accepts). */
export interface CertificateCheck {
  accepts(held: HeldCertificate): boolean;
}

interface Known {
  identity: ClientIdentity;
  held: HeldCertificate;
}

/**
 * The identity of the verified client certificate on the request's connection, as long as that
 * certificate is still good: a keep-alive connection opened before a revocation, or one whose
 * certificate has since expired, gets no identity (so 401) from the next request on, even before the
 * reload closes it (docs/security.md, "Revocation").
 *
 * A connection's certificate cannot change, so its identity is worked out once per connection (parsing
 * the certificate on every request cost about a sixth of a member's CPU under load); the check against
 * the current CRL and clock is a set lookup and two comparisons per request. Over HTTP/2 each stream's
 * `socket` is a new proxy of the connection, so the key is the session's socket, one per connection.
 */
export function identifyByCertificate(certificates: CertificateCheck): Identify {
  const known = new WeakMap<TLSSocket, Known | null>();
  const identityOf = identitiesByCertificate();
  return (request) => {
    const socket = (request.raw.stream?.session?.socket ?? request.raw.socket) as TLSSocket;
    if (typeof socket.getPeerCertificate !== 'function' || !socket.authorized) return undefined;
    let entry = known.get(socket);
    if (entry === undefined) {
      const peer = socket.getPeerCertificate() as ReturnType<TLSSocket['getPeerCertificate']> | null;
      // A closed connection tells no certificate.
      if (peer === null) return undefined;
      const held = heldCertificate(peer);
      const identity = held === undefined ? null : identityOf(peer.raw);
      entry = held !== undefined && identity !== null ? { identity, held } : null;
      known.set(socket, entry);
    }
    return entry !== null && certificates.accepts(entry.held) ? entry.identity : undefined;
  };
}

/**
 * The identity a certificate's DER names (null: none), remembered for the next connection that presents
 * the same bytes: it is a function of those bytes alone, so only parsing is saved — whether the
 * certificate is still good is asked on every request.
 */
function identitiesByCertificate(): (der: Buffer) => ClientIdentity | null {
  const byDer = new Map<string, ClientIdentity | null>();
  return (der) => {
    const key = der.toString('base64');
    let identity = byDer.get(key);
    if (identity === undefined) {
      try {
        // Shared by every connection with this certificate: frozen, so no request can change another's.
        const parsed = clientIdentity(der);
        Object.freeze(parsed.groups);
        identity = Object.freeze(parsed);
      } catch {
        identity = null;
      }
      if (byDer.size >= clientIdentitiesCachedMax) byDer.delete(byDer.keys().next().value as string);
      byDer.set(key, identity);
    }
    return identity;
  };
}
