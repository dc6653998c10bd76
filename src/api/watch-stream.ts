/**
 * The response side of every watch the client API serves (Kubernetes `?watch=true`, the KV
 * `/v3/watch` and the gRPC Watch stream): a hijacked stream of messages with bounds — JSON lines, or
 * gRPC frames ending with their status trailers (the `WatchWire`).
 *
 * - Memory: events are written as they come; when a client does not read, its unsent bytes grow in
 *   the response. Before each event, a stream whose unsent bytes exceed watchUnsentBytesMax is ended
 *   with a final error message (as the Kubernetes API server ends a watcher it cannot keep up with) and
 *   its socket (its HTTP/2 stream) destroyed after watchSlowCloseGraceMs if the client still does not read. So a stalled
 *   watcher holds at most watchUnsentBytesMax plus one event. A sender that can wait instead (a watch's
 *   initial events) asks for `room` before each event: it waits until the client has read what is
 *   unsent, and ends the stream the same way if it has not within watchInitialDrainWaitMs.
 * - Count: each user holds at most watchStreamsPerUserMax open streams on a member, and at most
 *   watchersPerUserMax store watchers whatever streams carry them (a Kubernetes or KV watch carries one,
 *   a gRPC Watch stream one per watch it creates: `hold`), 429 beyond, so one identity cannot take the
 *   member's watchersMax; a caller watching as another user (impersonation) counts as itself, so it
 *   cannot use up that user's share.
 * - Rights: when the RBAC policy changes, every stream whose caller may no longer watch what it carries —
 *   or may no longer impersonate the user it watches as — is ended (recheck).
 * - Shutdown: `closeAll` ends every open stream, so a stopping member is not held open by its
 *   watchers; clients relist or reconnect elsewhere.
 *
 * Invariants: a user's counts are taken before the stream starts, or a watcher is held, and given back
 * exactly once, when the stream ends or the watcher is dropped; no line is written after `end`.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { constants as http2, type Http2ServerResponse } from 'node:http2';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Clock, CofferError } from '../base/index.ts';
import { watchersPerUserMax, watchInitialDrainWaitMs, watchSlowCloseGraceMs, watchStreamsPerUserMax, watchUnsentBytesMax } from '../config/index.ts';
import type { CompiledPolicy } from '../rbac/index.ts';
import type { Watcher } from '../storage/mvcc/index.ts';
import { ForbiddenError } from './forbidden.ts';
import { connectedCaller, mayStillImpersonate } from './k8s/authorization.ts';

export class TooManyWatchesError extends CofferError {
  readonly code = 'E_TOO_MANY_WATCHES';
  constructor(user: string, held: 'open watch streams' | 'watchers') {
    const [max, limit] = held === 'watchers' ? [watchersPerUserMax, 'watchersPerUserMax'] : [watchStreamsPerUserMax, 'watchStreamsPerUserMax'];
    super(`user ${JSON.stringify(user)} already holds ${max} ${held} on this member (${limit}); close some first`);
  }
}

/** What one user holds on this member: its open streams, and the store watchers they carry. */
class Share {
  streams = 0;
  watchers = 0;

  constructor(readonly user: string) {}

  /** Counts `n` more watchers, or throws TooManyWatchesError if that would exceed watchersPerUserMax. */
  takeWatchers(n: number): void {
    if (this.watchers + n > watchersPerUserMax) throw new TooManyWatchesError(this.user, 'watchers');
    this.watchers += n;
  }
}

/** What a watch writes to: node's HTTP/1.1 response, or HTTP/2's compatibility response. */
export interface StreamResponse {
  write(chunk: string | Uint8Array): boolean;
  readonly writableLength: number;
  addTrailers(headers: Record<string, string>): void;
  end(): void;
}
type Response = StreamResponse;

/** How a stream's messages go on the wire. */
export interface WatchWire {
  contentType: string;
  /** The bytes of one message: a JSON line gets its newline; gRPC bytes their frame. */
  frame(message: string | Uint8Array): string | Uint8Array;
  /** Ends the response (gRPC: with its status trailers). */
  end(response: StreamResponse): void;
}

/** Newline-delimited JSON: Kubernetes watches and the KV gateway's. */
export const jsonLines: WatchWire = {
  contentType: 'application/json',
  frame: (message) => (typeof message === 'string' ? `${message}\n` : message),
  end: (response) => response.end(),
};

export class WatchStreams {
  private readonly perUser = new Map<string, Share>();
  /** Each open stream with its request and the check of whether its caller may still watch what it watches. */
  private readonly open = new Map<WatchStream, { request: FastifyRequest; stillAllowed: () => boolean }>();

  /** `policy`: the RBAC policy in force (PolicyHolder's), read at each recheck. */
  constructor(private readonly clock: Clock, private readonly policy: () => CompiledPolicy) {}

  /**
   * Starts the stream for `request`, counted with the `watchers` it carries from the start (a Kubernetes
   * or KV watch: its one; a gRPC stream: none, it holds its watches one by one) against the caller that
   * holds the connection, or throws TooManyWatchesError. `onEnd` runs once when the stream ends for any
   * reason (the client left, the member closes it, it fell behind, its caller lost the right to it).
   * `stillAllowed` says, against the policy in force, whether the caller may still watch what the stream
   * carries: checked now (else ForbiddenError) and at every recheck.
   */
  start(request: FastifyRequest, reply: FastifyReply, onEnd: () => void, stillAllowed: () => boolean, wire: WatchWire = jsonLines, watchers: 0 | 1 = 1): WatchStream {
    const { user } = connectedCaller(request);
    // The gate allowed the request, but a handler may wait (a watch's initial list) before the stream
    // starts, and a policy change meanwhile rechecked only the streams already open: check this one now.
    if (!mayStillImpersonate(this.policy(), request) || !stillAllowed()) {
      throw new ForbiddenError(`forbidden: user ${JSON.stringify(user)} lost the right to this stream while it started (the RBAC policy changed)`);
    }
    const share = this.perUser.get(user) ?? new Share(user);
    if (share.streams >= watchStreamsPerUserMax) throw new TooManyWatchesError(user, 'open watch streams');
    share.takeWatchers(watchers);
    share.streams += 1;
    this.perUser.set(user, share);
    const stream = new WatchStream(request, reply, this.clock, wire, share, watchers, () => {
      this.open.delete(stream);
      if (share.streams === 0) this.perUser.delete(user);
      onEnd();
    });
    this.open.set(stream, { request, stillAllowed });
    return stream;
  }

  /**
   * Ends every open stream whose caller may no longer watch what it carries: called when the RBAC
   * policy changes, so a binding removed stops the watches it allowed, not only the next requests.
   * The client sees its stream end, as when a member stops, and its next watch is refused.
   */
  recheck(): void {
    const policy = this.policy();
    for (const [stream, { request, stillAllowed }] of [...this.open]) {
      if (!mayStillImpersonate(policy, request) || !stillAllowed()) stream.end();
    }
  }

  /** Ends every open stream (the member is stopping). */
  closeAll(): void {
    for (const stream of [...this.open.keys()]) stream.end();
  }
}

/** A line encoded once, newline included, for many streams to send without copying it each time. */
export interface EncodedLine {
  readonly bytes: Buffer;
}

export function encodeLine(json: string): EncodedLine {
  return { bytes: Buffer.from(`${json}\n`, 'utf8') };
}

export class WatchStream {
  private ended = false;
  private readonly onClose = () => this.finish();
  /** What closes when the client goes: its connection, or on HTTP/2 its stream (others share the connection). */
  private readonly closer: NodeJS.EventEmitter;
  /** The watchers `hold` counted and the stream's end cancels. */
  private readonly held = new Set<Watcher>();
  /** Resolves a `room` that waits, when the stream ends. */
  private wake: (() => void) | undefined;

  /** `share`: its user's, holding this stream and its `watchers` (those it carries from the start). */
  constructor(
    private readonly request: FastifyRequest, private readonly reply: FastifyReply, private readonly clock: Clock, private readonly wire: WatchWire,
    private readonly share: Share, private readonly watchers: number, private readonly onEnd: () => void,
  ) {
    reply.hijack();
    // The headers set so far (the audit ID) go out now, before any event: a quiet watch has started.
    reply.raw.writeHead(200, { ...(reply.getHeaders() as OutgoingHttpHeaders), 'content-type': wire.contentType, 'cache-control': 'no-cache, private' });
    reply.raw.flushHeaders();
    this.closer = request.raw.httpVersionMajor === 2 ? reply.raw : request.raw.socket;
    this.closer.once('close', this.onClose);
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  /**
   * Counts `watcher` (a watch a gRPC Watch stream creates) against the user's watchersPerUserMax until it
   * is dropped or the stream ends, which cancels it; beyond the limit the watcher is cancelled and
   * TooManyWatchesError thrown.
   */
  hold(watcher: Watcher): Watcher {
    try {
      this.share.takeWatchers(1);
    } catch (error) {
      watcher.cancel();
      throw error;
    }
    this.held.add(watcher);
    // A stream that has ended holds nothing (a create read after the end, from the same chunk).
    if (this.ended) this.drop(watcher);
    return watcher;
  }

  /** Cancels a watcher `hold` counted and gives its place back (once: dropping it again does nothing). */
  drop(watcher: Watcher): void {
    watcher.cancel();
    if (this.held.delete(watcher)) this.share.watchers -= 1;
  }

  /**
   * Writes one line — JSON text, or bytes from encodeLine (shared by every stream that sends the same
   * line) — unless the client has fallen more than watchUnsentBytesMax behind: then the stream ends
   * with `slowLine()` as its last line and false is returned.
   */
  send(line: string | Uint8Array | EncodedLine, slowLine: () => string | Uint8Array): boolean {
    if (this.ended) return false;
    const response = this.reply.raw as unknown as Response;
    if (response.writableLength > watchUnsentBytesMax) {
      this.endSlow(slowLine);
      return false;
    }
    response.write(typeof line === 'string' || line instanceof Uint8Array ? this.wire.frame(line) : line.bytes);
    return true;
  }

  /**
   * For a sender that may wait for its client (a Kubernetes watch sending the objects it starts with):
   * resolves true at once if the client has at most watchUnsentBytesMax unsent, else once it has read
   * down to that (checked as the response drains); false if the stream ends first. A client that has not
   * within watchInitialDrainWaitMs is ended as too slow, with `slowLine()` as its last line, as `send` ends it.
   */
  room(slowLine: () => string | Uint8Array): Promise<boolean> {
    const response = this.reply.raw as unknown as Response & NodeJS.EventEmitter;
    if (this.ended || response.writableLength <= watchUnsentBytesMax) return Promise.resolve(!this.ended);
    // HTTP/1.1: the socket's own drain too (what the response's follows; the one an injected request has).
    const socket = this.request.raw.httpVersionMajor === 2 ? undefined : this.reply.raw.socket ?? undefined;
    return new Promise((resolve) => {
      const done = () => {
        if (!this.ended && response.writableLength > watchUnsentBytesMax) return;
        timer.cancel();
        response.off('drain', done);
        socket?.off('drain', done);
        this.wake = undefined;
        resolve(!this.ended);
      };
      const timer = this.clock.setTimer(watchInitialDrainWaitMs, () => this.endSlow(slowLine));
      response.on('drain', done);
      socket?.on('drain', done);
      this.wake = done;
    });
  }

  /** Ends a stream whose client fell behind, with `slowLine()` as its last line. */
  private endSlow(slowLine: () => string | Uint8Array): void {
    if (this.ended) return;
    (this.reply.raw as unknown as Response).write(this.wire.frame(slowLine()));
    this.end();
    // A client that does not read will not read the end either: its socket (HTTP/2: its stream) goes after a grace.
    const socket = this.request.raw.socket;
    const h2 = this.request.raw.httpVersionMajor === 2 ? (this.reply.raw as unknown as Http2ServerResponse).stream : undefined;
    const timer = this.clock.setTimer(watchSlowCloseGraceMs, () => (h2 ? h2.close(http2.NGHTTP2_CANCEL) : socket.destroy()));
    (h2 ?? socket).once('close', () => timer.cancel());
  }

  /** Writes a last message (if still open) and ends the stream. */
  finishWith(line: string | Uint8Array): void {
    if (!this.ended) (this.reply.raw as unknown as Response).write(this.wire.frame(line));
    this.end();
  }

  end(): void {
    if (this.ended) return;
    this.wire.end(this.reply.raw);
    this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.wake?.();
    this.closer.off('close', this.onClose);
    for (const watcher of [...this.held]) this.drop(watcher);
    this.share.watchers -= this.watchers;
    this.share.streams -= 1;
    this.onEnd();
  }
}
