/**
 * Synced appends into a file kept longer than its data (zeros past it), so that a synced write lands
 * inside the file and does not also have to make a new file size durable: on ext4 a write that grows
 * its file costs ~50 µs of CPU more per synced write than one that does not, and a journal commit
 * (docs/performance.md, "The synced WAL write, in the kernel"). etcd preallocates its WAL segments the same way.
 *
 * Invariants:
 * - The file's length is made durable (setLengthDurably) before any write lands past the old length,
 *   so a synced write inside it needs nothing else to be readable after a power cut.
 * - What a reader finds past the data is zeros: a format written this way must read a tail of zeros
 *   after its last record as the end (the WAL's frames do: frame.ts).
 * - close() cuts the file back to its data, durably, so a closed file ends with its last record.
 */
/** A synced append handle (fs.ts's SyncedAppendHandle, declared here so that fs.ts may build on this file). */
interface SyncedAppends {
  write(buffer: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  close(): Promise<void>;
}

/**
 * Appends through `handle` — which writes sequentially from `dataBytes`, the end of the file's data,
 * each write durable when it resolves — extending the file by `stepBytes` past what a write needs
 * whenever a write would run past its length.
 */
export function preallocatedAppends(
  handle: SyncedAppends,
  setLengthDurably: (bytes: number) => Promise<void>,
  dataBytes: number,
  stepBytes: number,
): SyncedAppends {
  let end = dataBytes;
  let length = dataBytes;
  return {
    async write(buffer, offset, bytes) {
      if (end + bytes > length) {
        length = end + bytes + stepBytes;
        await setLengthDurably(length);
      }
      const written = await handle.write(buffer, offset, bytes);
      end += written.bytesWritten;
      return written;
    },
    async close() {
      try {
        if (length > end) await setLengthDurably(end);
      } finally {
        await handle.close();
      }
    },
  };
}
