/**
 * replication — the Ready loop that ties the Raft core to the WAL, the MVCC store and the transport:
 * proposals tracked to their results, linearizable reads through batched ReadIndex, membership
 * changes with the member table kept in the store, snapshots sent as the store's logical records
 * (re-sealed by the receiver), WAL compaction behind the applied index (and behind the audit log's
 * durable line), and the audit records that travel in entries handed to the member's log (audit-records.ts).
 * Invariants: see replica.ts — the durability order of a Ready is written there, once.
 */
export {
  type MembershipEvent, Replica, type ReplicaObserver, type ReplicaOptions, type ReplicaStatus, type ReplicaTestingFaults,
} from './replica.ts';
export type { AppliedAuditSink } from './audit-records.ts';
export { ReplicationError, isReplicationError, type ReplicationErrorCode } from './errors.ts';
export { isReservedKey, type MemberInfo, sameMembership } from './members.ts';
export { type Alarm, type AlarmChange, type AlarmType, noSpaceMessage } from './alarms.ts';
