/**
 * The in-memory view of the live log: for every index after the snapshot, its term and where its record
 * is (segment, offset, ordinal), plus a byte-bounded cache of decoded recent entries.
 *
 * Invariants:
 * - slots[i] describes index base + 1 + i; indexes are contiguous.
 * - Cached entries form a suffix: every slot at or after `cacheFrom` holds its entry.
 * - An entry whose record is not yet written to its segment is never evicted (it could not be re-read).
 */
import { assert } from '../../base/index.ts';
import type { Entry } from '../../raft/index.ts';

export interface EntrySlot {
  term: number;
  segment: number;
  offset: number;
  /** Position of the record in its segment, bound into the seal. */
  ordinal: number;
  /** Record sequence number in this process's write order; compared with the written watermark. */
  seq: number;
  entry: Entry | undefined;
}

export class LogIndex {
  /** The index the log starts after (the snapshot index). */
  base = 0;
  /** The term at `base`; -1 while unknown (recovery past a gap, until a snapshot marker names it). */
  baseTerm = 0;
  private slots: EntrySlot[] = [];
  private cacheFrom = 0;
  private cachedBytes = 0;

  constructor(private readonly cacheBytesMax: number) {}

  get lastIndex(): number {
    return this.base + this.slots.length;
  }

  get firstIndex(): number {
    return this.base + 1;
  }

  slot(index: number): EntrySlot | undefined {
    return this.slots[index - this.base - 1];
  }

  /** The term at `index` if it is the base or in the log. */
  termAt(index: number): number | undefined {
    if (index === this.base) return this.baseTerm;
    return this.slot(index)?.term;
  }

  /** Drops `index` and everything after it (a conflicting tail being overwritten). */
  truncateFrom(index: number): void {
    assert(index > this.base, `truncation at ${index} is not after the base ${this.base}`);
    const keep = index - this.base - 1;
    if (keep >= this.slots.length) return;
    for (let i = Math.max(keep, this.cacheFrom); i < this.slots.length; i++) this.cachedBytes -= entrySize(this.slots[i]!.entry);
    this.slots.length = keep;
    this.cacheFrom = Math.min(this.cacheFrom, keep);
  }

  /** Appends the slot for index lastIndex + 1. */
  push(slot: EntrySlot, writtenSeq: number): void {
    this.slots.push(slot);
    if (slot.entry === undefined) {
      // Recovery may leave entries uncached; the cache restarts after this slot.
      this.dropCacheBefore(this.slots.length);
    } else {
      this.cachedBytes += entrySize(slot.entry);
    }
    this.evict(writtenSeq);
  }

  /** Makes `index` (with `term`) the new base: drops everything up to it, keeps what follows. */
  compactTo(index: number, term: number): void {
    assert(index >= this.base && index <= this.lastIndex, `compaction to ${index} outside [${this.base}, ${this.lastIndex}]`);
    const drop = index - this.base;
    this.dropCacheBefore(drop);
    this.slots.splice(0, drop);
    this.cacheFrom -= drop;
    this.base = index;
    this.baseTerm = term;
  }

  /** Discards the whole log; it starts after `index` (a snapshot that does not match the log). */
  resetTo(index: number, term: number): void {
    this.slots = [];
    this.cacheFrom = 0;
    this.cachedBytes = 0;
    this.base = index;
    this.baseTerm = term;
  }

  /** Evicts the oldest cached entries while over budget, but never one not yet written (seq > writtenSeq). */
  evict(writtenSeq: number): void {
    while (this.cachedBytes > this.cacheBytesMax && this.cacheFrom < this.slots.length) {
      const slot = this.slots[this.cacheFrom]!;
      if (slot.seq > writtenSeq) break;
      this.cachedBytes -= entrySize(slot.entry);
      slot.entry = undefined;
      this.cacheFrom++;
    }
  }

  private dropCacheBefore(end: number): void {
    for (let i = this.cacheFrom; i < Math.min(end, this.slots.length); i++) {
      this.cachedBytes -= entrySize(this.slots[i]!.entry);
      this.slots[i]!.entry = undefined;
    }
    this.cacheFrom = Math.max(this.cacheFrom, Math.min(end, this.slots.length));
  }

  /** Segments still holding live entries, oldest first (for compaction). */
  oldestLiveSegment(): number | undefined {
    return this.slots[0]?.segment;
  }
}

function entrySize(entry: Entry | undefined): number {
  return entry === undefined ? 0 : entry.data.length + 64;
}
