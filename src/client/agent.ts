/**
 * The keep-alive agent both clients dial through. A server closes a connection it has held idle for its
 * keep-alive timeout; a request the client sends on it at that moment is lost after sending, and a
 * write's outcome is then unknown (CONNECTION_LOST, not retried). Servers name that timeout in every
 * answer (`Keep-Alive: timeout=N`, as Coffer's client port and node's servers do), and node's agent drops
 * an idle socket a second before it — but only when the agent has an idle timeout of its own, which it
 * has none of by default. So every agent is given one (`clientIdleSocketTimeoutMs`). The timeout only
 * closes idle sockets: on a socket in use (a long request, a quiet watch) it is an event nobody acts on.
 */
import https from 'node:https';
import type { ConnectionOptions } from 'node:tls';
import { clientIdleSocketTimeoutMs } from '../config/index.ts';

export function keepAliveAgent(tls: ConnectionOptions, maxSockets?: number): https.Agent {
  // After the TLS options, which may carry a socket `timeout` of their own: the idle timeout must hold.
  return new https.Agent({ ...tls, keepAlive: true, timeout: clientIdleSocketTimeoutMs, ...(maxSockets === undefined ? {} : { maxSockets }) });
}
