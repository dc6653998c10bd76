/**
 * The two record kinds MVCC writes, their plaintext codec (msgpack) and their sealing. A revision page
 * holds one change — key, value and metadata — and is sealed at position (storeId, mvccRevision,
 * main, sub); the meta record holds the store's counters and is sealed at (storeId, mvccMeta, 0, 0).
 * A page that does not open is reported as E_INTEGRITY naming its revision; the plaintext buffers
 * made here are wiped as soon as they are decoded or sealed.
 */
import { assert, decodeMsgpackCopy, encodeMsgpack } from '../../base/index.ts';
import { RecordKind, type Sealer } from '../../crypto/index.ts';
import { MvccError } from './errors.ts';

/** Format 1: a page without a lease (every page written before leases, and every one since without one). */
const pageFormat = 1;
/** Format 2: format 1 plus the lease the key is attached to, written only when there is one. */
const pageFormatWithLease = 2;
const metaFormat = 1;

/** One change to one key, as stored. */
export interface Page {
  key: Uint8Array;
  /** The new value; empty for a tombstone. */
  value: Uint8Array;
  main: number;
  sub: number;
  /** Main revision that created the key's current generation (0 for a tombstone). */
  createRevision: number;
  /** Changes in the key's generation including this one (0 for a tombstone). */
  version: number;
  tombstone: boolean;
  /** The key's previous revision in this generation — what the change replaced — if any. */
  prevMain: number;
  prevSub: number;
  /** The lease the key is attached to by this change (0: none; always 0 for a tombstone). */
  lease: number;
}

/** The store's counters, written in the same batch as the pages they describe. */
export interface Meta {
  storeId: string;
  /** The last Raft log index whose operations are in the store. */
  appliedIndex: number;
  /** The current (latest) main revision. */
  revision: number;
  /** Reads and watches before this revision are refused; pages it superseded may still be on disk. */
  compactRevision: number;
  /** Physical deletion of the pages superseded at this compact revision has finished. */
  finishedCompactRevision: number;
}

function wipe(bytes: Uint8Array): void {
  bytes.fill(0);
}

/**
 * Seals one revision's page. A value that came through Raft was already sealed once on this member, in
 * its WAL record, and is sealed again here on purpose: every ciphertext is bound to its position (the
 * WAL's segment and ordinal; here the store, revision and sub-revision), so a record copied elsewhere
 * does not open, and the two live apart — a WAL record carries a whole command (a txn's many values)
 * and goes when the log is compacted, a page lives until history compaction. Reusing the WAL's
 * ciphertext would tie every page to a log that no longer exists. Sealing is a few per cent of a
 * member's busy time (docs/performance.md, "Profile").
 */
export function sealPage(sealer: Sealer, storeId: string, page: Page): Uint8Array {
  const fields = [
    pageFormat, page.key, page.value, page.main, page.sub, page.createRevision, page.version,
    page.tombstone ? 1 : 0, page.prevMain, page.prevSub,
  ];
  if (page.lease !== 0) {
    fields[0] = pageFormatWithLease;
    fields.push(page.lease);
  }
  const plain = encodeMsgpack(fields);
  try {
    return sealer.seal(plain, { storeId, kind: RecordKind.mvccRevision, index: page.main, sub: page.sub });
  } finally {
    // The encoder reuses its buffer; zero the region so the plaintext does not linger there either.
    wipe(plain);
  }
}

export function openPage(sealer: Sealer, storeId: string, sealed: Uint8Array, main: number, sub: number): Page {
  let plain: Uint8Array;
  try {
    plain = sealer.open(sealed, { storeId, kind: RecordKind.mvccRevision, index: main, sub });
  } catch (error) {
    throw new MvccError('E_INTEGRITY', `the page of revision ${main}.${sub} failed to open: it was altered, moved or swapped`, {
      cause: error,
      revision: main,
    });
  }
  try {
    // A copying decode: the opened plaintext is wiped below while the key and value live on.
    const fields = decodeMsgpackCopy(plain) as unknown[];
    assert(Array.isArray(fields) && ((fields[0] === pageFormat && fields.length === 10) || (fields[0] === pageFormatWithLease && fields.length === 11)),
      `page ${main}.${sub} has a known format`);
    const page: Page = {
      key: asBytes(fields[1]),
      value: asBytes(fields[2]),
      main: fields[3] as number,
      sub: fields[4] as number,
      createRevision: fields[5] as number,
      version: fields[6] as number,
      tombstone: fields[7] === 1,
      prevMain: fields[8] as number,
      prevSub: fields[9] as number,
      lease: fields[0] === pageFormatWithLease ? fields[10] as number : 0,
    };
    // The position is authenticated; a page that disagrees with it was written wrongly — a bug.
    assert(page.main === main && page.sub === sub, `page ${main}.${sub} records its own revision`);
    return page;
  } finally {
    wipe(plain);
  }
}

function asBytes(value: unknown): Uint8Array {
  assert(value instanceof Uint8Array, 'a page field holds bytes');
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

export function sealMeta(sealer: Sealer, meta: Meta): Uint8Array {
  const plain = encodeMsgpack([
    metaFormat, meta.storeId, meta.appliedIndex, meta.revision, meta.compactRevision, meta.finishedCompactRevision,
  ]);
  try {
    return sealer.seal(plain, { storeId: meta.storeId, kind: RecordKind.mvccMeta, index: 0, sub: 0 });
  } finally {
    wipe(plain);
  }
}

export function openMeta(sealer: Sealer, storeId: string, sealed: Uint8Array): Meta {
  let plain: Uint8Array;
  try {
    plain = sealer.open(sealed, { storeId, kind: RecordKind.mvccMeta, index: 0, sub: 0 });
  } catch (error) {
    throw new MvccError('E_INTEGRITY', `the meta record of store ${JSON.stringify(storeId)} failed to open`, {
      cause: error,
      revision: 0,
    });
  }
  try {
    const fields = decodeMsgpackCopy(plain) as unknown[];
    assert(Array.isArray(fields) && fields[0] === metaFormat && fields.length === 6, 'meta record has a known format');
    return {
      storeId: fields[1] as string,
      appliedIndex: fields[2] as number,
      revision: fields[3] as number,
      compactRevision: fields[4] as number,
      finishedCompactRevision: fields[5] as number,
    };
  } finally {
    wipe(plain);
  }
}

/**
 * Re-seals a revision page under the sealer's active DEK at the same position, with the same fields,
 * if `keep(key)` says the page is still wanted; returns undefined when it is not (a page a compaction
 * is about to delete). The opened key and value are wiped before returning.
 */
export function resealPage(
  sealer: Sealer, storeId: string, sealed: Uint8Array, main: number, sub: number, keep: (key: Uint8Array) => boolean,
): Uint8Array | undefined {
  const page = openPage(sealer, storeId, sealed, main, sub);
  try {
    return keep(page.key) ? sealPage(sealer, storeId, page) : undefined;
  } finally {
    wipe(page.key);
    wipe(page.value);
  }
}
