/**
 * The request and response shapes of the store, modelled on etcd's KV API. Keys and values are bytes
 * (Uint8Array); revisions in responses are main revisions. Range convention: see keys.ts.
 */

export interface KeyValue {
  key: Uint8Array;
  /** Empty when the range asked for keys only. */
  value: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
  /** The lease the key is attached to (0: none); 0 on keys-only reads, which do not open pages. */
  lease: number;
}

export interface RangeOptions {
  /** Read as of this main revision; 0 or absent reads the current revision. */
  revision?: number;
  /** Return at most this many keys (0 or absent: no limit); `count` still counts all. */
  limit?: number;
  keysOnly?: boolean;
  countOnly?: boolean;
}

export interface RangeRequest {
  type: 'range';
  key: Uint8Array;
  end?: Uint8Array;
  options?: RangeOptions;
}

export interface PutRequest {
  type: 'put';
  key: Uint8Array;
  value: Uint8Array;
  /** Return the key-value the put replaced. */
  prevKv?: boolean;
  /** Attach the key to this lease (0 or absent: the key is attached to none, and leaves any it was on). */
  lease?: number;
  /** Keep the key's current lease (the key must exist; `lease` must then be 0). */
  ignoreLease?: boolean;
  /**
   * The user attaching the key (the API sets it for every caller but system:masters): the lease must be
   * this user's, or have no owner, or the put is refused (E_LEASE_NOT_OWNED) and changes nothing.
   */
  ifLeaseOwner?: string;
  /** Keep the key's current value (the key must exist; `value` must then be empty). */
  ignoreValue?: boolean;
}

export interface DeleteRangeRequest {
  type: 'deleteRange';
  key: Uint8Array;
  end?: Uint8Array;
  /** Return the deleted key-values. */
  prevKv?: boolean;
}

export type CompareTarget = 'value' | 'version' | 'createRevision' | 'modRevision' | 'lease';
export type CompareResult = 'equal' | 'notEqual' | 'greater' | 'less';

/**
 * One condition of a transaction on one key. A missing key has version, createRevision and
 * modRevision 0; a compare on the value of a missing key is false (as in etcd).
 */
export interface Compare {
  key: Uint8Array;
  /**
   * Compare every key in [key, end) instead of `key` alone (etcd's range_end; [0x00]: every key from
   * `key`). It holds when every key in the range satisfies it; over no key, as a missing key does.
   */
  end?: Uint8Array;
  target: CompareTarget;
  result: CompareResult;
  /** Bytes for target 'value', a number otherwise. */
  value: Uint8Array | number;
}

/** An operation of a transaction's branch: a read, a write, or a transaction nested in it (etcd 3.3+). */
export type TxnOp = RangeRequest | PutRequest | DeleteRangeRequest | TxnRequest;

/**
 * If every compare holds, `success` runs, else `failure`; either way the whole transaction happens at
 * one revision. A branch may hold transactions: the compares of every level are evaluated against the
 * state before the outermost transaction began, and all of it is one revision (etcd's semantics). No
 * path through the branches may put a key twice, or put a key it also deletes (validate.ts).
 */
export interface TxnRequest {
  type: 'txn';
  compare: Compare[];
  success: TxnOp[];
  failure: TxnOp[];
}

export interface CompactRequest {
  type: 'compact';
  revision: number;
}

/**
 * Grants a lease of `ttl` seconds. `id` 0 asks the store to choose: the first free id from `idFrom`
 * (the replica sets it to the entry's Raft index, so every member chooses the same id). `owner` is the
 * user granting it (the API sets the caller's name): it counts toward that user's leasesPerOwnerMax, and
 * only that user (or system:masters) may attach keys to it, keep it alive, revoke it or read it. Absent in
 * entries written before leases had owners: such a lease is anyone's, as before.
 */
export interface LeaseGrantRequest {
  type: 'leaseGrant';
  id: number;
  ttl: number;
  idFrom?: number;
  owner?: string;
}

/**
 * Revokes a lease: every key attached to it is deleted, in one revision. `ifRefreshes` (expiry by the
 * lessor) makes the revoke a no-op if the lease was kept alive since the lessor saw it expire.
 * `ifKeys` (a caller's revoke: the API checked `delete` on each attached key) names the keys checked
 * (leaseKeysCheck); if the lease holds other keys when the revoke is applied, it is refused
 * (E_LEASE_KEYS_CHANGED) and changes nothing. Both optional: entries written before them still apply.
 */
export interface LeaseRevokeRequest {
  type: 'leaseRevoke';
  id: number;
  ifRefreshes?: number;
  ifKeys?: LeaseKeysCheck;
  /** The user revoking (absent: system:masters, or the lessor's expiry); as PutRequest.ifLeaseOwner. */
  ifOwner?: string;
}

/** The keys attached to a lease, as a revoke checked them: how many, and a SHA-256 over them (leaseKeysCheck). */
export interface LeaseKeysCheck {
  count: number;
  /** Lowercase hex. */
  sha256: string;
}

/** Renews a lease to its full TTL (the remaining TTL recorded is cleared; `refreshes` counts it). */
export interface LeaseKeepAliveRequest {
  type: 'leaseKeepAlive';
  id: number;
  /** The user renewing (absent: system:masters); as PutRequest.ifLeaseOwner. */
  ifOwner?: string;
}

/**
 * Records the remaining TTL of leases, as the leader's lessor measured them, so a new leader starts each
 * lease from it. A checkpoint of a lease kept alive since it was measured (`refreshes` differs), or gone,
 * is skipped.
 */
export interface LeaseCheckpointRequest {
  type: 'leaseCheckpoint';
  checkpoints: { id: number; remainingTtlMs: number; refreshes: number }[];
}

export type LeaseOp = LeaseGrantRequest | LeaseRevokeRequest | LeaseKeepAliveRequest | LeaseCheckpointRequest;

/** An operation a Raft entry carries to the store. */
export type WriteOp = PutRequest | DeleteRangeRequest | TxnRequest | CompactRequest | LeaseOp;

export interface RangeResponse {
  type: 'range';
  kvs: KeyValue[];
  /** Keys in the range at the revision, regardless of `limit`. */
  count: number;
  /** More keys exist beyond `limit`. */
  more: boolean;
  /** The store revision the read was served at (the header revision). */
  revision: number;
}

export interface PutResponse {
  type: 'put';
  /** The store revision after the put. */
  revision: number;
  prevKv?: KeyValue;
}

export interface DeleteRangeResponse {
  type: 'deleteRange';
  revision: number;
  deleted: number;
  prevKvs?: KeyValue[];
}

export interface TxnResponse {
  type: 'txn';
  revision: number;
  succeeded: boolean;
  /** One per operation of the branch that ran, in order; a nested transaction answers with its own TxnResponse. */
  responses: (RangeResponse | PutResponse | DeleteRangeResponse | TxnResponse)[];
}

export interface CompactResponse {
  type: 'compact';
  revision: number;
  compactRevision: number;
}

export interface LeaseGrantResponse {
  type: 'leaseGrant';
  revision: number;
  id: number;
  ttl: number;
}

export interface LeaseRevokeResponse {
  type: 'leaseRevoke';
  revision: number;
  /** False when an expiry found the lease kept alive meanwhile (ifRefreshes) and left it. */
  revoked: boolean;
}

export interface LeaseKeepAliveResponse {
  type: 'leaseKeepAlive';
  revision: number;
  id: number;
  /** The lease's granted TTL in seconds, which it has again. */
  ttl: number;
}

export interface LeaseCheckpointResponse {
  type: 'leaseCheckpoint';
  revision: number;
}

export type LeaseResponse = LeaseGrantResponse | LeaseRevokeResponse | LeaseKeepAliveResponse | LeaseCheckpointResponse;

export type WriteResponse = PutResponse | DeleteRangeResponse | TxnResponse | CompactResponse | LeaseResponse;
