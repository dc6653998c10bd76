/**
 * The response side of every watch the client API serves (Kubernetes `?watch=true` and the KV
 * `/v3/watch`): a hijacked, newline-delimited stream with bounds.
 *
 * - Memory: events are written as they come; when a client does not read, its unsent bytes grow in
 *   the response. Before each event, a stream whose unsent bytes exceed watchUnsentBytesMax is ended
 *   with a final error line (as the Kubernetes API server ends a watcher it cannot keep up with) and
 *   its socket destroyed after watchSlowCloseGraceMs if the client still does not read. So a stalled
 *   watcher holds at most watchUnsentBytesMax plus one event.
 * - Count: each user holds at most watchesPerUserMax open watches on a member (429 beyond), so one
 *   identity cannot take the member's watchersMax.
 * - Shutdown: `closeAll` ends every open stream, so a stopping member is not held open by its
 *   watchers; clients relist or reconnect elsewhere.
 *
 * Invariants: a user's count is taken before the stream starts and given back exactly once, when it
 * ends; no line is written after `end`.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../base/index.ts';
import { watchesPerUserMax, watchSlowCloseGraceMs, watchUnsentBytesMax } from '../config/index.ts';

export class TooManyWatchesError extends Error {
  readonly code = 'E_TOO_MANY_WATCHES';
  constructor(user: string) {
    super(`user ${JSON.stringify(user)} already holds ${watchesPerUserMax} open watches on this member (watchesPerUserMax); close some first`);
  }
}

export class WatchStreams {
  private readonly perUser = new Map<string, number>();
  private readonly open = new Set<WatchStream>();

  constructor(private readonly clock: Clock) {}

  /**
   * Starts the stream for `request` as `user`, or throws TooManyWatchesError. `onEnd` runs once when
   * the stream ends for any reason (the client left, the member closes it, it fell behind).
   */
  start(request: FastifyRequest, reply: FastifyReply, user: string, onEnd: () => void): WatchStream {
    const held = this.perUser.get(user) ?? 0;
    if (held >= watchesPerUserMax) throw new TooManyWatchesError(user);
    this.perUser.set(user, held + 1);
    const stream = new WatchStream(request, reply, this.clock, () => {
      this.open.delete(stream);
      const left = (this.perUser.get(user) ?? 1) - 1;
      if (left === 0) this.perUser.delete(user);
      else this.perUser.set(user, left);
      onEnd();
    });
    this.open.add(stream);
    return stream;
  }

  /** Open watches of `user` (for tests and status). */
  heldBy(user: string): number {
    return this.perUser.get(user) ?? 0;
  }

  /** Ends every open stream (the member is stopping). */
  closeAll(): void {
    for (const stream of [...this.open]) stream.end();
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

  constructor(private readonly request: FastifyRequest, private readonly reply: FastifyReply, private readonly clock: Clock, private readonly onEnd: () => void) {
    reply.hijack();
    // The headers set so far (the audit ID) go out now, before any event: a quiet watch has started.
    reply.raw.writeHead(200, { ...(reply.getHeaders() as OutgoingHttpHeaders), 'content-type': 'application/json', 'cache-control': 'no-cache, private' });
    reply.raw.flushHeaders();
    request.raw.socket.once('close', this.onClose);
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  /**
   * Writes one line — JSON text, or bytes from encodeLine (shared by every stream that sends the same
   * line) — unless the client has fallen more than watchUnsentBytesMax behind: then the stream ends
   * with `slowLine()` as its last line and false is returned.
   */
  send(line: string | EncodedLine, slowLine: () => string): boolean {
    if (this.ended) return false;
    if (this.reply.raw.writableLength > watchUnsentBytesMax) {
      this.reply.raw.write(`${slowLine()}\n`);
      this.end();
      // A client that does not read will not read the end either: its socket goes after a grace.
      const socket = this.request.raw.socket;
      const timer = this.clock.setTimer(watchSlowCloseGraceMs, () => socket.destroy());
      socket.once('close', () => timer.cancel());
      return false;
    }
    this.reply.raw.write(typeof line === 'string' ? `${line}\n` : line.bytes);
    return true;
  }

  /** Writes a last line (if still open) and ends the stream. */
  finishWith(line: string): void {
    if (!this.ended) this.reply.raw.write(`${line}\n`);
    this.end();
  }

  end(): void {
    if (this.ended) return;
    this.reply.raw.end();
    this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.request.raw.socket.off('close', this.onClose);
    this.onEnd();
  }
}
