/**
 * How the clients talk to endpoints. Whether a request has certainly left: once its TLS connection is up (a new socket finished its
 * handshake, or a keep-alive socket was reused) the server may have it, so a failure after that is
 * "outcome unknown"; before it, the request was never sent and may go to another endpoint. One place
 * for the rule that the KV transport and the Kubernetes client both follow.
 */
import type { ClientRequest } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { ClientError } from './errors.ts';

/** The sockets whose TLS handshake a tracked request saw finish. */
const handshaken = new WeakSet<object>();

export class SendTracker {
  private isSent = false;
  private readonly connectTimer: NodeJS.Timeout | undefined;

  /** `onNoConnection` runs if no connection is up within `connectTimeoutMs`. */
  constructor(request: ClientRequest, connectTimeoutMs: number | undefined, onNoConnection: () => void) {
    if (connectTimeoutMs !== undefined) {
      this.connectTimer = setTimeout(() => {
        if (!this.isSent) onNoConnection();
      }, Math.max(0, connectTimeoutMs));
    }
    request.on('socket', (socket) => {
      // A keep-alive socket handed to a request that waited in the agent's queue is not flagged as
      // reused (node's agent sets reusedSocket only when a request finds a free socket), so a socket
      // counts as connected once it has been seen to finish its handshake.
      if (request.reusedSocket || handshaken.has(socket)) {
        this.markSent();
        return;
      }
      (socket as TLSSocket).once('secureConnect', () => {
        handshaken.add(socket);
        this.markSent();
      });
    });
  }

  get sent(): boolean {
    return this.isSent;
  }

  stop(): void {
    clearTimeout(this.connectTimer);
  }

  /** The error for a request that failed with `cause` (a socket or TLS error). */
  lost(endpoint: string, where: string, cause: Error & { code?: string }): ClientError {
    const what = cause.code ?? cause.message;
    return this.isSent
      ? new ClientError('CONNECTION_LOST', `${where}: connection lost after sending (${what})`, { endpoint, cause })
      : new ClientError('UNAVAILABLE', `${endpoint}: cannot connect (${what})`, { endpoint, cause });
  }

  /** The error for a request whose deadline passed with no answer. */
  timedOut(endpoint: string, where: string): ClientError {
    return this.isSent
      ? new ClientError('TIMEOUT', `${where} did not answer in time`, { endpoint })
      : new ClientError('UNAVAILABLE', `${endpoint} could not be reached before the deadline`, { endpoint });
  }

  private markSent(): void {
    this.isSent = true;
    this.stop();
  }
}

/** Checks that every endpoint is an https:// URL and drops trailing slashes, so paths join cleanly. */
export function httpsEndpoints(endpoints: readonly string[]): string[] {
  if (endpoints.length === 0) throw new TypeError('at least one endpoint is required');
  for (const endpoint of endpoints) {
    if (new URL(endpoint).protocol !== 'https:') throw new TypeError(`endpoint ${endpoint} must be an https:// URL`);
  }
  return endpoints.map((e) => e.replace(/\/+$/, ''));
}
