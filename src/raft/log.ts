/**
 * RaftLog: the node's view of the log — the durable part in Storage plus the Unstable tail — with the
 * commit and apply cursors.
 */
import { assert } from '../base/index.ts';
import { limitSize } from './entries.ts';
import { CompactedError, UnavailableError } from './errors.ts';
import type { Storage } from './storage.ts';
import type { Entry, Snapshot } from './types.ts';
import { Unstable } from './unstable.ts';

export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** Highest index known committed. Invariant: committed <= lastIndex(); committed never decreases. */
  committed: number;
  /** Highest index handed to the host to apply (in a Ready). Invariant: applied <= applying <= committed. */
  applying: number;
  /** Highest index the host has applied (advanced past). Invariant: applied <= committed. */
  applied: number;
  /** Upper bound for one Ready's committedEntries, in entry bytes. */
  private readonly maxApplyBytes: number;

  constructor(storage: Storage, maxApplyBytes: number) {
    this.storage = storage;
    this.maxApplyBytes = maxApplyBytes;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applying = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** Index of the last entry that is durable and agrees with this log (see Unstable.offset). */
  stableLastIndex(): number {
    if (this.unstable.snapshot !== undefined) return 0;
    return this.unstable.offset - 1;
  }

  /** The term at `index`; throws CompactedError / UnavailableError outside [firstIndex() - 1, lastIndex()]. */
  term(index: number): number {
    const dummyIndex = this.firstIndex() - 1;
    if (index < dummyIndex) throw new CompactedError(index, dummyIndex + 1);
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    return this.unstable.maybeTerm(index) ?? this.storage.term(index);
  }

  /** The term at `index`, or undefined if it is compacted or unavailable. Never throws (hot path). */
  maybeTerm(index: number): number | undefined {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return undefined;
    const t = this.unstable.maybeTerm(index);
    if (t !== undefined) return t;
    try {
      return this.storage.term(index);
    } catch (e) {
      // Storage compacted under us: treat as unknown.
      if (e instanceof CompactedError || e instanceof UnavailableError) return undefined;
      throw e;
    }
  }

  /** The term at `index`, or 0 if it is compacted or unavailable. */
  termOrZero(index: number): number {
    return this.maybeTerm(index) ?? 0;
  }

  matchTerm(index: number, term: number): boolean {
    return this.termOrZero(index) === term;
  }

  /** Raft §5.4.1: a candidate's log (lastIndex, lastTerm) is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** The index of the first entry of `ents` that is missing or differs in term here, or 0 if none. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  /**
   * Fast backtracking: the largest index <= `index` whose term is <= `term`, with that term. A leader
   * probing with (index, term) can skip every entry after it, since those cannot match (their terms are
   * larger than the leader's term at that index, or the follower's log is shorter). Returns [index, 0] when
   * the term at index is unknown (compacted).
   */
  findConflictByTerm(index: number, term: number): [number, number] {
    for (let i = index; i > 0; i--) {
      const ourTerm = this.maybeTerm(i);
      if (ourTerm === undefined) return [i, 0];
      if (ourTerm <= term) return [i, ourTerm];
    }
    return [0, 0];
  }

  /**
   * The follower side of AppendEntries: if our log has (index, logTerm), append `ents` after it
   * (truncating any conflicting tail), advance commit to min(committed, last new index) and return the
   * last new index; otherwise undefined.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const conflict = this.findConflict(ents);
    if (conflict !== 0) {
      // Committed entries never change: a leader never sends a conflicting committed entry.
      assert(conflict > this.committed, `entry ${conflict} conflicts with committed entry (committed ${this.committed})`);
      this.append(ents.slice(conflict - index - 1));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** Appends, truncating a conflicting uncommitted tail. Returns the new last index. */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    assert(after >= this.committed, `append after ${after} would overwrite committed entries (committed ${this.committed})`);
    assert(after <= this.lastIndex(), `append after ${after} leaves a gap (last index ${this.lastIndex()})`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** Entries from `from` to the end, at most maxBytes (at least one). */
  entries(from: number, maxBytes: number): Entry[] {
    if (from > this.lastIndex()) return [];
    return this.slice(from, this.lastIndex() + 1, maxBytes);
  }

  /** Entries [lo, hi), at most maxBytes (at least one). Throws CompactedError if lo < firstIndex(). */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo <= hi, `slice [${lo}, ${hi}) is inverted`);
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(lo, first);
    assert(hi <= this.lastIndex() + 1, `slice [${lo}, ${hi}) beyond last index ${this.lastIndex()}`);
    if (lo === hi) return [];
    const offset = this.unstable.offset;
    let out: Entry[] = [];
    if (lo < offset) {
      const storedHi = Math.min(hi, offset);
      out = this.storage.entries(lo, storedHi, maxBytes);
      if (out.length < storedHi - lo) return out; // size limit reached inside storage
    }
    if (hi > offset) out = [...out, ...this.unstable.slice(Math.max(lo, offset), hi)];
    return limitSize(out, maxBytes);
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  /** Committed entries not yet handed to the host. None while a received snapshot is unpersisted. */
  nextCommittedEntries(): Entry[] {
    if (this.hasPendingSnapshot() || this.applying >= this.committed) return [];
    return this.slice(this.applying + 1, this.committed + 1, this.maxApplyBytes);
  }

  hasNextCommittedEntries(): boolean {
    return !this.hasPendingSnapshot() && this.applying < this.committed;
  }

  /** Commits maxIndex if its entry has term `term` (a leader counts only entries of its current term). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  /** Raises commit; never lowers it. */
  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), `commit ${index} is beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  acceptApplying(index: number): void {
    assert(index <= this.committed, `applying ${index} beyond committed ${this.committed}`);
    this.applying = Math.max(this.applying, index);
  }

  appliedTo(index: number): void {
    assert(index <= this.committed, `applied ${index} beyond committed ${this.committed}`);
    assert(index >= this.applied, `applied ${index} goes back from ${this.applied}`);
    this.applied = index;
    this.applying = Math.max(this.applying, index);
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Replaces the log with a snapshot received from the leader. Invariant: the snapshot is past commit. */
  restore(s: Snapshot): void {
    assert(s.metadata.index > this.committed, `snapshot ${s.metadata.index} is not past commit ${this.committed}`);
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /** Every entry from firstIndex() to lastIndex() (tests and debugging). */
  allEntries(): Entry[] {
    return this.entries(this.firstIndex(), Number.MAX_SAFE_INTEGER);
  }
}
