/**
 * What one page of a longer walk holds charged to a client's ReadAccount (storage/mvcc/read-budget.ts):
 * the page's reads charge the account through it, and `giveBack` returns what they charged once the
 * page is done with — so a walk over many pages (a watch's initial objects, a deletecollection) holds
 * about one page of its client's account, not all it has read.
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
