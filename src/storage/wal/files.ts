/**
 * File names in a WAL dir and the small file-system steps the WAL needs.
 *   wal-<seq:16 hex>-<firstIndex:16 hex>.log   segment number seq (consecutive from the oldest kept),
 *                                               firstIndex = last log index + 1 when it was started
 *   snap-<index:16 hex>-<term:16 hex>.snap      sealed snapshot data
 *   *.tmp                                       a snapshot, or a segment/snapshot being re-sealed
 *                                               (reseal.ts), being written; removed on open
 */
import path from 'node:path';
import type { DurableFs } from '../../durable/index.ts';

export interface SegmentName {
  seq: number;
  firstIndex: number;
  file: string;
}

const hex = (n: number): string => n.toString(16).padStart(16, '0');

export function segmentFile(dir: string, seq: number, firstIndex: number): string {
  return path.join(dir, `wal-${hex(seq)}-${hex(firstIndex)}.log`);
}

export function snapshotFile(dir: string, index: number, term: number): string {
  return path.join(dir, `snap-${hex(index)}-${hex(term)}.snap`);
}

export interface DirListing {
  segments: SegmentName[];
  snapshots: { index: number; term: number; file: string }[];
  temporaries: string[];
  /** Names matching none of the patterns: refused, a WAL dir holds only its own files. */
  strangers: string[];
}

export async function listDir(fs: DurableFs, dir: string): Promise<DirListing> {
  const listing: DirListing = { segments: [], snapshots: [], temporaries: [], strangers: [] };
  for (const name of await fs.readdir(dir)) {
    const file = path.join(dir, name);
    let m: RegExpMatchArray | null;
    if ((m = /^wal-([0-9a-f]{16})-([0-9a-f]{16})\.log$/.exec(name))) {
      listing.segments.push({ seq: parseInt(m[1]!, 16), firstIndex: parseInt(m[2]!, 16), file });
    } else if ((m = /^snap-([0-9a-f]{16})-([0-9a-f]{16})\.snap$/.exec(name))) {
      listing.snapshots.push({ index: parseInt(m[1]!, 16), term: parseInt(m[2]!, 16), file });
    } else if (name.endsWith('.tmp')) {
      listing.temporaries.push(file);
    } else {
      listing.strangers.push(file);
    }
  }
  listing.segments.sort((a, b) => a.seq - b.seq);
  return listing;
}
