/**
 * The plaintext codec of snapshot records inside a backup chunk and a snapshot stream frame: each
 * record is a msgpack array (header: [0, appliedIndex, revision, compactRevision]; page: [1, key,
 * value, main, sub, createRevision, version, tombstone, prevMain, prevSub], with the key's lease as an
 * eleventh field when it has one; lease: [2, id, ttl, remainingTtlMs, refreshes], with its owner as a
 * sixth field when it has one). Backups written before leases existed hold no lease record and 10-field
 * pages, and read the same; before leases had owners, 5-field lease records. Decoding checks the
 * shape of every record, so a malformed record is a typed error, never a half-filled page.
 * Encoded buffers hold plaintext: callers wipe them once sealed or sent.
 */
import { decodeMsgpackCopy, encodeMsgpack } from '../../base/index.ts';
import type { SnapshotRecord } from '../mvcc/index.ts';

const headerTag = 0;
const pageTag = 1;
const leaseTag = 2;

export function recordToWire(record: SnapshotRecord): unknown[] {
  if (record.type === 'header') return [headerTag, record.appliedIndex, record.revision, record.compactRevision];
  if (record.type === 'lease') {
    const { id, ttl, remainingTtlMs, refreshes, owner } = record.lease;
    return owner === undefined ? [leaseTag, id, ttl, remainingTtlMs, refreshes] : [leaseTag, id, ttl, remainingTtlMs, refreshes, owner];
  }
  const p = record.page;
  const fields = [pageTag, p.key, p.value, p.main, p.sub, p.createRevision, p.version, p.tombstone ? 1 : 0, p.prevMain, p.prevSub];
  return p.lease === 0 ? fields : [...fields, p.lease];
}

/** The record a wire array describes, or undefined when it is not a well-formed record. */
export function recordFromWire(value: unknown): SnapshotRecord | undefined {
  if (!Array.isArray(value)) return undefined;
  const fields: unknown[] = value;
  const counts = fields.slice(1).filter((f) => typeof f === 'number');
  if (fields[0] === headerTag && fields.length === 4 && counts.length === 3 && counts.every(isCount)) {
    return { type: 'header', appliedIndex: fields[1] as number, revision: fields[2] as number, compactRevision: fields[3] as number };
  }
  const owner = fields[5];
  if (fields[0] === leaseTag && (fields.length === 5 || (fields.length === 6 && typeof owner === 'string')) && counts.length === 4 && counts.every(isCount)) {
    const lease = { id: fields[1] as number, ttl: fields[2] as number, remainingTtlMs: fields[3] as number, refreshes: fields[4] as number };
    return { type: 'lease', lease: typeof owner === 'string' ? { ...lease, owner } : lease };
  }
  if (fields[0] !== pageTag || (fields.length !== 10 && fields.length !== 11)) return undefined;
  const [, key, val, main, sub, createRevision, version, tombstone, prevMain, prevSub, lease = 0] = fields;
  if (!(key instanceof Uint8Array) || !(val instanceof Uint8Array)) return undefined;
  const numbers = [main, sub, createRevision, version, prevMain, prevSub, lease];
  if (!numbers.every(isCount) || (tombstone !== 0 && tombstone !== 1)) return undefined;
  return {
    type: 'page',
    page: {
      key: new Uint8Array(key.buffer, key.byteOffset, key.byteLength),
      value: new Uint8Array(val.buffer, val.byteOffset, val.byteLength),
      main: main as number, sub: sub as number, createRevision: createRevision as number, version: version as number,
      tombstone: tombstone === 1, prevMain: prevMain as number, prevSub: prevSub as number, lease: lease as number,
    },
  };
}

function isCount(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Rough plaintext size of a record once encoded, to cut batches near a byte target. */
export function recordBytes(record: SnapshotRecord): number {
  return record.type === 'page' ? 64 + record.page.key.length + record.page.value.length : 48;
}

/** A fresh buffer (not the packer's reused one), so the caller owns it and may wipe it. */
export function pack(value: unknown): Uint8Array {
  const packed = encodeMsgpack(value);
  const copy = new Uint8Array(packed);
  packed.fill(0);
  return copy;
}

/**
 * msgpack decode; throws (msgpackr's own error) on malformed input. Byte strings are copies, so a
 * frame can be wiped while its records live on.
 */
export function unpack(bytes: Uint8Array): unknown {
  return decodeMsgpackCopy(bytes);
}

/** Wipes the values (and keys) of records once they have been encoded or consumed. */
export function wipeRecords(records: readonly SnapshotRecord[]): void {
  for (const r of records) {
    if (r.type === 'page') {
      r.page.value.fill(0);
      r.page.key.fill(0);
    }
  }
}
