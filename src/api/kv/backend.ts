/**
 * What the KV API needs from the member: the replica's operations, named here so the API depends on
 * an interface (and tests can hand in a real replica of an in-process cluster).
 * Invariant: the API changes the store only through `propose` (Raft): the local store it is handed
 * (`mvcc()`) is a read-only view, and `readTxn` serves only transactions that write nothing (the store
 * refuses any other), so a handler cannot write around the log.
 */
import type { Alarm, AlarmChange, MemberInfo, Replica, ReplicaStatus } from '../../replication/index.ts';
import type {
  LeaseRecord, MvccStore, RangeOptions, RangeResponse, ReadAccount, TxnRequest, TxnResponse, WriteOp, WriteResponse,
} from '../../storage/mvcc/index.ts';

/**
 * The member's local store as the API may use it: reads at a revision, watches, hashes, the snapshot
 * export, the leases it holds. Not put, deleteRange, txn or compact: applied locally they would bypass Raft.
 */
export type MvccReader = Pick<MvccStore, 'range' | 'watch' | 'hash' | 'currentRevision' | 'compactRevision' | 'exportSnapshot' | 'lease' | 'leases' | 'whenCompacted' | 'pageBytes'>;

const readers = new WeakMap<MvccStore, MvccReader>();

/** The read-only view of `store`, holding nothing else of it (one per store: a snapshot install replaces the store). */
export function readerOf(store: MvccStore): MvccReader {
  let reader = readers.get(store);
  if (reader === undefined) {
    reader = Object.freeze({
      range: store.range.bind(store),
      watch: store.watch.bind(store),
      hash: store.hash.bind(store),
      currentRevision: store.currentRevision.bind(store),
      compactRevision: store.compactRevision.bind(store),
      exportSnapshot: store.exportSnapshot.bind(store),
      lease: store.lease.bind(store),
      leases: store.leases.bind(store),
      whenCompacted: store.whenCompacted.bind(store),
      pageBytes: store.pageBytes.bind(store),
    });
    readers.set(store, reader);
  }
  return reader;
}

export interface KvBackend {
  readonly clusterId: string;
  /** `audit`: the record of the request behind the write, to travel in its Raft entry (../audit-in-entry.ts). */
  propose(op: WriteOp, audit?: string): Promise<WriteResponse>;
  /** `account`: where the read charges what it holds for its caller (held-bytes.ts). */
  range(key: Uint8Array, end: Uint8Array | undefined, options: RangeOptions & { linearizable: boolean; account?: ReadAccount }): Promise<RangeResponse>;
  /**
   * A transaction that writes nothing (isReadOnlyTxn), served by this member's store as `range` serves a
   * read — linearizable unless told otherwise — and never proposed (MvccStore.readTxn).
   */
  readTxn(op: TxnRequest, options: { linearizable: boolean; account?: ReadAccount }): Promise<TxnResponse>;
  linearizableBarrier(): Promise<void>;
  mvcc(): MvccReader;
  /** A lease's remaining TTL in milliseconds (the leader's lessor, else the last checkpoint). */
  leaseRemainingMs(lease: LeaseRecord): number;
  /** The shortest TTL a grant gets, in seconds. */
  leaseTtlMinSeconds(): number;
  status(): ReplicaStatus;
  memberList(): MemberInfo[];
  addMember(request: { name: string; peerUrl: string; clientUrl: string; learner: boolean }): Promise<MemberInfo>;
  promoteMember(id: number): Promise<MemberInfo>;
  removeMember(id: number): Promise<MemberInfo>;
  /** Moves a member to a new peer URL. */
  updateMemberPeerUrl(id: number, peerUrl: string): Promise<MemberInfo>;
  /** False once the replica stopped (shutdown or a fatal error). */
  isServing(): boolean;
  /** Asks the leader to hand leadership to member `id`. */
  transferLeadership(id: number): void;
  /** Bytes the member's store and WAL take on disk. */
  dbSizeBytes(): Promise<number>;
  /** The alarms standing (replication/alarms.ts), and raising or clearing one through Raft. */
  alarms(): Alarm[];
  changeAlarm(change: AlarmChange): Promise<void>;
  /** Rewrites the member's store files to what it holds (etcd's Defragment). */
  defragment(): Promise<void>;
  /** What `coffer status` shows of the member's keys and certificate (absent in tests without them). */
  keysAndCertificate?(): { kekSource: string; activeDekId: number; certificateNotAfter: string };
  /** Why the member cannot go on, if it cannot (fail-stop, removal): reported in status `errors`. */
  problems?(): string[];
}

/** The backend a member's replica provides (the server's wiring, and tests over in-process replicas). */
export function replicaBackend(replica: Replica, options: { clusterId: string; dbSizeBytes: () => Promise<number> }): KvBackend {
  return {
    clusterId: options.clusterId,
    propose: (op, audit) => replica.propose(op, audit),
    range: (key, end, rangeOptions) => replica.range(key, end, rangeOptions),
    readTxn: (op, txnOptions) => replica.readTxn(op, txnOptions),
    linearizableBarrier: () => replica.linearizableBarrier(),
    mvcc: () => readerOf(replica.mvcc()),
    leaseRemainingMs: (lease) => replica.leaseRemainingMs(lease),
    leaseTtlMinSeconds: () => replica.leaseTtlMinSeconds(),
    status: () => replica.status(),
    memberList: () => replica.memberList(),
    addMember: (request) => replica.addMember(request),
    promoteMember: (id) => replica.promoteMember(id),
    removeMember: (id) => replica.removeMember(id),
    updateMemberPeerUrl: (id, peerUrl) => replica.updateMemberPeerUrl(id, peerUrl),
    isServing: () => replica.isServing(),
    transferLeadership: (id) => replica.transferLeadership(id),
    dbSizeBytes: options.dbSizeBytes,
    alarms: () => replica.alarmList(),
    changeAlarm: (change) => replica.changeAlarm(change),
    defragment: () => replica.defragment(),
  };
}
