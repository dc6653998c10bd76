/**
 * Storage: the read-only view of the durable log the core reads from, and MemoryStorage, the in-memory
 * implementation used by tests and the simulator. The host writes to its storage (append, setHardState,
 * applySnapshot) while handling a Ready; the core only reads.
 */
import { assert } from '../base/index.ts';
import { copyConfState, emptyConfState } from './confChange.ts';
import { entryBytes } from './entries.ts';
import { CompactedError, SnapshotOutOfDateError, UnavailableError } from './errors.ts';
import type { ConfState, Entry, HardState, Snapshot } from './types.ts';

export interface Storage {
  /** The persisted HardState and the membership the node restarts with. */
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries [lo, hi), at most maxBytes (but at least one entry if any is in range).
   * Throws CompactedError if lo <= the snapshot index, UnavailableError if hi > lastIndex() + 1.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /**
   * The term of entry `index`; index firstIndex() - 1 (the snapshot point) is allowed.
   * Throws CompactedError below that, UnavailableError above lastIndex().
   */
  term(index: number): number;
  /** The first index still available as an entry (snapshot index + 1). */
  firstIndex(): number;
  /** The last index in the log (the snapshot index if the log is empty). */
  lastIndex(): number;
  /** The most recent snapshot (index 0 if none). May throw SnapshotTemporarilyUnavailableError. */
  snapshot(): Snapshot;
}

function emptyHardState(): HardState {
  return { term: 0, vote: 0, commit: 0 };
}

export class MemoryStorage implements Storage {
  private hardState: HardState = emptyHardState();
  private snap: Snapshot;
  /** Membership as of the host's last applied conf change (defaults to the snapshot's). */
  private confState: ConfState;
  /**
   * ents[0] is a dummy entry holding the snapshot's index and term.
   * Invariant: ents[i].index === ents[0].index + i.
   */
  private ents: Entry[];

  /** `confState` is the initial membership of a new cluster (stored as the index-0 snapshot's). */
  constructor(confState: ConfState = emptyConfState()) {
    this.snap = { metadata: { index: 0, term: 0, confState: copyConfState(confState) }, data: new Uint8Array(0) };
    this.confState = copyConfState(confState);
    this.ents = [dummy(0, 0)];
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: copyConfState(this.confState) };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  /**
   * Records the membership initialState() returns on restart. It must be the membership as of the applied
   * index the host will restart with (see "Restart" in index.ts): a host that restarts from its snapshot
   * leaves this alone (applySnapshot sets it); a host that restarts from a durably applied index sets it
   * together with that index.
   */
  setConfState(cs: ConfState): void {
    this.confState = copyConfState(cs);
  }

  private get offset(): number {
    return this.ents[0]!.index;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo <= hi, `entries range [${lo}, ${hi}) is inverted`);
    if (lo <= this.offset) throw new CompactedError(lo, this.firstIndex());
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    // Copy only what fits: a lagging follower must not cost a copy of the whole tail per message.
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - this.offset]!;
      bytes += entryBytes(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  term(index: number): number {
    if (index < this.offset) throw new CompactedError(index, this.firstIndex());
    const e = this.ents[index - this.offset];
    if (e === undefined) throw new UnavailableError(index, this.lastIndex());
    return e.term;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole log with `snap` (a follower installing the leader's snapshot). */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index <= this.snap.metadata.index) {
      throw new SnapshotOutOfDateError(snap.metadata.index, this.snap.metadata.index);
    }
    this.snap = snap;
    this.confState = copyConfState(snap.metadata.confState);
    this.ents = [dummy(snap.metadata.index, snap.metadata.term)];
  }

  /**
   * Records a snapshot of the host's state machine at `index` (<= applied), taken with membership
   * `confState`. Does not discard entries; call compact for that.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) throw new SnapshotOutOfDateError(index, this.snap.metadata.index);
    assert(index <= this.lastIndex(), `snapshot index ${index} is beyond the last index ${this.lastIndex()}`);
    this.snap = { metadata: { index, term: this.term(index), confState: copyConfState(confState) }, data };
    return this.snap;
  }

  /** Discards entries up to and including `index`. Invariant: index <= lastIndex(); the host compacts only applied entries. */
  compact(index: number): void {
    if (index <= this.offset) throw new CompactedError(index, this.firstIndex());
    assert(index <= this.lastIndex(), `compact index ${index} is beyond the last index ${this.lastIndex()}`);
    const term = this.term(index);
    this.ents = [dummy(index, term), ...this.ents.slice(index - this.offset + 1)];
  }

  /**
   * Appends entries, replacing any conflicting tail. Entries at or below the snapshot are ignored.
   * Invariant: the first new entry's index is at most lastIndex() + 1 (no gap).
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[entries.length - 1]!.index;
    if (last < first) return;
    const fresh = entries[0]!.index < first ? entries.slice(first - entries[0]!.index) : entries;
    const start = fresh[0]!.index;
    assert(start <= this.lastIndex() + 1, `append at ${start} leaves a gap after last index ${this.lastIndex()}`);
    this.ents = [...this.ents.slice(0, start - this.offset), ...fresh.map((e) => ({ ...e }))];
  }
}

function dummy(index: number, term: number): Entry {
  return { index, term, type: 'normal', data: new Uint8Array(0) };
}
