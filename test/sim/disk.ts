/**
 * One node's simulated disk. Writes are appended to a journal of records; they become durable only
 * when the host syncs. A crash keeps a random prefix of the unsynced records — the part the operating
 * system happened to flush — and discards the rest, so a host that sends before it syncs loses what
 * it promised.
 *
 * Invariant: the durable state is exactly the initial state plus a prefix of the records written, in
 * write order.
 */
import type { Random } from '../../src/base/index.ts';
import type { Entry, HardState, Snapshot } from '../../src/raft/index.ts';
import { assert } from '../../src/base/index.ts';

export type DiskRecord =
  /**
   * A snapshot received from the leader: it replaces the whole log. It is written in one atomic record
   * with the Ready's hard state (whose commit covers the snapshot): a disk holding a snapshot beyond
   * its durable commit is one the core refuses to restart from (etcd's host avoids the same state by
   * ignoring snapshot files beyond the WAL's commit on recovery).
   */
  | { kind: 'installSnapshot'; snapshot: Snapshot; hardState: HardState | undefined }
  /** A snapshot this node took of its own state machine: the log stays. */
  | { kind: 'localSnapshot'; snapshot: Snapshot }
  /** Entries appended, overwriting any tail from their first index on. */
  | { kind: 'entries'; entries: Entry[] }
  | { kind: 'hardState'; hardState: HardState }
  /** Log entries up to and including `index` discarded (they are in the snapshot). */
  | { kind: 'compact'; index: number };

export interface DurableState {
  snapshot: Snapshot | undefined;
  /** Invariant: consecutive indexes. */
  entries: Entry[];
  hardState: HardState;
}

export class SimDisk {
  private durable: DurableState;
  private unsynced: DiskRecord[] = [];

  constructor(initial: DurableState) {
    this.durable = structuredClone(initial);
  }

  write(record: DiskRecord): void {
    this.unsynced.push(structuredClone(record));
  }

  sync(): void {
    for (const r of this.unsynced) applyRecord(this.durable, r);
    this.unsynced = [];
  }

  get unsyncedRecords(): number {
    return this.unsynced.length;
  }

  /** Power loss: a random prefix of the unsynced records survives. Returns how many were lost. */
  crash(random: Random): number {
    const kept = random.int(0, this.unsynced.length);
    for (const r of this.unsynced.slice(0, kept)) applyRecord(this.durable, r);
    const lost = this.unsynced.length - kept;
    this.unsynced = [];
    return lost;
  }

  /** A copy of what survives a crash now. */
  read(): DurableState {
    return structuredClone(this.durable);
  }

  /** The hard state that would survive a crash now. */
  get durableHardState(): HardState {
    return { ...this.durable.hardState };
  }
}

function applyRecord(d: DurableState, r: DiskRecord): void {
  switch (r.kind) {
    case 'installSnapshot':
      d.snapshot = r.snapshot;
      d.entries = [];
      if (r.hardState) d.hardState = r.hardState;
      return;
    case 'localSnapshot':
      if (!d.snapshot || r.snapshot.metadata.index > d.snapshot.metadata.index) d.snapshot = r.snapshot;
      return;
    case 'entries': {
      const first = r.entries[0];
      if (first === undefined) return;
      const base = d.entries[0]?.index ?? (d.snapshot?.metadata.index ?? 0) + 1;
      assert(first.index <= base + d.entries.length, `disk append at ${first.index} leaves a gap after ${base + d.entries.length - 1}`);
      d.entries = d.entries.filter((e) => e.index < first.index).concat(r.entries);
      return;
    }
    case 'hardState':
      d.hardState = r.hardState;
      return;
    case 'compact':
      d.entries = d.entries.filter((e) => e.index > r.index);
      return;
  }
}
