/**
 * HashKV: a hash of the store as of a revision, comparable across members that applied the same
 * entries and compactions. It covers the logical history still held (physical compaction progress does
 * not change it) — each change with the lease its key was attached to —, the revision and the compact
 * revision. Asked for the current state (revision 0, as `etcdctl endpoint hashkv` asks), it covers the
 * leases too: each lease's id, granted TTL and attached keys, the replicated state etcd 3.4's HashKV
 * leaves out, so members that disagree about a lease do not hash equal — and each lease's owner. Not the remaining TTL of the
 * last checkpoint nor the keep-alive count: they change with every checkpoint and keep-alive without a
 * new revision, so two healthy members at one revision would differ while one of those entries is
 * applied on one member and not yet on the other. The store keeps no history of leases, so a hash at
 * an explicit revision leaves the lease table out (and stays equal on members at any later revision).
 * (docs/architecture.md, "HashKV".)
 *
 * Invariant: the lease table changes in place while a batch is applied, so the current state is read
 * in the write queue, between batches; the pages are read under one LevelDB snapshot.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { MvccError, compactedError } from './errors.ts';
import { stringToKey } from './keys.ts';
import { readPages, revisionRuns } from './reads.ts';
import type { StoreState } from './state.ts';

export interface HashResult {
  /** SHA-256 (hex) over every key-value change held at or before `revision`, in revision order, and at the current revision the leases (MvccStore.hash). */
  hash: string;
  revision: number;
  compactRevision: number;
}

/** MvccStore.hash. */
export async function hashStore(state: StoreState, revision: number): Promise<HashResult> {
  state.checkUsable();
  const current = revision === 0
    ? await state.exclusive(() => Promise.resolve({
      revision: state.revision, leases: state.leaseTable.list().map(({ id, ttl, keys, owner }) => ({ id, ttl, keys: [...keys].sort(), owner })),
    }))
    : undefined;
  const atMain = current?.revision ?? revision;
  if (atMain > state.revision) throw new MvccError('E_FUTURE_REV', `hash revision ${atMain} is after the current revision ${state.revision}`);
  if (atMain < state.compactRev) throw compactedError(atMain, state.compactRev);
  const compactRevision = state.compactRev;
  const snapshot = state.snapshot();
  try {
    const packed = state.index.revisionsUpTo(atMain);
    const digest = createHash('sha256');
    const numbers = new DataView(new ArrayBuffer(8));
    const addNumber = (n: number): void => {
      numbers.setBigUint64(0, BigInt(n));
      digest.update(new Uint8Array(numbers.buffer));
    };
    const addBytes = (bytes: Uint8Array): void => {
      addNumber(bytes.length);
      digest.update(bytes);
    };
    addNumber(atMain);
    addNumber(compactRevision);
    for (const revs of revisionRuns(packed)) {
      for (const page of await readPages(state, revs, snapshot)) {
        for (const n of [page.main, page.sub, page.createRevision, page.version, page.tombstone ? 1 : 0, page.lease]) addNumber(n);
        addBytes(page.key);
        addBytes(page.value);
        page.value.fill(0);
      }
    }
    if (current !== undefined) {
      addNumber(current.leases.length);
      for (const lease of current.leases) {
        for (const n of [lease.id, lease.ttl, lease.keys.length]) addNumber(n);
        for (const key of lease.keys) addBytes(stringToKey(key));
      }
      // The owners last, and only when a lease has one: a store whose leases have none (all granted before
      // leases had owners) hashes as it did then.
      const owned = current.leases.filter((lease) => lease.owner !== undefined);
      if (owned.length > 0) addNumber(owned.length);
      for (const lease of owned) {
        addNumber(lease.id);
        addBytes(Buffer.from(lease.owner!));
      }
    }
    return { hash: digest.digest('hex'), revision: atMain, compactRevision };
  } finally {
    await state.closeSnapshot(snapshot);
  }
}
