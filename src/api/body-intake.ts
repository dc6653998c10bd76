/**
 * A request's body on its way to the handler, for every route that takes its body whole (not a stream
 * of messages read as they come: route config `streamedBody`):
 *   - it is gathered into one buffer as it arrives, and the parser is handed that buffer once the body
 *     has ended, never the pieces it came in: node hands each HTTP/1.1 chunk or HTTP/2 frame over as a
 *     Buffer of its own, over the larger read it was cut from, so a body kept as its pieces made the
 *     member hold hundreds of times what was sent (one-byte chunks: 1.5 MB sent, ~500 MB held). The
 *     buffer is sized from the body's Content-Length, grown by doubling up to it (or, without one, from
 *     requestBodyGatherBytesMin up), never past the route's body limit (requestBodyBytesMax), and a
 *     body is refused 413 once it arrives in more than requestBodyChunksMax pieces or passes the limit;
 *   - the buffer is charged to its user's held bytes as it grows (held-bytes.ts): a user's bodies in
 *     flight count with its reads and unread answers, so one that sends many large bodies at once, or
 *     never finishes them, is refused 429 past heldBytesPerUserMax instead of making the member hold
 *     them all (docs/security.md, "Slow clients", "Request bodies");
 *   - a body whose client ended the request before the body's end (an HTTP/2 stream reset, a connection
 *     closed) is refused (400), never handed over as if whole: node ends such a request's body as though
 *     it were complete, and what came may parse (a JSON object before its stream's end, a protobuf cut at
 *     a field's end).
 * The body is read from the request only when a content-type parser reads it: a request fastify parses
 * no body of (a GET) leaves it to node, which discards it after the answer, as it would without this step.
 * Invariant: what the body charged is the request's account's, given back when its answer is sent
 * (unread-answers.ts) — a body refused or cut short ends its parse with an error, which is answered (and
 * recorded, as every answer is).
 */
import { Readable } from 'node:stream';
import { errorCodes, type FastifyInstance } from 'fastify';
import { requestBodyChunksMax, requestBodyGatherBytesMin } from '../config/index.ts';
import type { ReadAccount } from '../storage/mvcc/index.ts';
import { readAccountOf } from './held-bytes.ts';
import { callerFor } from './k8s/authorization.ts';
import { routeConfigOf } from './route-config.ts';

/** A body its client did not finish: 400, though no one is left to read the answer. */
export class UnfinishedBodyError extends Error {
  override readonly name = 'UnfinishedBodyError';
  constructor() {
    super('the client ended the request before its body');
  }
}

/** A body that came in more than requestBodyChunksMax pieces: 413, unread past them. */
export class BodyInPiecesError extends Error {
  override readonly name = 'BodyInPiecesError';
  constructor() {
    super(`the request body came in more than ${requestBodyChunksMax} pieces (requestBodyChunksMax); send it in fewer, larger chunks or frames`);
  }
}

/** What a request's body arrives on: node's HTTP/1.1 request, or HTTP/2's compatibility request. */
type BodySource = Readable & { readonly aborted: boolean };

const noBytes = Buffer.alloc(0);

/** The body as a parser reads it: taken from the request only once read, gathered whole, handed over once. */
class GatheredBody extends Readable {
  private started = false;
  private ended = false;
  /** The body so far: its first `length` bytes; what it holds is charged. */
  private buffer = noBytes;
  private length = 0;
  private pieces = 0;

  /**
   * @param bytesMax the route's body limit: a body past it is refused
   * @param declared the body's Content-Length, if it has one
   */
  constructor(
    private readonly source: BodySource,
    private readonly account: ReadAccount | undefined,
    private readonly bytesMax: number,
    private readonly declared: number | undefined,
  ) {
    super();
    // The parser reading the body hears its errors; one coming once no parser listens any more must not
    // end the process.
    this.on('error', () => undefined);
  }

  override _read(): void {
    if (this.started) return;
    this.started = true;
    // Gone before its body was read at all (its connection closed meanwhile): it will say no more.
    if (this.source.destroyed && !this.source.readableEnded) {
      this.destroy(new UnfinishedBodyError());
      return;
    }
    if (this.declared !== undefined && this.declared > this.bytesMax) {
      this.refuse(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      return;
    }
    this.source.on('data', (chunk: Buffer) => this.gather(chunk));
    this.source.once('end', () => {
      this.ended = true;
      if (this.source.aborted) {
        this.destroy(new UnfinishedBodyError());
        return;
      }
      if (this.length > 0) this.push(this.buffer.subarray(0, this.length));
      this.push(null);
    });
    this.source.once('error', (error: Error) => { if (!this.ended) this.destroy(error); });
    // A request destroyed before its end (an HTTP/1.1 connection closed mid-body) ends without 'end'.
    this.source.once('close', () => { if (!this.ended) this.destroy(new UnfinishedBodyError()); });
    this.source.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // What it gathered is not handed to anyone now (its charge is the request's, given back with its answer).
    this.buffer = noBytes;
    callback(error);
  }

  /** Copies `chunk` into the body, growing it (charged first) if it must; past a limit, ends the body with the refusal. */
  private gather(chunk: Buffer): void {
    if (this.destroyed) return;
    this.pieces += 1;
    const length = this.length + chunk.length;
    if (this.pieces > requestBodyChunksMax) {
      this.refuse(new BodyInPiecesError());
      return;
    }
    if (length > this.bytesMax) {
      this.refuse(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      return;
    }
    if (length > this.buffer.length) {
      // Twice what it holds, at least what it needs now, at most its declared length or the limit.
      const ceiling = Math.max(length, Math.min(this.declared ?? this.bytesMax, this.bytesMax));
      const size = Math.min(ceiling, Math.max(length, 2 * this.buffer.length, requestBodyGatherBytesMin));
      try {
        this.account?.charge(size - this.buffer.length);
      } catch (error) {
        this.refuse(error as Error);
        return;
      }
      const grown = Buffer.allocUnsafe(size);
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    chunk.copy(this.buffer, this.length);
    this.length = length;
  }

  /** Ends the body with `error`, reading no more of it. */
  private refuse(error: Error): void {
    this.source.pause();
    this.destroy(error);
  }
}

/** A request's Content-Length, if it has one that is a number of bytes. */
function declaredLength(header: string | undefined): number | undefined {
  return header !== undefined && /^\d{1,15}$/.test(header) ? Number(header) : undefined;
}

export function registerBodyIntake(app: FastifyInstance): void {
  app.addHook('preParsing', async (request, _reply, payload) => {
    if (routeConfigOf(request).streamedBody === true) return payload;
    // The account the gate's request opened (unread-answers.ts): none for a request no user is charged for.
    const account = readAccountOf(callerFor(request));
    return new GatheredBody(payload as unknown as BodySource, account, request.routeOptions.bodyLimit, declaredLength(request.headers['content-length']));
  });
}
