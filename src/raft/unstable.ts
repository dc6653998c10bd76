/**
 * Unstable: the tail of the log (and possibly a snapshot) that the core has accepted but the host has
 * not yet persisted. Entries move to storage when the host advances past the Ready that carried them.
 */
import { assert } from '../base/index.ts';
import type { Entry, Snapshot } from './types.ts';

export class Unstable {
  /** A snapshot received from the leader, not yet persisted. Invariant: if set, offset === its index + 1. */
  snapshot: Snapshot | undefined;
  /** Invariant: entries[i].index === offset + i. */
  entries: Entry[] = [];
  /**
   * The index of entries[0] (or where it would be). Invariant: everything below offset is in storage and
   * agrees with this log; storage content at or above offset may be stale until persisted.
   */
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  /** The index of the first entry, if only a snapshot defines it. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.metadata.index;
  }

  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      if (this.snapshot !== undefined && this.snapshot.metadata.index === index) return this.snapshot.metadata.term;
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || index > last) return undefined;
    return this.entries[index - this.offset]?.term;
  }

  /** Entries up to (index, term) are persisted; drop them unless they were overwritten meanwhile. */
  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index);
    if (t === undefined || t !== term || index < this.offset) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  stableSnapTo(index: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === index) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  /** Appends, truncating any tail that conflicts. Invariant: no gap after the current last index. */
  truncateAndAppend(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const from = ents[0]!.index;
    const copies = ents.map((e) => ({ ...e }));
    if (from === this.offset + this.entries.length) {
      this.entries.push(...copies);
    } else if (from <= this.offset) {
      // Replaces the whole unstable tail; storage entries >= from become stale until persisted.
      this.offset = from;
      this.entries = copies;
    } else {
      this.entries = [...this.entries.slice(0, from - this.offset), ...copies];
    }
  }

  /** Entries [lo, hi) held here. Invariant: offset <= lo <= hi <= offset + entries.length. */
  slice(lo: number, hi: number): Entry[] {
    assert(this.offset <= lo && lo <= hi && hi <= this.offset + this.entries.length,
      `unstable slice [${lo}, ${hi}) out of bounds [${this.offset}, ${this.offset + this.entries.length})`);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
