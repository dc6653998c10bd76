/**
 * Answers the member has sent but the client has not taken, and the bodies and reads of requests in
 * flight: a client that asks and never reads makes the member hold its answers, one that sends many
 * large bodies at once (or never finishes them) makes it hold the bodies, one that asks many large reads
 * at once makes it hold what they read (docs/security.md, "Slow clients"). All count against the user
 * holding the connection (held-bytes.ts): each request's body charges its account as it arrives
 * (body-intake.ts), and its reads as they read (a body or a read charging past the limit is refused),
 * and when its answer is sent the account is settled and the answer, if sent whole (not a
 * stream: a list streamed a page at a time holds one page, a watch or a snapshot has flow control of its
 * own), counts instead until the connection has taken all of it (the response closed); then:
 *   - a user holding heldBytesPerUserMax is refused 429 before any handler runs, and an answer to a
 *     request that changed nothing is replaced by that refusal if it would take the user past the limit
 *     (a write's answer is always sent: its change is made; a KV transaction is a write only if it
 *     proposed — audit-plugin.ts, mayHaveChanged). Each refusal is recorded (forbid, and why), this
 *     step's onSend running before the audit step's;
 *   - an answer not taken within the answer timeout is dropped: its HTTP/2 stream is cancelled, its
 *     HTTP/1.1 connection (whose later answers queue behind it) closed. So is a streamed one (a list, a
 *     deletecollection), as the Kubernetes API server's request timeout ends a list; only a route that
 *     streams for as long as it needs (a snapshot: route config `longAnswer`) is not held to it.
 * So one user holds at most the limit plus the answers being encoded when it is reached, and an answer
 * for at most the timeout.
 */
import { constants as http2, type Http2ServerRequest } from 'node:http2';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { heldBytesPerUserMax } from '../config/index.ts';
import { mayHaveChanged, noteRefusal } from './audit-plugin.ts';
import { answerRefusal, refusalPayload } from './dialect.ts';
import { HeldBytes, heldRefusalMessage, readAccountOf } from './held-bytes.ts';
import { authorizedConnectedUser, callerFor } from './k8s/authorization.ts';
import { routeConfigOf } from './route-config.ts';

const tooManyRequests = 'TooManyRequests';
/** The Retry-After of a refusal: Kubernetes clients (client-go, kubectl) wait this long and retry a 429 that names it. */
const retryAfterSeconds = '1';

/** Records why the request is refused (forbid, and the reason) and tells its client when to retry. */
function noteHeldRefusal(request: FastifyRequest, reply: FastifyReply, message: string): void {
  noteRefusal(request, message);
  void reply.header('retry-after', retryAfterSeconds);
}

/** The size of an answer sent whole; undefined for a stream (or nothing). */
function wholeAnswerBytes(payload: unknown): number | undefined {
  if (typeof payload === 'string') return Buffer.byteLength(payload);
  if (Buffer.isBuffer(payload)) return payload.length;
  return undefined;
}

/**
 * Whether the answer's stream (HTTP/2) or connection (HTTP/1.1) has already closed: its close event, gone,
 * would never release it. An HTTP/1.1 answer queued behind another (pipelined) on a connection that has
 * closed is not itself destroyed: its socket is.
 */
function closedAlready(request: FastifyRequest, reply: FastifyReply): boolean {
  if (request.raw.httpVersionMajor === 2) return (request.raw as unknown as Http2ServerRequest).stream.destroyed;
  return reply.raw.destroyed || request.raw.socket.destroyed;
}

/** Lets go of an answer the client did not take in time: HTTP/2 cancels its stream, HTTP/1.1 closes its connection. */
function drop(request: FastifyRequest): void {
  if (request.raw.httpVersionMajor === 2) (request.raw as unknown as Http2ServerRequest).stream.close(http2.NGHTTP2_CANCEL);
  else request.raw.socket.destroy();
}

export function registerUnreadAnswers(app: FastifyInstance, options: { answerTimeoutMs: number }): void {
  const held = new HeldBytes();

  app.addHook('onRequest', async (request, reply) => {
    const user = authorizedConnectedUser(request);
    if (user === undefined) return undefined;
    if (held.of(user) < heldBytesPerUserMax) {
      held.openAccount(callerFor(request), user, (message) => noteHeldRefusal(request, reply, message));
      return undefined;
    }
    const message = heldRefusalMessage(user, held.of(user));
    noteHeldRefusal(request, reply, message);
    await answerRefusal(request, reply, 429, tooManyRequests, message);
    return reply;
  });

  /** Drops the answer unless it is taken within the answer timeout; calls `taken` once, when it is (or dropped). */
  const holdToDeadline = (request: FastifyRequest, reply: FastifyReply, bytes: number, taken: () => void): void => {
    const deadline = setTimeout(() => {
      request.log.warn({ bytes }, 'answer not taken by the client within the answer timeout: dropped');
      drop(request);
      // Dropped, it is let go even if its close event never comes (an answer whose connection is gone).
      release();
    }, options.answerTimeoutMs);
    deadline.unref();
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      clearTimeout(deadline);
      taken();
    };
    reply.raw.once('close', release);
    // An HTTP/1.1 answer queued behind another on its connection (pipelined) gets no close event of its
    // own when the connection closes: node ends only the answer that holds the socket.
    if (request.raw.httpVersionMajor !== 2) {
      const socket = request.raw.socket;
      socket.once('close', release);
      reply.raw.once('close', () => socket.off('close', release));
    }
  };

  app.addHook('onSend', async (request, reply, payload) => {
    const user = authorizedConnectedUser(request);
    // The account of the request's reads, opened in onRequest if the gate let it through.
    const account = user === undefined ? undefined : readAccountOf(callerFor(request));
    const closed = closedAlready(request, reply);
    if (!closed && payload instanceof Readable && routeConfigOf(request).longAnswer !== true) {
      // A stream (a list or a deletecollection a page at a time) holds the page its reads charged until
      // the client has read it: it stays charged until the answer ends, which must be in time.
      holdToDeadline(request, reply, 0, () => account?.settle());
      return payload;
    }
    // What the request's reads hold is its answer now: counted as one below, if it is sent whole.
    account?.settle();
    if (closed) return payload;
    let bytes = wholeAnswerBytes(payload);
    if (bytes === undefined) return payload;
    if (user === undefined) {
      // A refusal by the gate: small, and counted against no one, but held to the deadline all the same.
      holdToDeadline(request, reply, bytes, () => undefined);
      return payload;
    }
    let answer = payload;
    const holding = held.of(user);
    if (holding > 0 && holding + bytes > heldBytesPerUserMax && !mayHaveChanged(request) && reply.statusCode < 400) {
      const message = heldRefusalMessage(user, holding);
      noteHeldRefusal(request, reply, message);
      answer = refusalPayload(request, reply, 429, tooManyRequests, message);
      bytes = wholeAnswerBytes(answer)!;
    }
    held.add(user, bytes);
    const counted = bytes;
    holdToDeadline(request, reply, counted, () => held.remove(user, counted));
    return answer;
  });
}
