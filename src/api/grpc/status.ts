/**
 * How a gRPC call ends: always as an HTTP/2 200 whose trailers carry `grpc-status` and a percent-encoded
 * `grpc-message` — success or error, refusals by the gate and the audit step included. Errors are mapped
 * once (errors.ts), which also says what etcd's gRPC API answers where its clients match the text: then
 * `grpc-message` is exactly etcd's description (etcd-errors.ts) and Coffer's fuller message, if any,
 * travels in a trailer of its own, `coffer-detail`.
 * A request is a gRPC call when its content type says so, whatever its path.
 */
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CofferError } from '../../base/index.ts';
import { grpc, toApiError } from '../errors.ts';
import { etcdStatusOf, permissionDenied } from '../etcd-errors.ts';
import { frame, MessageTooLargeError, WireError } from '../../etcdpb/index.ts';

export const grpcContentType = 'application/grpc';

export const grpcStatus = { ok: 0, ...grpc, unimplemented: 12 } as const;

/** An answer that is a gRPC status rather than an error of the layers below (FailedPrecondition for what Coffer refuses). */
export class GrpcStatusError extends CofferError {
  readonly code = 'E_GRPC_STATUS';
  constructor(readonly grpcCode: number, message: string) {
    super(message);
  }
}

export interface GrpcError {
  code: number;
  message: string;
  /** Coffer's fuller message where `message` is etcd's exact description: the `coffer-detail` trailer. */
  detail?: string;
}

/** The trailer that carries Coffer's fuller message beside etcd's exact description. */
export const detailTrailer = 'coffer-detail';

export function isGrpcRequest(request: FastifyRequest): boolean {
  const contentType = request.headers['content-type'] ?? '';
  return contentType === grpcContentType || contentType.startsWith(`${grpcContentType}+`) || contentType.startsWith(`${grpcContentType};`);
}

/** An error as a gRPC status: etcd's own where its clients depend on it (errors.ts maps both). */
export function toGrpcError(error: unknown): GrpcError {
  if (error instanceof MessageTooLargeError) return { code: grpcStatus.invalidArgument, message: error.message };
  if (error instanceof WireError) return { code: grpcStatus.invalidArgument, message: `invalid request: ${error.message}` };
  if (error instanceof GrpcStatusError) return { code: error.grpcCode, message: error.message };
  const mapped = toApiError(error);
  return asEtcd(mapped.etcd ?? etcdStatusOf(mapped.message) ?? { code: mapped.code, message: mapped.message }, mapped.message);
}

/** A refusal (the gate's, the audit step's) as a gRPC status: a permission refusal in etcd's exact words. */
export function grpcRefusalOf(code: number, message: string): GrpcError {
  if (code === grpc.permissionDenied) return asEtcd({ code, message: permissionDenied }, message);
  return asEtcd(etcdStatusOf(message) ?? { code, message }, message);
}

/** `status` with `message` as its detail when that says more than the status's own words. */
function asEtcd(status: { code: number; message: string }, message: string): GrpcError {
  return message === status.message ? status : { ...status, detail: message };
}

/** The HTTP status a gRPC status stands for (audit records and metrics count calls by it). */
export function httpEquivalent(code: number): number {
  const byCode: Record<number, number> = {
    [grpcStatus.ok]: 200, [grpcStatus.invalidArgument]: 400, [grpcStatus.outOfRange]: 400, [grpcStatus.failedPrecondition]: 400,
    [grpcStatus.unauthenticated]: 401, [grpcStatus.permissionDenied]: 403, [grpcStatus.notFound]: 404, [grpcStatus.aborted]: 409, [grpcStatus.resourceExhausted]: 429,
    [grpcStatus.unimplemented]: 501, [grpcStatus.unavailable]: 503, [grpcStatus.deadlineExceeded]: 504,
  };
  return byCode[code] ?? 500;
}

/** The outcome of each gRPC call, for the audit step and metrics (the HTTP status of a gRPC call is always 200). */
const outcomes = new WeakMap<object, number>();

/** The status code to record for a request: the gRPC call's equivalent, or the reply's own. */
export function recordedStatusCode(request: FastifyRequest, reply: FastifyReply): number {
  return outcomes.get(request.raw) ?? reply.statusCode;
}

/** Sends a gRPC answer: the one message, framed (none for an error), then `code` and `message` as trailers. */
export function sendGrpc(request: FastifyRequest, reply: FastifyReply, answer: Uint8Array | undefined, code: number = grpcStatus.ok, message = '', detail?: string): FastifyReply {
  void reply.code(200).header('content-type', grpcContentType);
  setStatus(request, reply, code, message, detail);
  return reply.send(answer === undefined ? Buffer.alloc(0) : frame(answer));
}

/**
 * A status message as the grpc-message trailer carries it (gRPC over HTTP/2: percent-encoded): printable
 * ASCII but '%' as it is, every other byte of its UTF-8 as %XX. Escaping more breaks clients: grpc-js
 * decodes with decodeURI, which leaves %3A (':') as it came, and the etcd3 client then fails to match
 * "etcdserver: requested lease not found".
 */
export function grpcMessageValue(message: string): string {
  let value = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    value += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return value;
}

/** Sends a server-streamed answer: already framed messages, then status OK in the trailers once they are all out. */
export function sendGrpcStream(request: FastifyRequest, reply: FastifyReply, frames: Readable): FastifyReply {
  void reply.code(200).header('content-type', grpcContentType);
  setStatus(request, reply, grpcStatus.ok, '');
  return reply.send(frames);
}

/** The call's status as trailers (set again, they replace the earlier ones), and its outcome for the audit step. */
function setStatus(request: FastifyRequest, reply: FastifyReply, code: number, message: string, detail?: string): void {
  outcomes.set(request.raw, httpEquivalent(code));
  reply.trailer('grpc-status', (_reply, _payload, done) => done(null, String(code)));
  if (message !== '') reply.trailer('grpc-message', (_reply, _payload, done) => done(null, grpcMessageValue(message)));
  if (detail !== undefined) reply.trailer(detailTrailer, (_reply, _payload, done) => done(null, grpcMessageValue(detail)));
}

/** Turns an answer being sent (an onSend hook) into `error`: its messages dropped, its trailers replaced. */
export function grpcRefusal(request: FastifyRequest, reply: FastifyReply, error: GrpcError): Buffer {
  setStatus(request, reply, error.code, error.message, error.detail);
  return Buffer.alloc(0);
}

export function sendGrpcError(request: FastifyRequest, reply: FastifyReply, error: GrpcError): FastifyReply {
  return sendGrpc(request, reply, undefined, error.code, error.message, error.detail);
}
