/**
 * Recovery of a WAL directory at open: every segment is read, every record verified and opened, and
 * the live log, state and snapshot marker rebuilt with the rules appends use (replay.ts). Reading
 * changes nothing on disk; only once everything verified does tidyAfterRecovery() truncate a torn
 * tail and remove leftovers. Any damage other than a torn tail of the last segment is a
 * WalCorruptionError naming the file and offset.
 */
import { assert } from '../../base/index.ts';
import { type Sealer, wipe } from '../../crypto/index.ts';
import { type DurableFs, readIntoSync } from '../../durable/index.ts';
import type { ConfState } from '../../raft/index.ts';
import { decodeEntry, decodeMarker, decodeState, RecordType, type SnapshotMarker, type WalState } from './codec.ts';
import { WalCorruptionError } from './errors.ts';
import type { DirListing, SegmentName } from './files.ts';
import { type ScannedFrame, scanFrames } from './frame.ts';
import { LogIndex } from './log-index.ts';
import { recordPosition } from './position.ts';
import { applyEntry, applyMarker } from './replay.ts';
import { readSnapshotFile } from './snapshot-file.ts';

export interface RecoverOptions {
  dir: string;
  storeId: string;
  sealer: Sealer;
  cacheBytesMax: number;
  /** Membership of a brand-new log. */
  initialConfState: ConfState;
}

/** What the records of a WAL directory say. */
export interface Recovered {
  log: LogIndex;
  state: WalState;
  marker: SnapshotMarker | undefined;
  /** The segment holding the latest snapshot marker. */
  markerSegment: number;
  /** Where the last segment's torn tail starts, if it has one. */
  tornAt: number | undefined;
  /** The bytes of the last segment that hold its complete records (up to a torn tail). */
  tailBytes: number;
  /** Complete records in the last segment (0: not even its head state record). */
  tailOrdinal: number;
}

/** Reads and verifies every record of `listing`, and the current snapshot file; writes nothing. */
export async function recover(fs: DurableFs, options: RecoverOptions, listing: DirListing): Promise<Recovered> {
  const recovered: Recovered = {
    log: new LogIndex(options.cacheBytesMax),
    state: { hardState: { term: 0, vote: 0, commit: 0 }, confState: options.initialConfState },
    marker: undefined, markerSegment: 0, tornAt: undefined, tailOrdinal: 0, tailBytes: 0,
  };
  let gapEnd = 0;
  // Every segment is read through this one buffer (grown when a segment is larger): nothing recovered
  // keeps a view of a segment's bytes (records are opened into buffers of their own).
  let scratch = new Uint8Array(0);
  for (let i = 0; i < listing.segments.length; i++) {
    const segment = listing.segments[i]!;
    const previous = listing.segments[i - 1];
    if (previous && segment.seq !== previous.seq + 1) {
      throw new WalCorruptionError(segment.file, 0, `segment ${previous.seq + 1} before it is missing`);
    }
    const { size } = await fs.stat(segment.file);
    if (scratch.length < size) scratch = new Uint8Array(size);
    const bytes = readIntoSync(fs, segment.file, scratch.subarray(0, size));
    let ordinal = 0;
    const end = scanFrames(bytes, (frame) => {
      gapEnd = Math.max(gapEnd, replayRecord(options, recovered, segment, frame, ordinal));
      ordinal++;
    });
    const isLast = i === listing.segments.length - 1;
    if (end.kind === 'corrupt') throw new WalCorruptionError(segment.file, end.offset, end.reason);
    if (end.kind === 'torn') {
      if (!isLast) throw new WalCorruptionError(segment.file, end.offset, `${end.reason}, in a segment that is not the last`);
      recovered.tornAt = end.offset;
    }
    if (isLast) {
      recovered.tailOrdinal = ordinal;
      recovered.tailBytes = recovered.tornAt ?? bytes.length;
    }
  }
  const { log, marker } = recovered;
  if (gapEnd > (marker?.index ?? 0)) {
    throw new WalCorruptionError(listing.segments[0]!.file, 0, `log entries up to ${gapEnd} are missing and no snapshot covers them`);
  }
  assert(log.baseTerm >= 0, `the log base ${log.base} has no known term after recovery`);
  // Verify the current snapshot now rather than when Raft first asks for it.
  if (marker) wipe(readSnapshotFile(fs, options.dir, options.storeId, options.sealer, marker));
  return recovered;
}

/**
 * Opens one record and applies it to what is recovered so far. Returns the index up to which the
 * log has a gap after it (0 for none; see applyEntry).
 */
function replayRecord(options: RecoverOptions, recovered: Recovered, segment: SegmentName, frame: ScannedFrame, ordinal: number): number {
  const position = recordPosition(options.storeId, segment.seq, frame.type, frame.index, ordinal);
  if (position === undefined) throw new WalCorruptionError(segment.file, frame.offset, `unknown record type ${frame.type}`);
  let plain: Uint8Array;
  try {
    plain = options.sealer.open(frame.sealed, position);
  } catch (error) {
    throw new WalCorruptionError(segment.file, frame.offset, `record ${ordinal} failed to open: ${(error as Error).message}`, { cause: error });
  }
  const malformed = (): WalCorruptionError => new WalCorruptionError(segment.file, frame.offset, `record ${ordinal} opened but is malformed`);
  const { log, state } = recovered;
  if (frame.type === RecordType.entry) {
    const entry = decodeEntry(frame.index, plain) ?? (() => { throw malformed(); })();
    const slot = { term: entry.term, segment: segment.seq, offset: frame.offset, ordinal, seq: 0, entry };
    return applyEntry(log, frame.index, slot, 0);
  }
  if (frame.type === RecordType.state) {
    const decoded = decodeState(plain) ?? (() => { throw malformed(); })();
    state.hardState = decoded.hardState;
    state.confState = decoded.confState;
    return 0;
  }
  const decoded = decodeMarker(plain) ?? (() => { throw malformed(); })();
  if (decoded.index !== frame.index) throw malformed();
  applyMarker(log, state, decoded);
  if (decoded.index >= (recovered.marker?.index ?? 0)) {
    recovered.marker = decoded;
    recovered.markerSegment = segment.seq;
  }
  return 0;
}

/**
 * Once everything verified: makes the last segment durable as read — its torn tail cut, and records a
 * killed process wrote but never synced made durable before the log builds on them (perhaps in a new
 * segment, which no later fdatasync of this one would cover) — and removes temporaries and snapshot
 * files no marker names.
 */
export async function tidyAfterRecovery(fs: DurableFs, listing: DirListing, recovered: Recovered): Promise<void> {
  const last = listing.segments.at(-1);
  if (last) await fs.truncateDurably(last.file, recovered.tailBytes);
  for (const temp of listing.temporaries) await fs.rm(temp, { force: true });
  const { marker } = recovered;
  for (const snap of listing.snapshots) {
    if (!marker || snap.index !== marker.index || snap.term !== marker.term) await fs.rm(snap.file, { force: true });
  }
}
