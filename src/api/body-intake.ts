/**
 * A request's body on its way to the handler, for every route that takes its body whole (not a stream
 * of messages read as they come: route config `streamedBody`):
 *   - it is charged to its user's held bytes as it is read (held-bytes.ts): a user's bodies in flight
 *     count with its reads and unread answers, so one that sends many large bodies at once, or never
 *     finishes them, is refused 429 past heldBytesPerUserMax instead of making the member hold them all
 *     (docs/security.md, "Slow clients");
 *   - a body whose client ended the request before the body's end (an HTTP/2 stream reset, a connection
 *     closed) is refused (400), never handed over as if whole: node ends such a request's body as though
 *     it were complete, and what came may parse (a JSON object before its stream's end, a protobuf cut at
 *     a field's end).
 * The body is read from the request only when a content-type parser reads it: a request fastify parses
 * no body of (a GET) leaves it to node, which discards it after the answer, as it would without this step.
 * Invariant: what the body charged is the request's account's, given back when its answer is sent
 * (unread-answers.ts) — a body refused or cut short ends its parse with an error, which is answered.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
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

/** What a request's body arrives on: node's HTTP/1.1 request, or HTTP/2's compatibility request. */
type BodySource = Readable & { readonly aborted: boolean };

/** The body as a parser reads it: taken from the request only once read, each chunk charged first. */
class ChargedBody extends Readable {
  private started = false;
  private ended = false;

  constructor(private readonly source: BodySource, private readonly account: ReadAccount) {
    super();
    // The parser reading the body hears its errors; one coming once no parser listens any more must not
    // end the process.
    this.on('error', () => undefined);
  }

  override _read(): void {
    if (!this.started) {
      this.started = true;
      // Gone before its body was read at all (its connection closed meanwhile): it will say no more.
      if (this.source.destroyed && !this.source.readableEnded) {
        this.destroy(new UnfinishedBodyError());
        return;
      }
      this.source.on('data', (chunk: Buffer) => this.passOn(chunk));
      this.source.once('end', () => {
        this.ended = true;
        if (this.source.aborted) this.destroy(new UnfinishedBodyError());
        else this.push(null);
      });
      this.source.once('error', (error: Error) => { if (!this.ended) this.destroy(error); });
      // A request destroyed before its end (an HTTP/1.1 connection closed mid-body) ends without 'end'.
      this.source.once('close', () => { if (!this.ended) this.destroy(new UnfinishedBodyError()); });
    }
    this.source.resume();
  }

  /** Passes `chunk` on once charged; past the limit, ends the body with the account's refusal. */
  private passOn(chunk: Buffer): void {
    if (this.destroyed) return;
    try {
      this.account.charge(chunk.length);
    } catch (error) {
      this.source.pause();
      this.destroy(error as Error);
      return;
    }
    if (!this.push(chunk)) this.source.pause();
  }
}

export function registerBodyIntake(app: FastifyInstance): void {
  app.addHook('preParsing', async (request, _reply, payload) => {
    // The account the gate's request opened (unread-answers.ts): none when the gate refused it.
    const account = readAccountOf(callerFor(request));
    if (account === undefined || routeConfigOf(request).streamedBody === true) return payload;
    return new ChargedBody(payload as unknown as BodySource, account);
  });
}
