/**
 * Where a client's reads count what they hold (ReadAccount), and a share of such an account (PageCharge):
 * what one part of a client's reads holds charged to it — one read (ReadBudget), one request (the API's
 * account, src/api/held-bytes.ts), one page of a longer walk or one attempt of a write that retries
 * (src/registry). Its reads charge the account through it, and `giveBack` returns what they charged once
 * that part is done with, so a watch's initial objects, a deletecollection's first page or a write read
 * again after a conflict hold one page or one reading of their client's account, not all they have read.
 */

/**
 * Where a client's reads count the bytes they hold, beyond their own budget. `charge` throws (the
 * account's own error) to refuse bytes; what a read charged stays charged when it succeeds — its
 * result is held on — until the account's owner lets it go; a read that fails gives it back (`refund`).
 */
export interface ReadAccount {
  charge(bytes: number): void;
  refund(bytes: number): void;
  /** Bytes the account would take now: a read steps no further than this could hold (a charge may still be refused: reads charge at once). */
  headroom(): number;
}

export class PageCharge implements ReadAccount {
  private charged = 0;

  constructor(private readonly account: ReadAccount) {}

  charge(bytes: number): void {
    this.account.charge(bytes);
    this.charged += bytes;
  }

  refund(bytes: number): void {
    const given = Math.min(bytes, this.charged);
    this.account.refund(given);
    this.charged -= given;
  }

  headroom(): number {
    return this.account.headroom();
  }

  /** Gives back all this share holds. */
  giveBack(): void {
    this.refund(this.charged);
  }
}

/** A page charge on `account`, or none when there is no account to charge. */
export function pageChargeOf(account: ReadAccount | undefined): PageCharge | undefined {
  return account === undefined ? undefined : new PageCharge(account);
}
