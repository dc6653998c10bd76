/**
 * The write-ahead log: Raft entries, hard state and snapshot markers as sealed, framed records in
 * segment files, written by group commit; and the Raft Storage interface read from it.
 *
 * Record positions (position.ts): a record's seal binds store `<storeId>/wal/<segment seq>`, its kind,
 * its log index (0 for state records) and its ordinal within the segment, so records cannot be moved
 * between or within segments, nor dropped from the middle of one, without failing to open. Opening
 * recovers the directory first (recover.ts), then places the tail.
 *
 * Invariants:
 * - Every segment starts with a state record (hard state + membership), so dropping older segments
 *   never loses the state.
 * - The in-memory log changes when a record is queued, in queue order, with the same rules recovery
 *   replays (replay.ts); reads may see queued records before they are durable (the Raft leader sends
 *   entries while persisting them), and a crash loses both together.
 * - Only the tail segment is ever appended to; a closed segment changes only as a whole (re-sealed
 *   under the active DEK at the same offsets, by an atomic replace: resealToActiveDek) or is deleted.
 * - A segment is dropped only when the segment after it started at or before the latest durable
 *   snapshot's index + 1, i.e. every entry in it is covered by that snapshot, and only if it comes
 *   before the segment holding that snapshot's marker.
 */
import { crc32 } from 'node:zlib';
import { assert, type Clock, realClock } from '../../base/index.ts';
import { pageOverheadBytes, type Sealer, wipe } from '../../crypto/index.ts';
import {
  raftEntryOverheadBytes, walEntryCacheBytesMax, walFsyncBatchRecordsMax, walPreallocateBytes, walRecordBytesMax, walSegmentBytesTarget,
} from '../../config/index.ts';
import { type AppendStats, type DurableFs, GroupAppender, mkdirDurably, nodeFs, readFully, type SyncReadHandle } from '../../durable/index.ts';
import type { ConfState, Entry, HardState, Snapshot, Storage } from '../../raft/index.ts';
import {
  decodeEntry, encodeEntry, encodeMarker, encodeState, RecordType, type SnapshotMarker, type WalState,
} from './codec.ts';
import { WalCompactedError, WalCorruptionError, WalLimitError, WalUnavailableError, WalUnusableError } from './errors.ts';
import { listDir, type SegmentName, segmentFile, snapshotFile } from './files.ts';
import { bodyHeaderBytes, encodeFrame, frameHeaderBytes, scanFrames } from './frame.ts';
import type { LogIndex } from './log-index.ts';
import { recordPosition } from './position.ts';
import { recover, type Recovered, tidyAfterRecovery } from './recover.ts';
import { applyEntry, applyMarker } from './replay.ts';
import { resealFile } from './reseal.ts';
import { readSnapshotFile, resealSnapshotFile, writeSnapshotFile } from './snapshot-file.ts';

/** Constructors for the errors Raft expects from Storage; the replication layer passes raft's own. */
export interface RaftStorageErrors {
  compacted(index: number, firstIndex: number): Error;
  unavailable(index: number, lastIndex: number): Error;
}

export interface WalOptions {
  dir: string;
  sealer: Sealer;
  /** Names this WAL in every seal (e.g. "<member>/raft"); must not change for the life of the data. */
  storeId: string;
  /** Membership of a brand-new log (ignored when the dir already holds one). */
  initialConfState?: ConfState;
  segmentBytesTarget?: number;
  cacheBytesMax?: number;
  raftErrors?: RaftStorageErrors;
  /** Told the duration of every fdatasync, in seconds (metrics). */
  onFsync?: (seconds: number) => void;
  /** The file system (default: the real one; the simulator passes its own). */
  fs?: DurableFs;
  /** Schedules group-commit flushes and the yields of a re-seal (default: the real clock). */
  clock?: Clock;
}

export interface WalStats extends AppendStats {
  segments: number;
  firstIndex: number;
  lastIndex: number;
  snapshotIndex: number;
}

/** What one resealToActiveDek() did. */
export interface WalResealResult {
  /** Whether the tail segment was closed (rolled) because it held records on another DEK. */
  rolled: boolean;
  segmentsRewritten: number;
  snapshotFilesRewritten: number;
  recordsResealed: number;
}

interface Segment {
  seq: number;
  firstIndex: number;
  file: string;
  reader?: SyncReadHandle;
}

/** Where the next record goes. */
interface Tail {
  segment: Segment;
  bytes: number;
  ordinal: number;
}

const emptyConfState = (): ConfState => ({ voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false });

export class Wal implements Storage {
  private readonly fs: DurableFs;
  private readonly clock: Clock;
  private readonly segmentBytesTarget: number;
  private readonly errors: RaftStorageErrors;
  private readonly segments: Segment[] = [];
  private tail!: Tail;
  private seq = 0;
  private snapshotData: Uint8Array | undefined;
  /** The segment holding the latest snapshot marker; never dropped (replay needs the marker). */
  private markerSegment = 0;
  /**
   * Serialises every step that deletes or replaces segment or snapshot files (saveSnapshot with its
   * compaction, each step of resealToActiveDek); appends only ever touch the tail segment.
   */
  private filesChain: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly options: WalOptions,
    private readonly log: LogIndex,
    private readonly state: WalState,
    private marker: SnapshotMarker | undefined,
    private readonly writer: GroupAppender,
  ) {
    this.fs = options.fs ?? nodeFs;
    this.clock = options.clock ?? realClock;
    this.segmentBytesTarget = options.segmentBytesTarget ?? walSegmentBytesTarget;
    this.errors = options.raftErrors ?? {
      compacted: (index, first) => new WalCompactedError(index, first),
      unavailable: (index, last) => new WalUnavailableError(index, last),
    };
  }

  /**
   * Opens (or creates) the WAL in `options.dir`: reads, verifies and opens every record, truncates a
   * torn tail of the last segment, and fails with WalCorruptionError (naming file and offset) on any
   * other damage.
   */
  static async open(options: WalOptions): Promise<Wal> {
    const fs = options.fs ?? nodeFs;
    await mkdirDurably(options.dir, { mode: 0o700, fs });
    const listing = await listDir(fs, options.dir);
    const recovered = await recover(fs, {
      dir: options.dir, storeId: options.storeId, sealer: options.sealer,
      cacheBytesMax: options.cacheBytesMax ?? walEntryCacheBytesMax, initialConfState: options.initialConfState ?? emptyConfState(),
    }, listing);
    // Verified and readable: now (and only now) repair and tidy.
    await tidyAfterRecovery(fs, listing, recovered);
    // The names as read are what this member goes on from: a rename a killed process made (a re-sealed
    // segment or snapshot file) must not be undone by a later power cut after, say, the DEK the old
    // file was sealed with is retired.
    await fs.fsyncDir(options.dir);
    const writer = new GroupAppender({
      startSeq: 0,
      batchRecordsMax: walFsyncBatchRecordsMax,
      failure: (cause) => new WalUnusableError(`WAL write failed; the member must restart: ${cause.message}`, { cause }),
      closed: () => new WalUnusableError('the WAL is closed'),
      fs,
      // The tail segment has its length ahead of its records; recovery cut any such tail left by a crash.
      preallocateBytes: walPreallocateBytes,
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
      ...(options.onFsync !== undefined ? { onFsync: options.onFsync } : {}),
    });
    const wal = new Wal(options, recovered.log, recovered.state, recovered.marker, writer);
    wal.markerSegment = recovered.markerSegment;
    for (const s of listing.segments) wal.segments.push({ seq: s.seq, firstIndex: s.firstIndex, file: s.file });
    await wal.placeTail(listing.segments.at(-1), recovered);
    return wal;
  }

  /**
   * Appends continue after the last complete record of the last segment; with no segment, or a last
   * segment without even its head record, a fresh one is started with the state.
   */
  private async placeTail(last: SegmentName | undefined, recovered: Recovered): Promise<void> {
    if (last && recovered.tailOrdinal > 0) {
      this.tail = { segment: this.segments.at(-1)!, bytes: recovered.tailBytes, ordinal: recovered.tailOrdinal };
      return;
    }
    if (last) {
      await this.fs.rm(last.file, {});
      this.segments.pop();
    }
    const seq = last ? last.seq : 0;
    const firstIndex = this.log.lastIndex + 1;
    const segment: Segment = { seq, firstIndex, file: segmentFile(this.options.dir, seq, firstIndex) };
    this.segments.push(segment);
    this.tail = { segment, bytes: 0, ordinal: 0 };
    await this.writer.waitFor(this.enqueue(RecordType.state, 0, encodeState(this.state)));
  }

  // ── Writes ──────────────────────────────────────────────────────────────────────────────────────

  /**
   * Appends entries (replacing any conflicting tail from the first one's index). Resolves with the
   * index of the last entry once it and everything queued before it are durable.
   */
  append(entries: readonly Entry[]): Promise<number> {
    this.assertUsable();
    if (entries.length === 0) return this.sync().then(() => this.log.lastIndex);
    for (let i = 1; i < entries.length; i++) {
      assert(entries[i]!.index === entries[i - 1]!.index + 1, `appended entries are not contiguous at ${entries[i]!.index}`);
    }
    const first = entries[0]!.index;
    assert(first <= this.log.lastIndex + 1, `append at ${first} leaves a gap after last index ${this.log.lastIndex}`);
    for (const entry of entries) {
      if (entry.data.length + bodyHeaderBytes + pageOverheadBytes + 9 > walRecordBytesMax) {
        return Promise.reject(new WalLimitError(`entry ${entry.index} of ${entry.data.length} bytes exceeds walRecordBytesMax ${walRecordBytesMax}`));
      }
    }
    let lastSeq = this.seq;
    for (const entry of entries) {
      if (entry.index <= this.log.base) continue;
      const plain = encodeEntry(entry);
      lastSeq = this.enqueue(RecordType.entry, entry.index, plain, (seq, at) => {
        applyEntry(this.log, entry.index, {
          term: entry.term, segment: at.segment.seq, offset: at.bytes, ordinal: at.ordinal, seq,
          entry: { index: entry.index, term: entry.term, type: entry.type, data: entry.data },
        }, this.writer.writtenSeq);
      });
      wipe(plain);
    }
    const lastIndex = entries.at(-1)!.index;
    return this.writer.waitFor(lastSeq).then(() => lastIndex);
  }

  /** Persists the hard state; resolves once durable. */
  setHardState(hardState: HardState): Promise<void> {
    this.assertUsable();
    this.state.hardState = { ...hardState };
    return this.writer.waitFor(this.enqueue(RecordType.state, 0, encodeState(this.state)));
  }

  /** Whether `hardState` differs from the stored one in its commit index only (see noteCommit). */
  movesOnlyCommit(hardState: HardState): boolean {
    return hardState.term === this.state.hardState.term && hardState.vote === this.state.hardState.vote;
  }

  /**
   * Takes a hard state that moves only the commit index without a record of its own: the next state
   * record carries it. Commit is volatile in Raft (etcd's WAL does not sync it either); a restart
   * resumes from the store's applied index, which may pass the stored commit (Replica.open).
   */
  noteCommit(hardState: HardState): void {
    this.assertUsable();
    assert(this.movesOnlyCommit(hardState), 'noteCommit was handed a hard state that moves the term or the vote');
    assert(hardState.commit >= this.state.hardState.commit, `the commit index went back from ${this.state.hardState.commit} to ${hardState.commit}`);
    this.state.hardState = { ...hardState };
  }

  /** Persists the membership after the host applied a conf change; resolves once durable. */
  setConfState(confState: ConfState): Promise<void> {
    this.assertUsable();
    this.state.confState = structuredClone(confState);
    return this.writer.waitFor(this.enqueue(RecordType.state, 0, encodeState(this.state)));
  }

  /**
   * Stores a snapshot: its data sealed in a snapshot file, then a marker record. If the log holds the
   * snapshot's index with its term, the entries after it are kept (this member's own snapshot);
   * otherwise the log is replaced (a snapshot installed from the leader). Once the marker is durable,
   * segments the snapshot covers and older snapshot files are deleted.
   */
  saveSnapshot(snapshot: Snapshot): Promise<void> {
    return this.inFilesChain(async () => {
      const { index, term, confState } = snapshot.metadata;
      if (this.marker && index <= this.marker.index) {
        throw new WalLimitError(`snapshot at index ${index} is not newer than the stored snapshot at ${this.marker.index}`);
      }
      const marker = await writeSnapshotFile(this.fs, this.options.dir, this.options.storeId, this.options.sealer,
        { index, term, confState: structuredClone(confState) }, snapshot.data);
      const previous = this.marker;
      this.enqueue(RecordType.snapshot, index, encodeMarker(marker), (_seq, at) => {
        applyMarker(this.log, this.state, marker);
        this.marker = marker;
        this.markerSegment = at.segment.seq;
        this.snapshotData = snapshot.data;
      });
      // A state record right after the marker: replay may read the marker as "replace the log" where
      // the live log compacted (when older segments are gone), and must still end with the live state.
      await this.writer.waitFor(this.enqueue(RecordType.state, 0, encodeState(this.state)));
      if (previous) await this.fs.rm(snapshotFile(this.options.dir, previous.index, previous.term), { force: true });
      await this.dropCoveredSegments();
    });
  }

  /**
   * Re-seals under the active DEK every record still sealed with another one, so that no file of this
   * WAL names an older DEK afterwards (key rotation can then retire it without waiting for log
   * compaction). Steps, each one link of the files chain (a snapshot save may run between two):
   *   1. if the tail segment holds a record on another DEK, roll to a new segment (its head state
   *      record is sealed with the active DEK) and wait until it is durable: from then on every record
   *      on an older DEK sits in a closed segment, which nothing appends to;
   *   2. each closed segment holding such a record is rewritten with every record re-sealed at the
   *      same position and size (reseal.ts: temporary, fdatasync, rename, directory fsync), then its
   *      cached read fd is closed so later reads open the new file; a segment a snapshot dropped
   *      meanwhile is skipped;
   *   3. the same for the current snapshot file.
   * A crash at any point leaves every file wholly old or wholly new (both open with the keyring, which
   * still holds the old DEK until this resolved), so the WAL replays the same log.
   */
  async resealToActiveDek(): Promise<WalResealResult> {
    const result: WalResealResult = { rolled: false, segmentsRewritten: 0, snapshotFilesRewritten: 0, recordsResealed: 0 };
    const closed = await this.inFilesChain(async () => {
      // Everything queued so far (possibly sealed before a rotation) is on disk and can be read back.
      await this.sync();
      if (await namesOtherDek(this.fs, this.tail.segment.file, this.options.sealer)) {
        this.roll();
        await this.sync();
        result.rolled = true;
      }
      const segments = this.segments.filter((s) => s !== this.tail.segment);
      // Records queued to a segment before it was closed (a roll by append) are written by now too.
      await this.sync();
      return segments;
    });
    for (const segment of closed) {
      await this.inFilesChain(async () => {
        if (!this.segments.includes(segment)) return; // a snapshot dropped it meanwhile
        assert(segment !== this.tail.segment, `segment ${segment.seq} is the tail again`);
        const resealed = await resealFile({ fs: this.fs, clock: this.clock }, segment.file, this.options.sealer, (frame, ordinal) => {
          const position = recordPosition(this.options.storeId, segment.seq, frame.type, frame.index, ordinal);
          if (position === undefined) throw new WalCorruptionError(segment.file, frame.offset, `unknown record type ${frame.type}`);
          return position;
        });
        if (resealed === 0) return;
        // A handle opened before the rename still reads the old file: never use it again.
        closeReader(segment);
        result.segmentsRewritten++;
        result.recordsResealed += resealed;
      });
    }
    await this.inFilesChain(async () => {
      if (!this.marker) return;
      const resealed = await resealSnapshotFile({ fs: this.fs, clock: this.clock }, this.options.dir, this.options.storeId, this.options.sealer, this.marker);
      if (resealed === 0) return;
      result.snapshotFilesRewritten++;
      result.recordsResealed += resealed;
    });
    return result;
  }

  /** Resolves once everything queued so far is durable. */
  sync(): Promise<void> {
    return this.writer.waitFor(this.seq);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.filesChain;
    await this.writer.close();
    for (const segment of this.segments) closeReader(segment);
  }

  stats(): WalStats {
    return {
      ...this.writer.stats(),
      segments: this.segments.length,
      firstIndex: this.firstIndex(),
      lastIndex: this.lastIndex(),
      snapshotIndex: this.marker?.index ?? 0,
    };
  }

  // ── Raft Storage ────────────────────────────────────────────────────────────────────────────────

  /**
   * The persisted hard state and membership. A snapshot holds only committed entries, so commit is at
   * least its index: a crash between storing a leader's snapshot and the hard state of the same Ready
   * leaves the older commit on disk, which Raft would otherwise refuse at restart.
   */
  initialState(): { hardState: HardState; confState: ConfState } {
    const snapshotIndex = this.marker?.index ?? 0;
    const hardState = { ...this.state.hardState, commit: Math.max(this.state.hardState.commit, snapshotIndex) };
    return { hardState, confState: structuredClone(this.state.confState) };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo <= hi, `entries range [${lo}, ${hi}) is inverted`);
    if (lo <= this.log.base) throw this.errors.compacted(lo, this.firstIndex());
    if (hi > this.log.lastIndex + 1) throw this.errors.unavailable(hi - 1, this.log.lastIndex);
    const out: Entry[] = [];
    let bytes = 0;
    for (let index = lo; index < hi; index++) {
      const entry = this.entryAt(index);
      bytes += entry.data.length + raftEntryOverheadBytes;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(entry);
    }
    return out;
  }

  term(index: number): number {
    if (index < this.log.base) throw this.errors.compacted(index, this.firstIndex());
    const term = this.log.termAt(index);
    if (term === undefined) throw this.errors.unavailable(index, this.log.lastIndex);
    return term;
  }

  firstIndex(): number {
    return this.log.firstIndex;
  }

  lastIndex(): number {
    return this.log.lastIndex;
  }

  snapshot(): Snapshot {
    const marker = this.marker;
    if (!marker) {
      return { metadata: { index: 0, term: 0, confState: structuredClone(this.state.confState) }, data: new Uint8Array(0) };
    }
    this.snapshotData ??= readSnapshotFile(this.fs, this.options.dir, this.options.storeId, this.options.sealer, marker);
    return { metadata: { index: marker.index, term: marker.term, confState: structuredClone(marker.confState) }, data: this.snapshotData };
  }

  // ── Internals ───────────────────────────────────────────────────────────────────────────────────

  /** Runs `step` after every earlier files-chain step settled; a failed step does not stop later ones. */
  private inFilesChain<T>(step: () => Promise<T>): Promise<T> {
    const run = this.filesChain.then(() => {
      this.assertUsable();
      return step();
    });
    this.filesChain = run.catch(() => {});
    return run;
  }

  private assertUsable(): void {
    if (this.closed) throw new WalUnusableError('the WAL is closed');
    const failure = this.writer.failed;
    if (failure) throw failure;
  }

  /**
   * Seals and queues one record at the tail, rolling to a new segment (headed by a state record) first
   * if it would overflow the current one. `apply` updates the in-memory view in queue order.
   * Returns the record's seq.
   */
  private enqueue(type: RecordType, index: number, plain: Uint8Array, apply?: (seq: number, at: Tail) => void): number {
    const frameBytes = frameHeaderBytes + bodyHeaderBytes + pageOverheadBytes + plain.length;
    if (this.tail.ordinal > 0 && this.tail.bytes + frameBytes > this.segmentBytesTarget) this.roll();
    const at = { ...this.tail };
    const sealed = this.options.sealer.seal(plain, recordPosition(this.options.storeId, at.segment.seq, type, index, at.ordinal)!);
    const frame = encodeFrame(type, index, sealed);
    assert(frame.length === frameBytes, `frame of ${frame.length} bytes, expected ${frameBytes}`);
    const seq = ++this.seq;
    this.writer.enqueue({ seq, file: at.segment.file, bytes: frame });
    this.tail.bytes += frame.length;
    this.tail.ordinal += 1;
    apply?.(seq, at);
    return seq;
  }

  private roll(): void {
    const seq = this.tail.segment.seq + 1;
    const firstIndex = this.log.lastIndex + 1;
    const segment: Segment = { seq, firstIndex, file: segmentFile(this.options.dir, seq, firstIndex) };
    this.segments.push(segment);
    this.tail = { segment, bytes: 0, ordinal: 0 };
    this.enqueue(RecordType.state, 0, encodeState(this.state));
  }

  private async dropCoveredSegments(): Promise<void> {
    const snapshotIndex = this.marker?.index ?? 0;
    let dropped = 0;
    while (this.segments.length > 1 && this.segments[1]!.firstIndex <= snapshotIndex + 1 && this.segments[0]!.seq < this.markerSegment) {
      const segment = this.segments.shift()!;
      const oldest = this.log.oldestLiveSegment();
      assert(oldest === undefined || oldest > segment.seq, `segment ${segment.seq} dropped while it holds live entries`);
      closeReader(segment);
      await this.fs.rm(segment.file, {});
      dropped++;
    }
    if (dropped > 0) await this.fs.fsyncDir(this.options.dir);
  }

  private entryAt(index: number): Entry {
    const slot = this.log.slot(index);
    assert(slot !== undefined, `entry ${index} is in range but has no slot`);
    if (slot.entry) return slot.entry;
    const segment = this.segments.find((s) => s.seq === slot.segment);
    assert(segment !== undefined, `entry ${index} lives in segment ${slot.segment}, which is gone`);
    segment.reader ??= this.fs.openReadSync(segment.file);
    const header = Buffer.alloc(frameHeaderBytes);
    readExactly(segment.reader, header, slot.offset, segment.file);
    const bodyLength = header.readUInt32BE(0);
    const body = Buffer.alloc(bodyLength);
    readExactly(segment.reader, body, slot.offset + frameHeaderBytes, segment.file);
    if (header.readUInt32BE(4) !== (~bodyLength >>> 0) || crc32(body) !== header.readUInt32BE(8)) {
      throw new WalCorruptionError(segment.file, slot.offset, `entry ${index} fails its checksum on re-read`);
    }
    let plain: Uint8Array;
    try {
      plain = this.options.sealer.open(body.subarray(bodyHeaderBytes), recordPosition(this.options.storeId, slot.segment, RecordType.entry, index, slot.ordinal)!);
    } catch (error) {
      throw new WalCorruptionError(segment.file, slot.offset, `entry ${index} failed to open on re-read`, { cause: error });
    }
    const entry = decodeEntry(index, plain);
    if (!entry || entry.term !== slot.term) throw new WalCorruptionError(segment.file, slot.offset, `entry ${index} is malformed on re-read`);
    return entry;
  }
}

/**
 * Whether any complete frame of the tail segment `file` is sealed with a DEK other than the active one
 * (headers only). Called after a sync, so every record queued before the re-seal began is on disk; what
 * is not (a torn end being written now, or a tail an append rolled to whose file the writer has not
 * created yet) was queued since, and sealed with the active DEK.
 */
async function namesOtherDek(fs: DurableFs, file: string, sealer: Sealer): Promise<boolean> {
  const active = sealer.activeDekId();
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  let other = false;
  scanFrames(bytes, (frame) => {
    if (sealer.dekIdOf(frame.sealed) !== active) other = true;
  });
  return other;
}

function readExactly(reader: SyncReadHandle, target: Buffer, position: number, file: string): void {
  if (readFully(reader, target, position) < target.length) throw new WalCorruptionError(file, position, `file ends before the ${target.length}-byte read`);
}

function closeReader(segment: Segment): void {
  segment.reader?.close();
  segment.reader = undefined;
}
