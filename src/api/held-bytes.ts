/**
 * What one user's requests make the member hold at once, on all its connections together
 * (docs/security.md, "Slow clients"): the bodies of its requests as they arrive (body-intake.ts), the
 * values its reads in flight have read so far (charged as they read them, through the request's
 * ReadAccount: storage/mvcc/read-budget.ts — KV ranges and reading transactions, the Kubernetes API's
 * gets, a list's first page and the pages a watch starts with) and the answers sent to its clients but
 * not yet taken (unread-answers.ts). The user is the one holding the connection — the real caller,
 * whoever it impersonates. Past heldBytesPerUserMax its requests are refused 429.
 *
 * Invariant: every byte added for a request is taken away once, when the request lets it go — a body's
 * and a read's charge when its answer is sent (a watch's: when its stream ends) or its read fails, an
 * answer when its client has taken it (or it is dropped) — so a user with nothing in flight and nothing
 * unread holds 0 (and has no entry).
 */
import { heldBytesPerUserMax } from '../config/index.ts';
import { PageCharge, type ReadAccount } from '../storage/mvcc/index.ts';
import type { Caller } from './k8s/authorization.ts';

/** A request refused because its user holds heldBytesPerUserMax: 429, gRPC RESOURCE_EXHAUSTED. */
export class HeldBytesError extends Error {
  override readonly name = 'HeldBytesError';
}

export function heldRefusalMessage(user: string, held: number): string {
  return `${held} bytes of the request bodies, reads and unread answers of ${JSON.stringify(user)} are held by the member `
    + `(heldBytesPerUserMax: ${heldBytesPerUserMax}); read the answers, or retry once they are taken or dropped`;
}

/** The account of one request's reads; `settle` gives back what they still hold (the answer is counted instead, or there is none). */
export interface RequestReadAccount extends ReadAccount {
  settle(): void;
}

const accounts = new WeakMap<Caller, RequestReadAccount>();

/** The account the reads of a request made as `caller` charge, if it came through a client API and the gate let it through. */
export function readAccountOf(caller: Caller): RequestReadAccount | undefined {
  return accounts.get(caller);
}

export class HeldBytes {
  /** Bytes each user holds; a user holding none has no entry. */
  private readonly held = new Map<string, number>();

  of(user: string): number {
    return this.held.get(user) ?? 0;
  }

  add(user: string, bytes: number): void {
    this.held.set(user, this.of(user) + bytes);
  }

  remove(user: string, bytes: number): void {
    const left = this.of(user) - bytes;
    if (left > 0) this.held.set(user, left);
    else this.held.delete(user);
  }

  /**
   * Opens the account of the reads of a request made as `caller` (found by readAccountOf) for `user`,
   * who holds the connection: a read charging past the limit is refused by throwing HeldBytesError,
   * which stops the read and wipes what it opened, once `refusing` has been told why.
   */
  openAccount(caller: Caller, user: string, refusing: (message: string) => void): void {
    const usersAccount: ReadAccount = {
      charge: (bytes) => {
        const held = this.of(user);
        if (held + bytes > heldBytesPerUserMax) {
          const message = heldRefusalMessage(user, held);
          refusing(message);
          throw new HeldBytesError(message);
        }
        this.add(user, bytes);
      },
      refund: (bytes) => this.remove(user, bytes),
      headroom: () => Math.max(0, heldBytesPerUserMax - this.of(user)),
    };
    // The request's share of it; once settled, its reads charge nothing more.
    const request = new PageCharge(usersAccount);
    let settled = false;
    accounts.set(caller, {
      charge: (bytes) => { if (!settled) request.charge(bytes); },
      refund: (bytes) => { if (!settled) request.refund(bytes); },
      headroom: () => request.headroom(),
      settle: () => {
        settled = true;
        request.giveBack();
      },
    });
  }
}
