/**
 * The client's one error type. `code` tells the caller what is known about the request's effect:
 *
 * - UNAVAILABLE: no endpoint could be reached (refused, unreachable, TLS handshake failed or timed
 *   out). The request was never sent, so it certainly had no effect.
 * - TIMEOUT: the request was sent and no full answer came in time. INDETERMINATE: it may take effect.
 * - CONNECTION_LOST: the connection broke after the request was sent. INDETERMINATE.
 * - REJECTED: the server answered 4xx (bad request, failed precondition, not found, compacted…).
 *   Definite: nothing changed.
 * - SERVER: the server answered 5xx (no leader, timed out inside the cluster, internal). The server
 *   could not say whether a write committed, so a write is INDETERMINATE.
 * - BAD_RESPONSE: the answer was not the JSON expected (or too large). INDETERMINATE.
 *
 * Invariant: `indeterminate` is true exactly for TIMEOUT, CONNECTION_LOST, SERVER and BAD_RESPONSE.
 * Messages name endpoints and status codes, never keys' values.
 */
import { CofferError } from '../base/index.ts';

export type ClientErrorCode = 'UNAVAILABLE' | 'TIMEOUT' | 'CONNECTION_LOST' | 'REJECTED' | 'SERVER' | 'BAD_RESPONSE';

const indeterminateCodes: ReadonlySet<ClientErrorCode> = new Set(['TIMEOUT', 'CONNECTION_LOST', 'SERVER', 'BAD_RESPONSE']);

export interface ClientErrorDetails {
  /** The endpoint the request went to (for UNAVAILABLE: the last one tried). */
  endpoint?: string;
  /** HTTP status, for REJECTED and SERVER. */
  status?: number;
  /** The gRPC code in an etcd-style error body (`{"error","code","message"}`), when present. */
  grpcCode?: number;
  cause?: unknown;
}

export class ClientError extends CofferError {
  readonly code: ClientErrorCode;
  readonly endpoint: string | undefined;
  readonly status: number | undefined;
  readonly grpcCode: number | undefined;
  /** True when a write that failed this way may still have taken (or take) effect. */
  readonly indeterminate: boolean;

  constructor(code: ClientErrorCode, message: string, details: ClientErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.endpoint = details.endpoint;
    this.status = details.status;
    this.grpcCode = details.grpcCode;
    this.indeterminate = indeterminateCodes.has(code);
  }
}

export function isClientError(error: unknown): error is ClientError {
  return error instanceof ClientError;
}
