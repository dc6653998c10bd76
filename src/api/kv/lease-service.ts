/**
 * etcd's Lease operations as Coffer serves them to the gRPC Lease service and the JSON gateway's
 * `/v3/lease/*` alike (one implementation, as KvService is for KV). Grant, revoke and keep-alive are
 * Raft writes, so any member takes them and a follower's reaches the leader the way every proposal
 * does; time-to-live and the list are linearizable reads of the replicated lease state, with the
 * remaining TTL from the leader's lessor on the leader and from the last checkpoint elsewhere
 * (docs/architecture.md, "Leases").
 *
 * Owners: a lease is the user's that granted it, and one user holds at most leasesPerOwnerMax. Only its
 * owner — or system:masters — may keep it alive, revoke it, read its time to live, see it listed or attach
 * a key to it (KvService). Each proposal names the caller (`ifOwner`, `ifLeaseOwner`), so a lease revoked
 * and granted again to another user between the check here and the apply is refused there as well. A
 * lease granted before leases had owners is anyone's, as it was.
 *
 * Keys: a revoke deletes every key attached, so it needs `delete` on each of them (key-access.ts: the
 * reserved keyspace, then the caller's kvkeys rules); a keep-alive keeps them, so it needs `update` on
 * each; time-to-live lists only the attached keys the caller may `get`.
 */
import type { KeyRangeVerb } from '../../rbac/index.ts';
import {
  isMvccError, keyToString, leaseKeysCheck, type LeaseGrantResponse, type LeaseRecord, type LeaseRevokeResponse, ownsLease, type PutRequest,
  type TxnOp, type TxnRequest,
} from '../../storage/mvcc/index.ts';
import { unheldId } from '../../etcdpb/index.ts';
import { ForbiddenError } from '../errors.ts';
import { EtcdRequestError, leaseNotFound } from '../etcd-errors.ts';
import { type Caller, isMaster } from '../k8s/authorization.ts';
import type { KvBackend } from './backend.ts';

/** Throws ForbiddenError unless `caller` may `verb` the key (KvService's check). */
export type AllowKey = (caller: Caller, verb: KeyRangeVerb, key: Uint8Array) => void;

export interface LeaseStatus {
  id: number;
  /** Remaining TTL in whole seconds; -1 when the lease does not exist (etcd's answer). */
  ttl: number;
  /** The TTL the lease was granted, seconds (0 when it does not exist). */
  grantedTtl: number;
  keys: Uint8Array[];
}

export class LeaseService {
  constructor(private readonly backend: KvBackend, private readonly allow: AllowKey) {}

  /** A lease of `ttl` seconds owned by `caller`, raised to the shortest TTL this cluster grants; `id` 0 lets the server choose. */
  async grant(caller: Caller, id: number, ttl: number): Promise<LeaseGrantResponse> {
    const op = { type: 'leaseGrant', id, ttl: Math.max(ttl, this.backend.leaseTtlMinSeconds()), owner: caller.user } as const;
    return (await this.backend.propose(op)) as LeaseGrantResponse;
  }

  /**
   * Deletes the lease and its keys. The proposal names the keys checked (`ifKeys`), so a key attached
   * between the check and the apply — by another client — makes the store refuse the revoke
   * (E_LEASE_KEYS_CHANGED: 409, gRPC ABORTED) rather than delete a key nobody checked; the caller retries.
   */
  async revoke(caller: Caller, id: number): Promise<LeaseRevokeResponse> {
    // An ID no member can hold (beyond 2^53) is not proposed: the store could not name it.
    if (id === unheldId) throw new EtcdRequestError(leaseNotFound);
    await this.backend.linearizableBarrier();
    const keys = this.ownLease(caller, id)?.keys ?? [];
    for (const key of keys) this.allow(caller, 'delete', key);
    const op = { type: 'leaseRevoke', id, ifKeys: leaseKeysCheck(keys.map(keyToString)), ...asOwner(caller) } as const;
    return (await this.backend.propose(op)) as LeaseRevokeResponse;
  }

  /**
   * Renews the lease to its full TTL; answers TTL 0 for a lease that does not exist, as etcd does: one
   * the store does not hold as of a linearizable read without proposing anything. A renewal keeps every
   * attached key from being deleted, so it needs `update` on each of them: checked at every renewal,
   * against the keys attached as of that read.
   */
  async keepAlive(caller: Caller, id: number): Promise<{ id: number; ttl: number; revision: number }> {
    await this.backend.linearizableBarrier();
    const lease = this.ownLease(caller, id);
    if (lease === undefined) return { id, ttl: 0, revision: this.backend.status().revision };
    for (const key of lease.keys) this.allow(caller, 'update', key);
    try {
      const response = await this.backend.propose({ type: 'leaseKeepAlive', id, ...asOwner(caller) });
      return { id, ttl: response.type === 'leaseKeepAlive' ? response.ttl : 0, revision: response.revision };
    } catch (error) {
      if (isMvccError(error, 'E_LEASE_NOT_FOUND')) return { id, ttl: 0, revision: this.backend.status().revision };
      throw error;
    }
  }

  async timeToLive(caller: Caller, id: number, withKeys: boolean): Promise<LeaseStatus> {
    await this.backend.linearizableBarrier();
    const lease = this.ownLease(caller, id);
    if (lease === undefined) return { id, ttl: -1, grantedTtl: 0, keys: [] };
    const keys = withKeys ? lease.keys.filter((key) => this.mayGet(caller, key)) : [];
    return { id, ttl: Math.floor(this.backend.leaseRemainingMs(lease) / 1000), grantedTtl: lease.ttl, keys };
  }

  /** The leases `caller` may act on: its own and those without an owner (system:masters: every lease). */
  async list(caller: Caller): Promise<number[]> {
    await this.backend.linearizableBarrier();
    return this.backend.mvcc().leases().filter((lease) => mayActOn(caller, lease)).map((lease) => lease.id);
  }

  /**
   * Throws ForbiddenError if lease `id` is another user's, as this member's lease table has it (a lease it
   * does not hold yet is left to the apply, which refuses a missing lease and, through ifLeaseOwner,
   * another user's).
   */
  mayAttach(caller: Caller, id: number): void {
    // An ID no member can hold (beyond 2^53) names no lease: etcd's answer to a put with an unknown lease.
    if (id === unheldId) throw new EtcdRequestError(leaseNotFound);
    this.ownLease(caller, id);
  }

  /** Lease `id` as the store holds it now (undefined: none); ForbiddenError if it is another user's. */
  private ownLease(caller: Caller, id: number): (LeaseRecord & { keys: Uint8Array[] }) | undefined {
    const lease = this.backend.mvcc().lease(id);
    if (lease !== undefined && !mayActOn(caller, lease)) {
      throw new ForbiddenError(`etcdserver: permission denied: user ${JSON.stringify(caller.user)} may not use lease ${id}: it is another user's`);
    }
    return lease;
  }

  private mayGet(caller: Caller, key: Uint8Array): boolean {
    try {
      this.allow(caller, 'get', key);
      return true;
    } catch (error) {
      if (error instanceof ForbiddenError) return false;
      throw error;
    }
  }
}

/** Whether `caller` may act on `lease`: its owner, or system:masters. */
function mayActOn(caller: Caller, lease: Pick<LeaseRecord, 'owner'>): boolean {
  return isMaster(caller) || ownsLease(lease, caller.user);
}

/**
 * What a proposal on a lease names of its caller, for the store to check again at apply: the user, unless
 * system:masters (who may act on any lease).
 */
function asOwner(caller: Caller): { ifOwner?: string } {
  return isMaster(caller) ? {} : { ifOwner: caller.user };
}

/**
 * `op` with every put in it that attaches its key to a lease naming `caller` (ifLeaseOwner), into every
 * branch of every nested transaction, for the store to refuse at apply a lease that is another user's;
 * `op` itself when nothing attaches or the caller is in system:masters.
 */
export function attachingAs<T extends PutRequest | TxnRequest>(caller: Caller, op: T): T {
  if (isMaster(caller) || !attaches(op)) return op;
  const named = (o: TxnOp): TxnOp => {
    if (o.type === 'put') return (o.lease ?? 0) === 0 ? o : { ...o, ifLeaseOwner: caller.user };
    return o.type === 'txn' ? { ...o, success: o.success.map(named), failure: o.failure.map(named) } : o;
  };
  return named(op) as T;
}

/** Whether a put in `op`, at any depth, attaches its key to a lease. */
function attaches(op: TxnOp): boolean {
  if (op.type === 'put') return (op.lease ?? 0) !== 0;
  return op.type === 'txn' && [...op.success, ...op.failure].some(attaches);
}
