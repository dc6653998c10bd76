// Shared fixtures for the backup tests: synthetic snapshot records and fast argon2id parameters.
import type { SnapshotRecord } from '../../../src/storage/mvcc/index.ts';

/** The smallest argon2id cost a backup header may record; only tests use it. */
export const fastArgon2 = { memoryKiB: 1024, timeCost: 1, parallelism: 1 };

export const marker = 'BACKUP-PLAINTEXT-MARKER-7f3a';

/** A header and `pages` pages; page i holds key `key-i` and a value of `valueBytes` bytes (the marker first). */
export function sampleRecords(pages: number, valueBytes = 32): SnapshotRecord[] {
  const records: SnapshotRecord[] = [{ type: 'header', appliedIndex: 40 + pages, revision: pages + 1, compactRevision: 0 }];
  for (let i = 0; i < pages; i++) {
    const value = new Uint8Array(Math.max(valueBytes, marker.length)).fill(0x61 + (i % 26));
    value.set(new TextEncoder().encode(marker));
    records.push({
      type: 'page',
      page: {
        key: new TextEncoder().encode(`key-${i}`), value, main: i + 2, sub: 0, createRevision: i + 2, version: 1,
        // The last key is on a lease, whose record ends the store's records (as exportSnapshot orders them).
        tombstone: false, prevMain: 0, prevSub: 0, lease: i === pages - 1 ? 1 : 0,
      },
    });
  }
  if (pages > 0) records.push({ type: 'lease', lease: { id: 1, ttl: 60, remainingTtlMs: 30_000, refreshes: 2, owner: 'alice' } });
  return records;
}

/** Deep copies, because writers wipe the records they have encoded. */
export function copyRecords(records: readonly SnapshotRecord[]): SnapshotRecord[] {
  return records.map((r) => {
    switch (r.type) {
      case 'header': return { ...r };
      case 'lease': return { type: 'lease', lease: { ...r.lease } };
      case 'page': return { type: 'page', page: { ...r.page, key: r.page.key.slice(), value: r.page.value.slice() } };
    }
  });
}

export async function* iterate<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const item of items) yield await Promise.resolve(item);
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
