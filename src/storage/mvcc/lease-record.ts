/**
 * A lease as the store keeps it on disk: one sealed record per lease, keyed 'l' | id u64 BE (the id is a
 * number the API shows anyway, never a key name), sealed at position (storeId, mvccLease, id, 0) so a
 * record moved to another id or store fails to open. Its fields: [format, id, ttl, remainingTtlMs,
 * refreshes], then the owner when it has one (a record written before leases had owners has five). Written in the same batch as the pages and meta
 * record of the entry that changed it; deleted in the batch that revokes it.
 */
import { assert, decodeMsgpackCopy, encodeMsgpack } from '../../base/index.ts';
import { RecordKind, type Sealer } from '../../crypto/index.ts';
import { MvccError } from './errors.ts';
import type { LeaseRecord } from './lease-table.ts';

const leaseFormat = 1;
const leasePrefix = 0x6c; // 'l'
const leaseKeyBytes = 9;

export function encodeLeaseKey(id: number): Uint8Array {
  assert(Number.isSafeInteger(id) && id > 0, `lease id ${id} is a safe integer > 0`);
  const out = new Uint8Array(leaseKeyBytes);
  out[0] = leasePrefix;
  new DataView(out.buffer).setBigUint64(1, BigInt(id));
  return out;
}

export function decodeLeaseKey(key: Uint8Array): number {
  assert(key.length === leaseKeyBytes && key[0] === leasePrefix, `record key of ${key.length} bytes is a lease key`);
  return Number(new DataView(key.buffer, key.byteOffset, key.byteLength).getBigUint64(1));
}

/** Bounds covering every lease record. */
export const leaseKeyRange = { gte: Uint8Array.of(leasePrefix), lt: Uint8Array.of(leasePrefix + 1) };

export function sealLease(sealer: Sealer, storeId: string, lease: LeaseRecord): Uint8Array {
  const fields = [leaseFormat, lease.id, lease.ttl, lease.remainingTtlMs, lease.refreshes];
  const plain = encodeMsgpack(lease.owner === undefined ? fields : [...fields, lease.owner]);
  try {
    return sealer.seal(plain, { storeId, kind: RecordKind.mvccLease, index: lease.id, sub: 0 });
  } finally {
    plain.fill(0);
  }
}

export function openLease(sealer: Sealer, storeId: string, sealed: Uint8Array, id: number): LeaseRecord {
  let plain: Uint8Array;
  try {
    plain = sealer.open(sealed, { storeId, kind: RecordKind.mvccLease, index: id, sub: 0 });
  } catch (error) {
    throw new MvccError('E_INTEGRITY', `the record of lease ${id} failed to open: it was altered, moved or swapped`, { cause: error, revision: 0 });
  }
  try {
    const fields = decodeMsgpackCopy(plain) as unknown[];
    assert(Array.isArray(fields) && fields[0] === leaseFormat && (fields.length === 5 || (fields.length === 6 && typeof fields[5] === 'string')),
      `lease record ${id} has a known format`);
    const lease: LeaseRecord = { id: fields[1] as number, ttl: fields[2] as number, remainingTtlMs: fields[3] as number, refreshes: fields[4] as number };
    if (fields.length === 6) lease.owner = fields[5] as string;
    assert(lease.id === id, `lease record ${id} records its own id`);
    return lease;
  } finally {
    plain.fill(0);
  }
}
