/**
 * The client port's server options: its TLS material and how long a client may take, so that slow
 * clients cannot hold sockets forever (docs/security.md, "Slow clients"). node enforces the header and
 * request timeouts on its own schedule (every apiTimeoutCheckIntervalMs) and answers 408 before the
 * request reaches the API; fastify sets the request and keep-alive timeouts from its own options, so
 * they are given there as well. The handshake timeout comes with the TLS options (pki's
 * serverTlsOptions). No idle timeout is set on the socket: a watch stream may be quiet for long.
 */
import type { TlsOptions } from 'node:tls';
import { apiHeadersTimeoutMs, apiKeepAliveTimeoutMs, apiRequestTimeoutMs, apiTimeoutCheckIntervalMs } from '../config/index.ts';

export interface ClientListenerOptions {
  https: TlsOptions & { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number };
  requestTimeout: number;
  keepAliveTimeout: number;
}

export function clientListenerOptions(tls: TlsOptions): ClientListenerOptions {
  return {
    https: { ...tls, headersTimeout: apiHeadersTimeoutMs, requestTimeout: apiRequestTimeoutMs, connectionsCheckingInterval: apiTimeoutCheckIntervalMs },
    requestTimeout: apiRequestTimeoutMs,
    keepAliveTimeout: apiKeepAliveTimeoutMs,
  };
}
