/**
 * The leases the store holds and which keys are attached to each (etcd's lessor state, without time:
 * time is the leader's lessor's, src/replication/lessor.ts). A lease is its id, its granted TTL in
 * seconds, the remaining TTL the last checkpoint recorded (0: none since the lease was granted or kept
 * alive, so it has its full TTL), the number of keep-alives applied to it and its owner. Pure: no I/O; the applier
 * changes it and the store persists each changed lease as a sealed record (lease-record.ts), while a
 * key's lease lives in the key's page (page.ts), so the attachments are rebuilt from pages at open.
 *
 * Invariant: `keyLease.get(k) === id` if and only if `leases.get(id).keys.has(k)`; a key is attached to
 * at most one lease, and only to a lease the table holds; `owned.get(u)` is the number of leases whose
 * owner is `u`.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { assert } from '../../base/index.ts';
import type { LeaseKeysCheck } from './types.ts';

/** What the store persists of a lease. */
export interface LeaseRecord {
  id: number;
  /** Granted TTL, seconds. */
  ttl: number;
  /** Remaining TTL at the last checkpoint, milliseconds; 0 when none applies (the lease has its full TTL). */
  remainingTtlMs: number;
  /** Keep-alives applied; an expiry that saw another count leaves the lease (LeaseRevokeRequest.ifRefreshes). */
  refreshes: number;
  /** The user that granted it (LeaseGrantRequest.owner); absent for a lease granted before leases had owners. */
  owner?: string;
}

/** Whether `user` may act on `lease` as its owner: it is theirs, or it has no owner. */
export function ownsLease(lease: Pick<LeaseRecord, 'owner'>, user: string): boolean {
  return lease.owner === undefined || lease.owner === user;
}

export interface Lease extends LeaseRecord {
  /** Keys attached, as index strings (keys.ts). */
  readonly keys: Set<string>;
}

export class LeaseTable {
  private readonly leases = new Map<number, Lease>();
  private readonly keyLease = new Map<string, number>();
  private readonly owned = new Map<string, number>();

  get size(): number {
    return this.leases.size;
  }

  get(id: number): Lease | undefined {
    return this.leases.get(id);
  }

  /** Every lease, by ascending id. */
  list(): Lease[] {
    return [...this.leases.values()].sort((a, b) => a.id - b.id);
  }

  /** Every lease as the store persists it (copies, without keys), by ascending id. */
  records(): LeaseRecord[] {
    return this.list().map(leaseRecordOf);
  }

  /** How many leases `owner` holds. */
  ownedBy(owner: string): number {
    return this.owned.get(owner) ?? 0;
  }

  /** The lease `key` is attached to; 0 for none. */
  leaseOf(key: string): number {
    return this.keyLease.get(key) ?? 0;
  }

  add(record: LeaseRecord): Lease {
    assert(!this.leases.has(record.id), `lease ${record.id} is added once`);
    const lease: Lease = { ...record, keys: new Set() };
    this.leases.set(record.id, lease);
    if (record.owner !== undefined) this.owned.set(record.owner, this.ownedBy(record.owner) + 1);
    return lease;
  }

  /** Removes the lease; its keys must have been detached (the revoke deleted them). */
  remove(id: number): void {
    const lease = this.leases.get(id);
    assert(lease !== undefined && lease.keys.size === 0, `lease ${id} is removed once its keys are gone`);
    this.leases.delete(id);
    if (lease.owner === undefined) return;
    const left = this.ownedBy(lease.owner) - 1;
    if (left === 0) this.owned.delete(lease.owner);
    else this.owned.set(lease.owner, left);
  }

  /** Attaches `key` to lease `id` (0: to none), leaving the lease it was on; returns that lease (0: none). */
  attach(key: string, id: number): number {
    const previous = this.leaseOf(key);
    if (previous === id) return previous;
    if (previous !== 0) {
      this.leases.get(previous)!.keys.delete(key);
      this.keyLease.delete(key);
    }
    if (id !== 0) {
      const lease = this.leases.get(id);
      assert(lease !== undefined, `key attached to lease ${id}, which the table holds`);
      lease.keys.add(key);
      this.keyLease.set(key, id);
    }
    return previous;
  }
}

/** A lease as the store persists it: a copy without its keys. */
export function leaseRecordOf({ id, ttl, remainingTtlMs, refreshes, owner }: LeaseRecord): LeaseRecord {
  return owner === undefined ? { id, ttl, remainingTtlMs, refreshes } : { id, ttl, remainingTtlMs, refreshes, owner };
}

/**
 * What a revoke names of the keys it checked (LeaseRevokeRequest.ifKeys): their count and a SHA-256 over
 * them in key order, each key preceded by its length (4 bytes, big-endian). The same on every member for
 * the same keys, whatever order they come in; keys are index strings (keys.ts).
 */
export function leaseKeysCheck(keys: Iterable<string>): LeaseKeysCheck {
  const sorted = [...keys].sort();
  const hash = createHash('sha256');
  const length = Buffer.alloc(4);
  for (const key of sorted) {
    const bytes = Buffer.from(key, 'latin1');
    length.writeUInt32BE(bytes.length);
    hash.update(length).update(bytes);
  }
  return { count: sorted.length, sha256: hash.digest('hex') };
}
