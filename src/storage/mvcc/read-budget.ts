/**
 * The byte budget of one request's reads: rangeResultBytesMax, shared by every read of the request — a
 * Range, or every range and every compare that reads a page in a transaction (each branch that runs,
 * nested transactions included). A read counts the key and value of each page as it opens it, so the
 * read that takes the request over the budget stops there, with E_LIMIT, having opened about the budget
 * and not the whole range (nor N ranges of it); what the request opened is wiped.
 *
 * The count depends only on the pages read, in the order the request reads them, never on the member
 * or its cache: a transaction applied through Raft is refused alike on every member.
 *
 * A client's read (never one applied through Raft) may also charge what it holds to a ReadAccount: the
 * API's account of what one user's requests hold at once (src/api/held-bytes.ts), which may refuse.
 */
import { keyBytesMax, rangeResultBytesMax, valueBytesMax } from '../../config/index.ts';
import { MvccError } from './errors.ts';
import { type PageCharge, pageChargeOf, type ReadAccount } from './read-account.ts';

/** Pages read from LevelDB in one step at most (reads.ts). */
export const pageReadStep = 1000;

/** The largest page a read can open, key and value: no step reads more pages than the budget left could hold of these. */
const pageBytesMax = keyBytesMax + valueBytesMax;

/** Bytes a read opens between two yields to the event loop (opening 1 MiB of pages takes ~1–10 ms). */
const yieldEveryBytes = 1024 * 1024;

/** Pages a read opens between two yields, however small. */
const yieldEveryPages = pageReadStep;

/** The refusal of a request whose reads exceed the budget: names the limit, not how much was read. */
export function rangeLimitError(): MvccError {
  return new MvccError(
    'E_LIMIT',
    `range result exceeds rangeResultBytesMax (${rangeResultBytesMax}), counted over every read of the request (all of a transaction's); use a limit`,
  );
}

export class ReadBudget {
  private used = 0;
  /** What the request's reads charged to the account: given back if the request fails. */
  private readonly charged: PageCharge | undefined;
  private bytesSinceYield = 0;
  private pagesSinceYield = 0;
  /** Values this request's reads made (not the batch's own pages): wiped if the request fails. */
  private readonly opened: Uint8Array[] = [];

  constructor(private readonly max = rangeResultBytesMax, account?: ReadAccount) {
    this.charged = pageChargeOf(account);
  }

  /**
   * Counts a key-value a read holds; `opened`: its value was made by this read (wiped with the rest if the
   * request fails). Over the budget: wipes every value the request opened and throws E_LIMIT.
   */
  take(key: Uint8Array, value: Uint8Array, opened: boolean): void {
    if (opened) this.opened.push(value);
    const bytes = key.length + value.length;
    this.used += bytes;
    this.bytesSinceYield += bytes;
    this.pagesSinceYield++;
    if (this.used > this.max) {
      this.wipe();
      throw rangeLimitError();
    }
    try {
      this.charged?.charge(bytes);
    } catch (error) {
      this.wipe();
      throw error;
    }
  }

  /** Pages one step may read from LevelDB: as many as the budget left (and the account's headroom) could hold of the largest, at least one. */
  stepPages(): number {
    const left = Math.min(this.max - this.used, this.charged?.headroom() ?? Infinity);
    return Math.max(1, Math.min(pageReadStep, Math.floor(left / pageBytesMax)));
  }

  /** True (once) when the reads have opened enough since the last yield that the reader should yield now. */
  yieldDue(): boolean {
    if (this.bytesSinceYield < yieldEveryBytes && this.pagesSinceYield < yieldEveryPages) return false;
    this.bytesSinceYield = 0;
    this.pagesSinceYield = 0;
    return true;
  }

  /** Wipes every value the request's reads opened, and gives back what they charged (the request failed, or starts again). */
  wipe(): void {
    for (const value of this.opened) value.fill(0);
    this.opened.length = 0;
    this.charged?.giveBack();
  }
}
