/**
 * Who is calling: the identity the verified client certificate names (CN = user, O = groups; a
 * member certificate maps to system:member:<name>). The lookup is a seam so app.inject() tests can
 * name an identity without a socket; the server passes the TLS one.
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import { clientIdentity, type ClientIdentity } from '../pki/index.ts';

export type Identify = (request: FastifyRequest) => ClientIdentity | undefined;

/**
 * A connection's certificate cannot change, so its identity is worked out once per connection (parsing
 * the certificate on every request cost about a sixth of a member's CPU under load).
 */
const identities = new WeakMap<TLSSocket, ClientIdentity | null>();

export const identifyByCertificate: Identify = (request) => {
  const socket = request.raw.socket as TLSSocket;
  if (typeof socket.getPeerCertificate !== 'function' || !socket.authorized) return undefined;
  let identity = identities.get(socket);
  if (identity === undefined) {
    try {
      identity = clientIdentity(socket.getPeerCertificate());
    } catch {
      identity = null;
    }
    identities.set(socket, identity);
  }
  return identity ?? undefined;
};
