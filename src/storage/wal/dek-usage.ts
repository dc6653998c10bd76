/**
 * Which DEKs a WAL directory still needs: the DEK ids named in the headers of every record of every
 * segment and snapshot file in it, read without opening anything. Key rotation retires a DEK only
 * when no file here names it; records on an old DEK leave when Wal.resealToActiveDek() rewrites their
 * files under the active DEK, or with the segments and snapshot files the WAL drops once a newer
 * snapshot covers them (Wal.saveSnapshot).
 *
 * The scan may run while the WAL appends: a record being written shows up as a torn tail and is
 * skipped (it is sealed with the active DEK anyway), and a file the WAL deletes meanwhile is skipped.
 */
import { type DurableFs, nodeFs } from '../../durable/index.ts';
import { listDir } from './files.ts';
import { scanFrames } from './frame.ts';

/** DEK id → records naming it, over the segment and snapshot files of `dir` (an absent dir holds none). */
export async function walDekUsage(dir: string, dekIdOf: (sealed: Uint8Array) => number, fs: DurableFs = nodeFs): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  let listing;
  try {
    listing = await listDir(fs, dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return counts;
    throw error;
  }
  for (const file of [...listing.segments.map((s) => s.file), ...listing.snapshots.map((s) => s.file)]) {
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    scanFrames(bytes, (frame) => {
      const id = dekIdOf(frame.sealed);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    });
  }
  return counts;
}
