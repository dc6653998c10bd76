/**
 * The response side of every watch the client API serves (Kubernetes `?watch=true`, the KV
 * `/v3/watch` and the gRPC Watch stream): a hijacked stream of messages with bounds — JSON lines, or
 * gRPC frames ending with their status trailers (the `WatchWire`).
 *
 * - Memory: events are written as they come; when a client does not read, its unsent bytes grow in
 *   the response. Before each event, a stream whose unsent bytes exceed watchUnsentBytesMax is ended
 *   with a final error message (as the Kubernetes API server ends a watcher it cannot keep up with) and
 *   its socket (its HTTP/2 stream) destroyed after watchSlowCloseGraceMs if the client still does not read. So a stalled
 *   watcher holds at most watchUnsentBytesMax plus one event.
 * - Count: each user holds at most watchesPerUserMax open watches on a member (429 beyond), so one
 *   identity cannot take the member's watchersMax; a caller watching as another user (impersonation)
 *   counts as itself, so it cannot use up that user's share.
 * - Rights: when the RBAC policy changes, every stream whose caller may no longer watch what it carries —
 *   or may no longer impersonate the user it watches as — is ended (recheck).
 * - Shutdown: `closeAll` ends every open stream, so a stopping member is not held open by its
 *   watchers; clients relist or reconnect elsewhere.
 *
 * Invariants: a user's count is taken before the stream starts and given back exactly once, when it
 * ends; no line is written after `end`.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { constants as http2, type Http2ServerResponse } from 'node:http2';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Clock, CofferError } from '../base/index.ts';
import { watchesPerUserMax, watchSlowCloseGraceMs, watchUnsentBytesMax } from '../config/index.ts';
import type { CompiledPolicy } from '../rbac/index.ts';
import { connectedCaller, mayStillImpersonate } from './k8s/authorization.ts';

export class TooManyWatchesError extends CofferError {
  readonly code = 'E_TOO_MANY_WATCHES';
  constructor(user: string) {
    super(`user ${JSON.stringify(user)} already holds ${watchesPerUserMax} open watches on this member (watchesPerUserMax); close some first`);
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
  private readonly perUser = new Map<string, number>();
  /** Each open stream with its request and the check of whether its caller may still watch what it watches. */
  private readonly open = new Map<WatchStream, { request: FastifyRequest; stillAllowed: () => boolean }>();

  /** `policy`: the RBAC policy in force (PolicyHolder's), read at each recheck. */
  constructor(private readonly clock: Clock, private readonly policy: () => CompiledPolicy) {}

  /**
   * Starts the stream for `request`, counted against the caller that holds the connection, or throws
   * TooManyWatchesError. `onEnd` runs once when the stream ends for any reason (the client left, the
   * member closes it, it fell behind, its caller lost the right to it). `stillAllowed` says, against the
   * policy in force, whether the caller may still watch what the stream carries (recheck).
   */
  start(request: FastifyRequest, reply: FastifyReply, onEnd: () => void, stillAllowed: () => boolean, wire: WatchWire = jsonLines): WatchStream {
    const { user } = connectedCaller(request);
    const held = this.perUser.get(user) ?? 0;
    if (held >= watchesPerUserMax) throw new TooManyWatchesError(user);
    this.perUser.set(user, held + 1);
    const stream = new WatchStream(request, reply, this.clock, wire, () => {
      this.open.delete(stream);
      const left = (this.perUser.get(user) ?? 1) - 1;
      if (left === 0) this.perUser.delete(user);
      else this.perUser.set(user, left);
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

  /** Open watches of `user` (for tests and status). */
  heldBy(user: string): number {
    return this.perUser.get(user) ?? 0;
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

  constructor(private readonly request: FastifyRequest, private readonly reply: FastifyReply, private readonly clock: Clock, private readonly wire: WatchWire, private readonly onEnd: () => void) {
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
   * Writes one line — JSON text, or bytes from encodeLine (shared by every stream that sends the same
   * line) — unless the client has fallen more than watchUnsentBytesMax behind: then the stream ends
   * with `slowLine()` as its last line and false is returned.
   */
  send(line: string | Uint8Array | EncodedLine, slowLine: () => string | Uint8Array): boolean {
    if (this.ended) return false;
    const response = this.reply.raw as unknown as Response;
    if (response.writableLength > watchUnsentBytesMax) {
      response.write(this.wire.frame(slowLine()));
      this.end();
      // A client that does not read will not read the end either: its socket (HTTP/2: its stream) goes after a grace.
      const socket = this.request.raw.socket;
      const h2 = this.request.raw.httpVersionMajor === 2 ? (this.reply.raw as unknown as Http2ServerResponse).stream : undefined;
      const timer = this.clock.setTimer(watchSlowCloseGraceMs, () => (h2 ? h2.close(http2.NGHTTP2_CANCEL) : socket.destroy()));
      (h2 ?? socket).once('close', () => timer.cancel());
      return false;
    }
    response.write(typeof line === 'string' || line instanceof Uint8Array ? this.wire.frame(line) : line.bytes);
    return true;
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
    this.closer.off('close', this.onClose);
    this.onEnd();
  }
}
