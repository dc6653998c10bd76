/**
 * A request's body on its way to the handler, for every route that takes its body whole (not a stream
 * of messages read as they come: route config `streamedBody`):
 *   - it is charged to its user's held bytes as it arrives (held-bytes.ts): a user's bodies in flight
 *     count with its reads and unread answers, so one that sends many large bodies at once, or never
 *     finishes them, is refused 429 past heldBytesPerUserMax instead of making the member hold them all
 *     (docs/security.md, "Slow clients");
 *   - a body whose client ended the request before the body's end (an HTTP/2 stream reset, a connection
 *     closed) is refused, never handed over as if whole: node ends such a request's body as though it
 *     were complete, and what came may parse (a JSON object before its stream's end, a protobuf cut at a
 *     field's end).
 * Invariant: the charge is given back when the request is answered (unread-answers.ts settles it) or its
 * stream or connection closes, whichever comes first.
 */
import { Transform } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { readAccountOf } from './held-bytes.ts';
import { callerFor } from './k8s/authorization.ts';
import { routeConfigOf } from './route-config.ts';

/** A body its client did not finish: 400, though no one is left to read the answer; its record says why. */
export class UnfinishedBodyError extends Error {
  override readonly name = 'UnfinishedBodyError';
  readonly statusCode = 400;
  constructor() {
    super('the client ended the request before its body');
  }
}

export function registerBodyIntake(app: FastifyInstance): void {
  app.addHook('preParsing', async (request, reply, payload) => {
    // The account the gate's request opened (unread-answers.ts): none when the gate refused it.
    const account = readAccountOf(callerFor(request));
    if (account === undefined || routeConfigOf(request).streamedBody === true) return payload;
    reply.raw.once('close', () => account.settle());
    return payload.pipe(new Transform({
      transform(chunk: Buffer, _encoding, next) {
        try {
          account.charge(chunk.length);
          next(null, chunk);
        } catch (error) {
          next(error as Error);
        }
      },
      flush(next) {
        next(request.raw.aborted ? new UnfinishedBodyError() : null);
      },
    }));
  });
}
