/**
 * etcd's v3 API over gRPC as a fastify plugin: every call is a POST route `/etcdserverpb.<Service>/<Method>`
 * on the same app as the rest of the client API, reached over HTTP/2 (server/client-listener.ts), so it
 * passes the same gate (identity from the client certificate, RBAC over the path as a nonResourceURL —
 * `/etcdserverpb.KV/*` and so on) and the same audit step as every request (pipeline.ts). The plugin has
 * its own body parser (gRPC frames; a Watch body is handed over as the stream it is) and its own error
 * handler: every answer, error or not, is a gRPC status in the trailers (status.ts); a request that is
 * not gRPC is answered in the etcd gateway's shape. Its calls share no path prefix fastify could scope a
 * not-found handler to: a call of an unknown method is answered UNIMPLEMENTED by whichever API's
 * not-found handler takes it, since a gRPC call is known by its content type (dialect.ts).
 *
 * Services served: KV, Watch, Lease, Maintenance, Cluster, Auth (refused, RBAC instead). Watch and
 * LeaseKeepAlive are streams, each audited when it opens; each watch a Watch stream creates, and each
 * renewal a LeaseKeepAlive stream refuses, is audited again on its own (watch.ts, lease-keepalive.ts);
 * Snapshot streams its answer (snapshot.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requestBodyBytesMax } from '../../config/index.ts';
import { declareRoutes, etcdGateway } from '../dialect.ts';
import { callerFor } from '../k8s/authorization.ts';
import { type ApiRouteConfig, backupOfEverySecret, clusterAdministration, routeConfigOf, wholeStoreRead } from '../route-config.ts';
import type { KvService } from '../kv/service.ts';
import type { WatchStreams } from '../watch-stream.ts';
import { MessageTooLargeError, singleMessage, decode, encode, messageType } from '../../etcdpb/index.ts';
import { unaryCalls } from './services.ts';
import { errorBody } from '../errors.ts';
import { grpcContentType, grpcStatus, isGrpcRequest, sendGrpc, sendGrpcError, toGrpcError } from './status.ts';
import { serveKeepAliveStream } from './lease-keepalive.ts';
import { serveWatchStream } from './watch.ts';
import { type GrpcSnapshotOptions, serveSnapshot } from './snapshot.ts';

export const grpcPathPrefix = '/etcdserverpb.';

/** The calls that only read: audited with their response, like any read (audit-plugin.ts). */
const readOnlyCalls: ReadonlySet<string> = new Set([
  'KV/Range', 'Maintenance/Status', 'Maintenance/HashKV', 'Maintenance/Hash', 'Cluster/MemberList', 'Lease/LeaseTimeToLive', 'Lease/LeaseLeases',
]);

/**
 * The calls only system:masters may make (route-config.ts, mastersOnly), with what they do: change the
 * cluster itself, or hash the whole store (every value; etcd's authMaintenanceServer checks admin for
 * Hash and HashKV as for Snapshot and Defragment).
 */
const mastersOnlyCalls: ReadonlyMap<string, string> = new Map([
  ...['KV/Compact', 'Maintenance/Defragment', 'Maintenance/MoveLeader',
    'Cluster/MemberAdd', 'Cluster/MemberRemove', 'Cluster/MemberUpdate', 'Cluster/MemberPromote'].map((call) => [call, clusterAdministration] as const),
  ...['Maintenance/HashKV', 'Maintenance/Hash'].map((call) => [call, wholeStoreRead] as const),
]);

/** The calls that change the store only by proposing: a call's audit record travels in its Raft entry (route-config.ts, auditInEntry). */
const auditInEntryCalls: ReadonlySet<string> = new Set(['KV/Put', 'KV/DeleteRange', 'KV/Txn', 'Lease/LeaseGrant', 'Lease/LeaseRevoke']);

/** The length-prefixed message framing a unary call's one message (compression flag, 4-byte length), in bytes. */
const grpcMessagePrefixBytes = 5;
/** A unary call's body limit: one message of up to requestBodyBytesMax, framed (body-intake.ts gathers it within it). */
const unaryBodyBytesMax = requestBodyBytesMax + grpcMessagePrefixBytes;

/**
 * Reads a unary call's body: gathered whole by the body intake (body-intake.ts), within unaryBodyBytesMax;
 * past it, etcd's "request is too large".
 */
function readBody(request: FastifyRequest, payload: NodeJS.ReadableStream, done: (error: Error | null, body?: unknown) => void): void {
  if (routeConfigOf(request).streamedBody === true) {
    done(null, payload);
    return;
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  let failed = false;
  const fail = (error: Error): void => {
    if (failed) return;
    failed = true;
    done(error);
  };
  payload.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > unaryBodyBytesMax) fail(new MessageTooLargeError());
    else if (!failed) chunks.push(chunk);
  });
  payload.on('end', () => {
    if (!failed) done(null, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  });
  payload.on('error', (error: Error & { code?: string }) => {
    fail(error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? new MessageTooLargeError() : error);
  });
}

export interface GrpcApiOptions {
  service: KvService;
  watches: WatchStreams;
  /** The backup recipient etcd's Snapshot is sealed to; the call is refused without one. */
  snapshot?: GrpcSnapshotOptions;
}

/** The gRPC API, a fastify plugin (registered by app.ts). */
export function grpcApi(grpc: FastifyInstance, options: GrpcApiOptions, done: (error?: Error) => void): void {
  const { service, watches } = options;
  declareRoutes(grpc, { dialect: etcdGateway });
  // Only gRPC bodies: anything else is 415, in the gateway's error shape (a client that is not speaking gRPC).
  grpc.removeAllContentTypeParsers();
  grpc.addContentTypeParser([grpcContentType, `${grpcContentType}+proto`], readBody);
  grpc.setErrorHandler((error, request, reply) => {
    if (!isGrpcRequest(request)) {
      return reply.code(415).send(errorBody({ status: 415, code: grpcStatus.invalidArgument, message: `gRPC calls take ${grpcContentType}` }));
    }
    const status = toGrpcError(error);
    if (status.code === grpcStatus.internal) request.log.error({ err: { code: (error as { code?: unknown }).code, name: (error as Error).name } }, 'gRPC call failed');
    return sendGrpcError(request, reply, status);
  });

  for (const call of unaryCalls(service)) {
    const types = call.messages && { request: messageType(call.messages.request), response: messageType(call.messages.response) };
    const name = `${call.service}/${call.method}`;
    const config: ApiRouteConfig = {
      auditReadOnly: readOnlyCalls.has(name), auditInEntry: auditInEntryCalls.has(name),
      ...(mastersOnlyCalls.has(name) ? { mastersOnly: mastersOnlyCalls.get(name)! } : {}),
    };
    grpc.post(`${grpcPathPrefix}${call.service}/${call.method}`, { config, bodyLimit: unaryBodyBytesMax }, async (request, reply) => {
      const message = types ? decode(types.request, singleMessage(request.body as Buffer)) : {};
      const answer = await call.handle(callerFor(request), message);
      return sendGrpc(request, reply, types ? encode(types.response, answer) : undefined);
    });
  }

  const snapshotConfig: ApiRouteConfig = { auditReadOnly: false, mastersOnly: backupOfEverySecret, longAnswer: true };
  grpc.post(`${grpcPathPrefix}Maintenance/Snapshot`, { config: snapshotConfig }, (request, reply) => serveSnapshot(request, reply, service, options.snapshot));

  const streamed: ApiRouteConfig = { streamedBody: true };
  grpc.post(`${grpcPathPrefix}Watch/Watch`, { config: streamed }, (request, reply) => {
    serveWatchStream(request, reply, service, watches);
  });
  grpc.post(`${grpcPathPrefix}Lease/LeaseKeepAlive`, { config: streamed }, (request, reply) => {
    serveKeepAliveStream(request, reply, service, watches);
  });
  done();
}
