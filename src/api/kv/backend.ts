/**
 * What the KV API needs from the member: the replica's operations, named here so the API depends on
 * an interface (and tests can hand in a real replica of an in-process cluster).
 */
import type { MemberInfo, Replica, ReplicaStatus } from '../../replication/index.ts';
import type { LeaseRecord, MvccStore, RangeOptions, RangeResponse, WriteOp, WriteResponse } from '../../storage/mvcc/index.ts';

export interface KvBackend {
  readonly clusterId: string;
  propose(op: WriteOp): Promise<WriteResponse>;
  range(key: Uint8Array, end: Uint8Array | undefined, options: RangeOptions & { linearizable: boolean }): Promise<RangeResponse>;
  linearizableBarrier(): Promise<void>;
  mvcc(): MvccStore;
  /** A lease's remaining TTL in milliseconds (the leader's lessor, else the last checkpoint). */
  leaseRemainingMs(lease: LeaseRecord): number;
  /** The shortest TTL a grant gets, in seconds. */
  leaseTtlMinSeconds(): number;
  status(): ReplicaStatus;
  memberList(): MemberInfo[];
  addMember(request: { name: string; peerUrl: string; clientUrl: string; learner: boolean }): Promise<MemberInfo>;
  promoteMember(id: number): Promise<MemberInfo>;
  removeMember(id: number): Promise<MemberInfo>;
  /** False once the replica stopped (shutdown or a fatal error). */
  isServing(): boolean;
  /** Asks the leader to hand leadership to member `id`. */
  transferLeadership(id: number): void;
  /** Bytes the member's store and WAL take on disk. */
  dbSizeBytes(): Promise<number>;
  /** What `coffer status` shows of the member's keys and certificate (absent in tests without them). */
  keysAndCertificate?(): { kekSource: string; activeDekId: number; certificateNotAfter: string };
  /** Why the member cannot go on, if it cannot (fail-stop, removal): reported in status `errors`. */
  problems?(): string[];
}

/** The backend a member's replica provides (the server's wiring, and tests over in-process replicas). */
export function replicaBackend(replica: Replica, options: { clusterId: string; dbSizeBytes: () => Promise<number> }): KvBackend {
  return {
    clusterId: options.clusterId,
    propose: (op) => replica.propose(op),
    range: (key, end, rangeOptions) => replica.range(key, end, rangeOptions),
    linearizableBarrier: () => replica.linearizableBarrier(),
    mvcc: () => replica.mvcc(),
    leaseRemainingMs: (lease) => replica.leaseRemainingMs(lease),
    leaseTtlMinSeconds: () => replica.leaseTtlMinSeconds(),
    status: () => replica.status(),
    memberList: () => replica.memberList(),
    addMember: (request) => replica.addMember(request),
    promoteMember: (id) => replica.promoteMember(id),
    removeMember: (id) => replica.removeMember(id),
    isServing: () => replica.isServing(),
    transferLeadership: (id) => replica.transferLeadership(id),
    dbSizeBytes: options.dbSizeBytes,
  };
}
