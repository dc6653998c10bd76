/**
 * storage/mvcc — the encrypted multi-version key-value store every member applies committed Raft
 * entries to (etcd's MVCC model): one global revision counter, per-key generations, range reads at
 * old revisions, transactions, compaction in bounded background steps, watch with replay, HashKV,
 * leases (grant, attach, revoke, keep-alive and checkpoints as replicated operations; time is the
 * lessor's, src/replication/lessor.ts), and snapshot export/import as plaintext logical records
 * re-sealed by the receiver.
 *
 * Invariants: on disk, records are keyed by revision (pages), lease id (lease records) or chunk number
 * (the index checkpoint: index-checkpoint.ts) only and
 * every value is sealed at its position by the handle the barrier gave the store's owner (Sealer,
 * src/storage/barrier) — no key name or value in the clear; the applied Raft index and the current
 * revision are written in the same atomic batch as the pages they describe; a page that fails to open
 * is E_INTEGRITY naming its revision, never wrong data; writers never wait for watchers; a
 * re-encryption step after a DEK rotation (reencryptStep, driven by the barrier's Reencrypter) goes
 * through the same write queue as every write.
 */
export { classicLevel, type Level, type OpenLevel } from './level.ts';
export { MvccStore } from './store.ts';
export type { IndexSource } from './load.ts';
export type { MvccStoreOptions } from './options.ts';
export type { HashResult } from './hash.ts';
export type { SnapshotRecord } from './snapshot-export.ts';
export type { ReencryptStepResult } from './reencrypt.ts';
export type { ApplyResult } from './apply.ts';
export { PageCharge, pageChargeOf, type ReadAccount } from './read-account.ts';
export { MvccError, isMvccError, type MvccErrorCode } from './errors.ts';
export { keyToString, prefixEnd, stringToKey, toSpan } from './keys.ts';
export { checkTxnNesting, checkWriteOp } from './validate.ts';
export { isReadOnlyTxn } from './txn-reads.ts';
export { type LeaseRecord, leaseKeysCheck, ownsLease } from './lease-table.ts';
export type { Page as SnapshotPage } from './page.ts';
export type {
  KeyValue, RangeOptions, RangeRequest, PutRequest, DeleteRangeRequest, Compare, CompareTarget, CompareResult,
  TxnOp, TxnRequest, CompactRequest, WriteOp, RangeResponse, PutResponse, DeleteRangeResponse, TxnResponse,
  CompactResponse, WriteResponse, LeaseGrantRequest, LeaseRevokeRequest, LeaseKeysCheck, LeaseKeepAliveRequest, LeaseCheckpointRequest, LeaseOp,
  LeaseGrantResponse, LeaseRevokeResponse, LeaseKeepAliveResponse, LeaseCheckpointResponse, LeaseResponse,
} from './types.ts';
export type { WatchEvent, WatchResponse, WatchOptions, Watcher } from './watch.ts';
