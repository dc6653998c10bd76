/**
 * Snapshot import: creates a store in a directory that holds none from a snapshot's plaintext records
 * (snapshot-export.ts), sealing every page and lease with this member's keys; and reading a store's
 * applied index without loading it.
 *
 * Invariants: records are checked before anything is written of them — one header first, pages in
 * strictly ascending revision order and none after the header's revision, keys and values within
 * limits, each lease well formed and once — and a bad snapshot is E_BAD_REQUEST (E_LIMIT for a value
 * too large). The meta record is written last, in a synchronous batch, so an interrupted import is
 * detected at open (E_CORRUPT, load.ts) rather than mistaken for a short store.
 */
import { leaseTtlSecondsMax, snapshotImportBatchRecordsMax, valueBytesMax } from '../../config/index.ts';
import { MvccError } from './errors.ts';
import { encodeLeaseKey, sealLease } from './lease-record.ts';
import type { LeaseRecord } from './lease-table.ts';
import { classicLevel, isEmpty, writeBatch } from './level.ts';
import type { MvccStoreOptions } from './options.ts';
import { type Meta, type Page, openMeta, sealMeta, sealPage } from './page.ts';
import { type Revision, encodeRevisionKey, metaRecordKey, subMax } from './revision.ts';
import type { SnapshotRecord } from './snapshot-export.ts';
import { checkKey, checkLeaseOwner } from './validate.ts';

type Header = Extract<SnapshotRecord, { type: 'header' }>;

/** Writes the store of `records` into `options.dir`, which must hold no store (MvccStore.importSnapshot opens it). */
export async function importSnapshot(options: MvccStoreOptions, records: AsyncIterable<SnapshotRecord>): Promise<void> {
  const db = (options.openLevel ?? classicLevel)(options.dir);
  await db.open();
  try {
    if (!(await isEmpty(db))) throw new MvccError('E_BAD_REQUEST', `snapshot import into ${options.dir}, which already holds a store`);
    let header: Header | undefined;
    let last: Revision = { main: 0, sub: -1 };
    let ops: { type: 'put'; key: Uint8Array; value: Uint8Array }[] = [];
    const leaseIds = new Set<number>();
    for await (const record of records) {
      if (record.type === 'header') {
        if (header !== undefined) throw new MvccError('E_BAD_REQUEST', 'snapshot has two headers');
        checkSnapshotHeader(record);
        header = record;
        continue;
      }
      if (header === undefined) throw new MvccError('E_BAD_REQUEST', 'snapshot does not start with its header');
      if (record.type === 'lease') {
        checkSnapshotLease(record.lease, leaseIds);
        ops.push({ type: 'put', key: encodeLeaseKey(record.lease.id), value: sealLease(options.sealer, options.storeId, record.lease) });
        continue;
      }
      const { main, sub } = record.page;
      checkSnapshotPage(record.page, last, header.revision);
      last = { main, sub };
      ops.push({ type: 'put', key: encodeRevisionKey(main, sub), value: sealPage(options.sealer, options.storeId, record.page) });
      if (ops.length >= snapshotImportBatchRecordsMax) {
        await writeBatch(db, ops);
        ops = [];
      }
    }
    if (header === undefined) throw new MvccError('E_BAD_REQUEST', 'snapshot has no header');
    const meta: Meta = {
      storeId: options.storeId, appliedIndex: header.appliedIndex, revision: header.revision,
      compactRevision: header.compactRevision, finishedCompactRevision: header.compactRevision,
    };
    await writeBatch(db, [...ops, { type: 'put', key: metaRecordKey, value: sealMeta(options.sealer, meta) }], { sync: true });
  } finally {
    await db.close();
  }
}

/**
 * The applied index recorded in the store in `options.dir`, without loading it; undefined when the
 * dir holds no complete store (none, or an import that never wrote its meta record).
 */
export async function peekAppliedIndex(options: MvccStoreOptions): Promise<number | undefined> {
  const db = (options.openLevel ?? classicLevel)(options.dir);
  await db.open();
  try {
    const sealed = await db.get(metaRecordKey);
    return sealed === undefined ? undefined : openMeta(options.sealer, options.storeId, sealed).appliedIndex;
  } finally {
    await db.close();
  }
}

function checkSnapshotHeader({ appliedIndex, revision, compactRevision }: Header): void {
  if (![appliedIndex, revision, compactRevision].every((n) => Number.isSafeInteger(n) && n >= 0) || compactRevision > revision) {
    throw new MvccError('E_BAD_REQUEST', `snapshot header (applied ${appliedIndex}, revision ${revision}, compact ${compactRevision}) is not valid`);
  }
}

/** A page of a snapshot: well formed, after the `last` one, at or before the header's revision, within limits. */
function checkSnapshotPage(page: Page, last: Revision, revision: number): void {
  const { main, sub } = page;
  const wellFormed = Number.isSafeInteger(main) && main >= 1 && Number.isInteger(sub) && sub >= 0 && sub <= subMax;
  if (!wellFormed || !(main > last.main || (main === last.main && sub > last.sub)) || main > revision) {
    throw new MvccError('E_BAD_REQUEST', `snapshot page ${main}.${sub} is out of order or after revision ${revision}`);
  }
  checkKey(page.key, `snapshot page ${main}.${sub} key`);
  if (page.value.length > valueBytesMax) {
    throw new MvccError('E_LIMIT', `snapshot page ${main}.${sub} value of ${page.value.length} bytes exceeds valueBytesMax (${valueBytesMax})`);
  }
}

/** A lease record of a snapshot: well formed and not seen before. */
function checkSnapshotLease(lease: LeaseRecord, seen: Set<number>): void {
  const counts = [lease.id, lease.ttl, lease.remainingTtlMs, lease.refreshes];
  if (!counts.every((n) => Number.isSafeInteger(n) && n >= 0) || lease.id === 0 || lease.ttl === 0 || lease.ttl > leaseTtlSecondsMax || seen.has(lease.id)) {
    throw new MvccError('E_BAD_REQUEST', `snapshot lease ${lease.id} is not valid or appears twice`);
  }
  checkLeaseOwner(lease.owner, `snapshot lease ${lease.id} owner`);
  seen.add(lease.id);
}
