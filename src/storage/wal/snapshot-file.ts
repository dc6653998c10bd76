/**
 * Snapshot data on disk: the data cut into chunks of walSnapshotChunkBytes, each sealed as its own page
 * (kind walSnapshot, index = snapshot index, sub = chunk number, store `<storeId>/snap/<term>`) and
 * framed like WAL records. Written durably (src/durable's write-then-rename); only then does the WAL
 * append the marker naming it, so a marker never names a file that is not complete on disk.
 */
import path from 'node:path';
import type { Clock } from '../../base/index.ts';
import { RecordKind, type PagePosition, type Sealer, wipe } from '../../crypto/index.ts';
import { walSnapshotBytesMax, walSnapshotChunkBytes } from '../../config/index.ts';
import { RecordType, type SnapshotMarker } from './codec.ts';
import { WalCorruptionError, WalLimitError } from './errors.ts';
import { type DurableFs, writeFileDurably } from '../../durable/index.ts';
import { snapshotFile } from './files.ts';
import { encodeFrame, scanFrames } from './frame.ts';
import { resealFile } from './reseal.ts';

function chunkPosition(storeId: string, index: number, term: number, chunk: number): PagePosition {
  return { storeId: `${storeId}/snap/${term}`, kind: RecordKind.walSnapshot, index, sub: chunk };
}

/** Writes the snapshot file durably and returns the marker that describes it. */
export async function writeSnapshotFile(
  fs: DurableFs, dir: string, storeId: string, sealer: Sealer, meta: Omit<SnapshotMarker, 'chunks' | 'bytes'>, data: Uint8Array,
): Promise<SnapshotMarker> {
  if (data.length > walSnapshotBytesMax) throw new WalLimitError(`snapshot of ${data.length} bytes exceeds walSnapshotBytesMax ${walSnapshotBytesMax}`);
  const chunks = Math.max(1, Math.ceil(data.length / walSnapshotChunkBytes));
  const frames: Uint8Array[] = [];
  for (let chunk = 0; chunk < chunks; chunk++) {
    const part = data.subarray(chunk * walSnapshotChunkBytes, (chunk + 1) * walSnapshotChunkBytes);
    frames.push(encodeFrame(RecordType.snapshot, meta.index, sealer.seal(part, chunkPosition(storeId, meta.index, meta.term, chunk))));
  }
  await writeFileDurably(snapshotFile(dir, meta.index, meta.term), Buffer.concat(frames), { fs });
  return { ...meta, chunks, bytes: data.length };
}

/** Reads, verifies and opens a snapshot file synchronously (Raft's Storage.snapshot() is synchronous). */
export function readSnapshotFile(fs: DurableFs, dir: string, storeId: string, sealer: Sealer, marker: SnapshotMarker): Uint8Array {
  const file = snapshotFile(dir, marker.index, marker.term);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    throw new WalCorruptionError(file, 0, `the snapshot file the WAL names is unreadable (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const data = new Uint8Array(marker.bytes);
  let chunk = 0;
  let filled = 0;
  const end = scanFrames(bytes, (frame) => {
    if (chunk >= marker.chunks) throw new WalCorruptionError(file, frame.offset, `more than the ${marker.chunks} chunks the marker names`);
    if (frame.type !== RecordType.snapshot || frame.index !== marker.index) {
      throw new WalCorruptionError(file, frame.offset, `frame of type ${frame.type} index ${frame.index} in a snapshot of index ${marker.index}`);
    }
    let plain: Uint8Array;
    try {
      plain = sealer.open(frame.sealed, chunkPosition(storeId, marker.index, marker.term, chunk));
    } catch (error) {
      throw new WalCorruptionError(file, frame.offset, `snapshot chunk ${chunk} failed to open`, { cause: error });
    }
    if (filled + plain.length > data.length) throw new WalCorruptionError(file, frame.offset, `chunks exceed the ${marker.bytes} bytes the marker names`);
    data.set(plain, filled);
    filled += plain.length;
    wipe(plain);
    chunk++;
  });
  // A snapshot file is complete before its marker exists, so even a torn end is corruption here.
  if (end.kind !== 'clean') throw new WalCorruptionError(file, end.offset, end.reason);
  if (chunk !== marker.chunks || filled !== marker.bytes) {
    throw new WalCorruptionError(file, bytes.length, `holds ${chunk} chunks / ${filled} bytes, the marker names ${marker.chunks} / ${marker.bytes}`);
  }
  return data;
}

/** Re-seals the chunks of the snapshot file `marker` names that are on a non-active DEK (reseal.ts); returns how many. */
export function resealSnapshotFile(
  io: { fs: DurableFs; clock: Clock }, dir: string, storeId: string, sealer: Sealer, marker: SnapshotMarker,
): Promise<number> {
  const file = snapshotFile(dir, marker.index, marker.term);
  return resealFile(io, file, sealer, (frame, chunk) => {
    if (frame.type !== RecordType.snapshot || frame.index !== marker.index || chunk >= marker.chunks) {
      throw new WalCorruptionError(file, frame.offset, `frame ${chunk} of type ${frame.type} index ${frame.index} in a snapshot of index ${marker.index} with ${marker.chunks} chunks`);
    }
    return chunkPosition(storeId, marker.index, marker.term, chunk);
  });
}

export function snapshotFileName(dir: string, marker: Pick<SnapshotMarker, 'index' | 'term'>): string {
  return path.basename(snapshotFile(dir, marker.index, marker.term));
}
