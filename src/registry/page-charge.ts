/**
 * What one page of a longer walk, or one attempt of a write that retries, holds charged to a client's
 * ReadAccount (storage/mvcc/read-budget.ts): its reads charge the account through it, and `giveBack`
 * returns what they charged once the page (or attempt) is done with — so a watch's initial objects, a
 * deletecollection's first page or a write read again after a conflict hold one page or one reading of
 * their client's account, not all they have read.
 */
import type { ReadAccount } from '../storage/mvcc/index.ts';

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

  /** Gives back all the page holds. */
  giveBack(): void {
    this.refund(this.charged);
  }
}

/** A page charge on `account`, or none when there is no account to charge. */
export function pageChargeOf(account: ReadAccount | undefined): PageCharge | undefined {
  return account === undefined ? undefined : new PageCharge(account);
}
