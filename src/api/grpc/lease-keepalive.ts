/**
 * etcd's LeaseKeepAlive: a bidirectional stream on which the client sends lease IDs and gets, for each,
 * the lease's TTL once it is renewed (TTL 0: the lease does not exist, as etcd answers). It rides the
 * stream machinery of the Watch service (watch-stream.ts): it counts toward the user's
 * watchStreamsPerUserMax, a client that does not read is cut off, a stopping member ends it. The audit
 * step records the stream once, when it opens (a keep-alive every few seconds per lease would
 * otherwise flood the log); each renewal of a lease the store holds is a Raft write (LeaseService.keepAlive).
 *
 * Renewals run one at a time per stream, in the order asked; an ID asked again while its renewal is
 * queued is answered once (a client only resends when it heard nothing). At most leaseKeepAlivesQueuedMax
 * wait: while they do, the stream reads no more of its client (the rest of the chunk read last waits for
 * room), so HTTP/2 flow control holds the client back, as etcd reads a stream's next keep-alive only after
 * answering the last. A renewal that fails (no leader, a timeout) ends the stream with its gRPC
 * status; clients open a new one, as they do against etcd. So does a renewal refused because the caller
 * may not `update` one of the lease's keys (LeaseService.keepAlive, checked at each renewal): the stream
 * ends with PERMISSION_DENIED, the renewals answered before it stand.
 */
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { leaseKeepAlivesQueuedMax } from '../../config/index.ts';
import { recordStreamRequest } from '../audit-plugin.ts';
import { callerFor } from '../k8s/authorization.ts';
import type { KvService } from '../kv/service.ts';
import { parsedRequest } from '../request.ts';
import type { WatchStreams, WatchWire } from '../watch-stream.ts';
import { FrameReader, decode, encode, idField, messageType } from '../../etcdpb/index.ts';
import { headerToProto } from './kv-codec.ts';
import { type GrpcError, grpcMessageValue, httpEquivalent, toGrpcError } from './status.ts';
import { grpcFrames } from './watch.ts';

const keepAliveRequest = messageType('LeaseKeepAliveRequest');
const keepAliveResponse = messageType('LeaseKeepAliveResponse');

export function serveKeepAliveStream(request: FastifyRequest, reply: FastifyReply, service: KvService, streams: WatchStreams): void {
  const body = request.body as Readable;
  let status: GrpcError = { code: 0, message: '' };
  const wire: WatchWire = {
    ...grpcFrames,
    end: (response) => {
      response.addTrailers({ 'grpc-status': String(status.code), ...(status.message === '' ? {} : { 'grpc-message': grpcMessageValue(status.message) }) });
      response.end();
    },
  };
  const caller = callerFor(request);
  const { info } = parsedRequest(request.raw);
  // Each renewal checks the lease's keys; the stream itself ends once the caller may not make this call.
  const stream = streams.start(request, reply, () => body.destroy(), () => service.stillAllowed(caller, info, []), wire, 0);
  const endWith = (error: unknown) => {
    status = toGrpcError(error);
    stream.end();
  };
  const reader = new FrameReader();
  /** Lease IDs read off the body and not yet queued: the rest of a chunk that came while the queue was full. */
  let unread: number[] = [];
  const queued: number[] = [];
  const waiting = new Set<number>();
  let running = false;
  let draining: Promise<void> = Promise.resolve();

  /** Queues what fits of `unread`; the body is read on only once all of it is queued. */
  const admit = () => {
    let taken = 0;
    for (; taken < unread.length && queued.length < leaseKeepAlivesQueuedMax; taken++) {
      const id = unread[taken]!;
      if (waiting.has(id)) continue;
      waiting.add(id);
      queued.push(id);
    }
    unread = unread.slice(taken);
    if (unread.length > 0) body.pause();
    else body.resume();
  };

  const renewNext = async () => {
    running = true;
    while (queued.length > 0 && stream.isOpen) {
      const id = queued.shift()!;
      waiting.delete(id);
      admit();
      try {
        const renewed = await service.leases.keepAlive(caller, id);
        const answer = encode(keepAliveResponse, { header: headerToProto(service.header(renewed.revision)), ID: id, TTL: renewed.ttl });
        stream.send(answer, () => answer);
      } catch (error) {
        // The refusal is recorded (an event of its own, naming the stream's) before the stream ends with it.
        const refusal = toGrpcError(error);
        try {
          await recordStreamRequest(request, httpEquivalent(refusal.code), refusal.message);
          endWith(error);
        } catch (unrecorded) {
          endWith(unrecorded);
        }
      }
    }
    running = false;
  };

  body.on('data', (chunk: Buffer) => {
    try {
      unread = unread.concat(reader.push(chunk).map((message) => idField(decode(keepAliveRequest, message), 'ID')));
    } catch (error) {
      endWith(error);
      return;
    }
    admit();
    if (!running) draining = renewNext();
  });
  // A client that closes its side has its queued renewals answered, then the stream ends.
  body.once('end', () => void draining.then(() => stream.end()));
  body.once('error', () => stream.end());
}
