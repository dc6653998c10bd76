/**
 * etcd's Lease operations as Coffer serves them to the gRPC Lease service and the JSON gateway's
 * `/v3/lease/*` alike (one implementation, as KvService is for KV). Grant, revoke and keep-alive are
 * Raft writes, so any member takes them and a follower's reaches the leader the way every proposal
 * does; time-to-live and the list are linearizable reads of the replicated lease state, with the
 * remaining TTL from the leader's lessor on the leader and from the last checkpoint elsewhere
 * (docs/architecture.md, "Leases").
 *
 * Keys: a revoke deletes every key attached, so it needs `delete` on each of them (key-access.ts: the
 * reserved keyspace, then the caller's kvkeys rules); a keep-alive keeps them, so it needs `update` on
 * each; time-to-live lists only the attached keys the caller may `get`.
 */
import type { KeyRangeVerb } from '../../rbac/index.ts';
import { isMvccError, keyToString, leaseKeysCheck, type LeaseGrantResponse, type LeaseRevokeResponse } from '../../storage/mvcc/index.ts';
import { ForbiddenError } from '../errors.ts';
import type { Caller } from '../k8s/authorization.ts';
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

  /** A lease of `ttl` seconds, raised to the shortest TTL this cluster grants; `id` 0 lets the server choose. */
  async grant(id: number, ttl: number): Promise<LeaseGrantResponse> {
    return (await this.backend.propose({ type: 'leaseGrant', id, ttl: Math.max(ttl, this.backend.leaseTtlMinSeconds()) })) as LeaseGrantResponse;
  }

  /**
   * Deletes the lease and its keys. The proposal names the keys checked (`ifKeys`), so a key attached
   * between the check and the apply — by another client — makes the store refuse the revoke
   * (E_LEASE_KEYS_CHANGED: 409, gRPC ABORTED) rather than delete a key nobody checked; the caller retries.
   */
  async revoke(caller: Caller, id: number): Promise<LeaseRevokeResponse> {
    await this.backend.linearizableBarrier();
    const keys = this.backend.mvcc().lease(id)?.keys ?? [];
    for (const key of keys) this.allow(caller, 'delete', key);
    return (await this.backend.propose({ type: 'leaseRevoke', id, ifKeys: leaseKeysCheck(keys.map(keyToString)) })) as LeaseRevokeResponse;
  }

  /**
   * Renews the lease to its full TTL; answers TTL 0 for a lease that no longer exists, as etcd does. A
   * renewal keeps every attached key from being deleted, so it needs `update` on each of them: checked
   * at every renewal, against the keys attached as of a linearizable read.
   */
  async keepAlive(caller: Caller, id: number): Promise<{ id: number; ttl: number; revision: number }> {
    await this.backend.linearizableBarrier();
    for (const key of this.backend.mvcc().lease(id)?.keys ?? []) this.allow(caller, 'update', key);
    try {
      const response = await this.backend.propose({ type: 'leaseKeepAlive', id });
      return { id, ttl: response.type === 'leaseKeepAlive' ? response.ttl : 0, revision: response.revision };
    } catch (error) {
      if (isMvccError(error, 'E_LEASE_NOT_FOUND')) return { id, ttl: 0, revision: this.backend.status().revision };
      throw error;
    }
  }

  async timeToLive(caller: Caller, id: number, withKeys: boolean): Promise<LeaseStatus> {
    await this.backend.linearizableBarrier();
    const lease = this.backend.mvcc().lease(id);
    if (lease === undefined) return { id, ttl: -1, grantedTtl: 0, keys: [] };
    const keys = withKeys ? lease.keys.filter((key) => this.mayGet(caller, key)) : [];
    return { id, ttl: Math.floor(this.backend.leaseRemainingMs(lease) / 1000), grantedTtl: lease.ttl, keys };
  }

  async list(): Promise<number[]> {
    await this.backend.linearizableBarrier();
    return this.backend.mvcc().leases().map((lease) => lease.id);
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
