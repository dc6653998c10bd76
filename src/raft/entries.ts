/** Sizing of entries for message, in-flight and Ready limits. */
import { raftEntryOverheadBytes } from '../config/index.ts';
import type { Entry } from './types.ts';

/** The bytes one entry counts for in maxMsgBytes / maxInflightBytes. */
export function entryBytes(e: Entry): number {
  return e.data.length + raftEntryOverheadBytes;
}

export function entriesBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const e of entries) total += entryBytes(e);
  return total;
}

/** Payload bytes only: what maxUncommittedBytes counts (the no-op entry of a new leader counts 0). */
export function payloadBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const e of entries) total += e.data.length;
  return total;
}

/**
 * The longest prefix of `entries` whose size stays within maxBytes — but at least one entry, so a single
 * oversized entry still makes progress.
 */
export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  if (entries.length === 0) return entries;
  let size = entryBytes(entries[0]!);
  let n = 1;
  while (n < entries.length) {
    size += entryBytes(entries[n]!);
    if (size > maxBytes) break;
    n++;
  }
  return n === entries.length ? entries : entries.slice(0, n);
}
