/**
 * etcd's Watch service: one bidirectional stream carries many watches. The client sends create, cancel
 * and progress requests; each watch's events, its creation and its end come back on the same stream,
 * named by a watch ID local to the stream (chosen by the client or counted from 0, as etcd does).
 * The stream is a WatchStream (watch-stream.ts), so it has the bounds of every watch the member serves:
 * it counts toward the user's watchStreamsPerUserMax and each watch it creates toward the user's
 * watchersPerUserMax, a client that does not read is cut off, and a stopping member ends it (with status
 * OK; clients watch again elsewhere).
 *
 * A watch refused at creation (a key range the caller may not read, the user's watchers all in use) or
 * ended by the store (compacted start revision, fallen behind) is answered `canceled` with its reason;
 * the stream and its other watches go on. Progress requests are answered once per event-loop turn
 * however many came (answerProgress), so a flood of them costs one pass over the stream's watches per
 * turn, not one per request. Invariant: every watcher created here is held by the stream
 * (WatchStream.hold), and dropped when its watch ends or cancelled with the stream.
 */
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { grpcWatchFragmentBytes, grpcWatchRequestsQueuedMax } from '../../config/index.ts';
import { isMvccError, type WatchEvent, type Watcher } from '../../storage/mvcc/index.ts';
import { recordStreamRequest } from '../audit-plugin.ts';
import { type Caller, callerFor } from '../k8s/authorization.ts';
import type { KvService } from '../kv/service.ts';
import { parsedRequest } from '../request.ts';
import type { RequestInfo } from '../request-info.ts';
import type { StreamResponse, WatchStream, WatchStreams, WatchWire } from '../watch-stream.ts';
import { FrameReader, frame, boolField, bytesField, decode, encode, int64, type Message, messageType } from '../../etcdpb/index.ts';
import { headerToProto, kvToProto } from './kv-codec.ts';
import { grpcContentType, httpEquivalent, toGrpcError } from './status.ts';

const watchRequest = messageType('WatchRequest');
const watchResponse = messageType('WatchResponse');
const eventType = messageType('Event');

/** gRPC frames, ending with status OK in the trailers. */
export const grpcFrames: WatchWire = {
  contentType: grpcContentType,
  frame: (message) => frame(typeof message === 'string' ? Buffer.from(message) : message),
  end: (response: StreamResponse) => {
    response.addTrailers({ 'grpc-status': '0' });
    response.end();
  },
};

function eventToProto(event: WatchEvent): Message {
  return { type: event.type === 'delete' ? 'DELETE' : 'PUT', kv: kvToProto(event.kv), ...(event.prevKv ? { prev_kv: kvToProto(event.prevKv) } : {}) };
}

const compactedReason = 'etcdserver: mvcc: required revision has been compacted';

/** Why a watch ended, in etcd's words where clients match them; never an internal error's text. */
function cancelReason(error: unknown): string {
  if (isMvccError(error)) {
    if (error.code === 'E_COMPACTED') return compactedReason;
    if (error.code === 'E_WATCH_SLOW') return 'the watcher fell behind and was canceled; watch again from a newer revision';
    if (error.code === 'E_CLOSED') return 'the member is shutting down';
  }
  return toGrpcError(error).message;
}

/** Events split so each response holds at most grpcWatchFragmentBytes of them (at least one event each). */
function fragments(events: Message[]): Message[][] {
  const parts: Message[][] = [[]];
  let bytes = 0;
  for (const event of events) {
    const size = eventType.encode(eventType.fromObject(event)).len;
    if (bytes + size > grpcWatchFragmentBytes && parts.at(-1)!.length > 0) {
      parts.push([]);
      bytes = 0;
    }
    parts.at(-1)!.push(event);
    bytes += size;
  }
  return parts;
}

export function serveWatchStream(request: FastifyRequest, reply: FastifyReply, service: KvService, watches: WatchStreams): void {
  const caller = callerFor(request);
  const body = request.body as Readable;
  const { info } = parsedRequest(request.raw);
  const session = new WatchSession(service, caller, info, (onEnd, stillAllowed) => watches.start(request, reply, () => {
    onEnd();
    body.destroy();
  }, stillAllowed, grpcFrames, 0), (code, refusal) => recordStreamRequest(request, code, refusal));
  const reader = new FrameReader();
  body.on('data', (chunk: Buffer) => {
    try {
      for (const message of reader.push(chunk)) session.handle(decode(watchRequest, message));
    } catch (error) {
      session.fail(error);
    }
  });
  // A client that closes its side still receives its watches' events, as from etcd; the stream ends
  // when the client cancels it (the stream closes) or the member ends it.
  body.once('error', () => session.end());
}

/** The watches of one Watch stream, by watch id, and the stream their responses go out on. */
class WatchSession {
  /** Each watch by id, with its key range: what the caller must still be allowed to watch. */
  private readonly watches = new Map<number, { watcher: Watcher; range: { key: Uint8Array; end?: Uint8Array } }>();
  private nextId = 0;
  private readonly stream: WatchStream;
  /** Requests that came while a create was being recorded, in order: each is handled after it, so answers keep their order. */
  private readonly waiting: Message[] = [];
  private recording = false;
  /** A progress request came that answerProgress has not answered yet. */
  private progressRequested = false;

  /** `recordCreate`: records a create (HTTP status, and the reason of a refusal) before the client is told. */
  constructor(
    private readonly service: KvService, private readonly caller: Caller, private readonly info: RequestInfo,
    open: (onEnd: () => void, stillAllowed: () => boolean) => WatchStream,
    private readonly recordCreate: (code: number, refusal?: string) => Promise<void>,
  ) {
    // The stream cancels the watchers it holds as it ends.
    this.stream = open(() => this.watches.clear(), () => this.stillAllowed());
  }

  /** One request of the client's stream, handled in order behind any refusal still being recorded. */
  handle(m: Message): void {
    if (!this.recording) {
      this.handleNow(m);
      return;
    }
    if (this.waiting.length >= grpcWatchRequestsQueuedMax) {
      this.finish(`the stream sent more than ${grpcWatchRequestsQueuedMax} requests while a create was being recorded (grpcWatchRequestsQueuedMax)`);
      return;
    }
    this.waiting.push(m);
  }

  private handleNow(m: Message): void {
    switch (m.request_union) {
      case 'create_request': return this.create(m.create_request as Message);
      case 'cancel_request': return this.cancel(Number((m.cancel_request as Message).watch_id ?? 0));
      case 'progress_request': {
        // Only noted: however many come together (7 bytes each), the stream answers them once, next turn.
        if (!this.progressRequested) {
          this.progressRequested = true;
          setImmediate(() => this.answerProgress());
        }
        return undefined;
      }
      default: return undefined;
    }
  }

  /**
   * Answers every progress request that came since the last answer, at most once per event-loop turn,
   * as etcd (3.4.24+, RequestProgressAll) does: when every watch on the stream has caught up, one response
   * with watch_id -1 at the current revision, which clientv3 hands to each of the stream's watches;
   * otherwise each watch is asked for its own, sent behind its events once it has caught up (merged with
   * one still unsent). It runs on a turn of its own, after every pump has sent what it took from its
   * watcher (a pump sends as it takes, synchronously), so the -1 response overtakes no event it covers.
   */
  private answerProgress(): void {
    this.progressRequested = false;
    if (!this.stream.isOpen || this.watches.size === 0) return;
    const watchers = [...this.watches.values()].map((w) => w.watcher);
    if (watchers.every((w) => w.caughtUp)) {
      this.respond(-1, undefined, {});
      return;
    }
    for (const watcher of watchers) watcher.requestProgress();
  }

  /** The client sent what cannot be read: the stream ends with why. */
  fail(error: unknown): void {
    this.finish(toGrpcError(error).message);
  }

  private finish(reason: string): void {
    this.waiting.length = 0;
    this.stream.finishWith(encode(watchResponse, { header: headerToProto(this.service.header()), watch_id: -1, canceled: true, cancel_reason: reason }));
  }

  end(): void {
    this.stream.end();
  }

  /** Whether the caller may still make this call and watch every range it watches (the stream ends otherwise). */
  private stillAllowed(): boolean {
    return this.service.stillAllowed(this.caller, this.info, [...this.watches.values()].map((w) => w.range));
  }

  private respond(watchId: number, revision: number | undefined, fields: Message): boolean {
    const bytes = encode(watchResponse, { header: headerToProto(this.service.header(revision)), watch_id: watchId, ...fields });
    return this.stream.send(bytes, () => encode(watchResponse, {
      header: headerToProto(this.service.header()), watch_id: watchId, canceled: true,
      cancel_reason: 'the client fell behind and the stream was ended; watch again from a newer revision',
    }));
  }

  private create(m: Message): void {
    const asked = Number(m.watch_id ?? 0);
    // Counted IDs skip those in use (ones the client chose itself among them), as etcd's do.
    if (asked <= 0) while (this.watches.has(this.nextId)) this.nextId += 1;
    const watchId = asked > 0 ? asked : this.nextId;
    if (asked <= 0) this.nextId += 1;
    if (this.watches.has(watchId)) {
      this.refuse(watchId, 400, `watch ID ${watchId} is in use on this stream`);
      return;
    }
    let watcher: Watcher;
    const end = bytesField(m, 'range_end');
    const range = { key: bytesField(m, 'key'), ...(end.length > 0 ? { end } : {}) };
    try {
      watcher = this.stream.hold(this.service.watch(this.caller, {
        ...range, startRevision: int64(m, 'start_revision'), prevKv: boolField(m, 'prev_kv'), progressNotify: boolField(m, 'progress_notify'),
      }));
    } catch (error) {
      const refusal = toGrpcError(error);
      if (isMvccError(error) && error.code === 'E_COMPACTED') {
        this.createdCompacted(watchId, httpEquivalent(refusal.code), refusal.message, error.compactRevision ?? 0);
        return;
      }
      this.refuse(watchId, httpEquivalent(refusal.code), refusal.message);
      return;
    }
    this.watches.set(watchId, { watcher, range });
    const filters = (m.filters as string[] | undefined) ?? [];
    // Its events wait for its record: a watch may replay a range's history, an access of its own.
    this.afterRecord(200, undefined, () => {
      this.respond(watchId, undefined, { created: true });
      void this.pump(watchId, watcher, { noPut: filters.includes('NOPUT'), noDelete: filters.includes('NODELETE'), fragment: boolField(m, 'fragment') });
    });
  }

  /**
   * A watch from a compacted revision, as etcd answers it: created, then canceled in a response of its
   * own naming the revision the store was compacted to (clientv3's CompactRevision), once recorded.
   */
  private createdCompacted(watchId: number, code: number, reason: string, compactRevision: number): void {
    this.afterRecord(code, reason, () => {
      if (!this.respond(watchId, undefined, { created: true })) return;
      this.respond(watchId, undefined, { canceled: true, cancel_reason: compactedReason, compact_revision: compactRevision });
    });
  }

  /** Answers a create with `canceled` and the reason once the refusal is recorded. */
  private refuse(watchId: number, code: number, reason: string): void {
    this.afterRecord(code, reason, () => this.respond(watchId, undefined, { created: true, canceled: true, cancel_reason: reason }));
  }

  /**
   * Records a create (the stream's own event is its opening), then answers it, then handles the requests
   * that came meanwhile; a log that refuses the record ends the stream.
   */
  private afterRecord(code: number, refusal: string | undefined, answer: () => void): void {
    this.recording = true;
    this.recordCreate(code, refusal).then(
      () => {
        this.recording = false;
        if (!this.stream.isOpen) return;
        answer();
        while (!this.recording && this.waiting.length > 0 && this.stream.isOpen) this.handleNow(this.waiting.shift()!);
      },
      (error: unknown) => this.fail(error),
    );
  }

  private cancel(watchId: number): void {
    const watcher = this.watches.get(watchId)?.watcher;
    if (watcher === undefined) return;
    this.watches.delete(watchId);
    this.stream.drop(watcher);
    this.respond(watchId, undefined, { canceled: true });
  }

  /** Sends a watcher's events until it ends, the client falls behind, or its watch is canceled. */
  private async pump(watchId: number, watcher: Watcher, filters: { noPut: boolean; noDelete: boolean; fragment: boolean }): Promise<void> {
    try {
      for await (const response of watcher) {
        const events = response.events.filter((e) => !(e.type === 'put' ? filters.noPut : filters.noDelete)).map(eventToProto);
        if (events.length === 0 && response.events.length > 0) continue;
        const parts = filters.fragment ? fragments(events) : [events];
        for (const [i, part] of parts.entries()) {
          if (!this.respond(watchId, response.revision, { events: part, fragment: i < parts.length - 1 })) return;
        }
      }
    } catch (error) {
      if (this.watches.get(watchId)?.watcher !== watcher) return;
      const compactRevision = (error as { compactRevision?: number }).compactRevision;
      this.respond(watchId, undefined, { canceled: true, cancel_reason: cancelReason(error), ...(compactRevision !== undefined ? { compact_revision: compactRevision } : {}) });
    } finally {
      if (this.watches.get(watchId)?.watcher === watcher) this.watches.delete(watchId);
      this.stream.drop(watcher);
    }
  }
}
