/**
 * One member's replica: the Raft node, its WAL and its MVCC store, driven by the Ready loop. This is
 * the one place where Raft's host contract is honoured; the order of a Ready's steps is the
 * durability argument of the whole system (docs/architecture.md, "The durability argument"):
 *
 *   1. send rd.messages (Raft allows these before persistence: a leader's appends, heartbeats);
 *   2. install rd.snapshot (the snapshot's store imported beside the current one and made durable,
 *      then the WAL marker, then the swap: see installSnapshot), then append rd.entries and the hard
 *      state to the WAL — one group-committed fdatasync covers them;
 *   3. only then send rd.messagesAfterPersist (votes and append acknowledgements promise durability);
 *   4. apply rd.committedEntries to the store in one atomic batch with the applied index; conf changes
 *      are applied to Raft, and the member table they change is written in that same batch;
 *   5. answer read states, resolve proposals, advance(rd).
 *
 * Batching: proposals and reads that arrive while a Ready is being handled wait in Raft and go out in
 * the next Ready, so one fdatasync, one message and one store batch carry many of them.
 *
 * Invariants: the store applies only entries durable in the WAL (its applied index never passes the
 * WAL's durable last index); a hard state that moves only the commit index is not synced on its own
 * (commit is volatile in Raft: a restart resumes from the store's applied index); the WAL drops an
 * entry only after the store holding its effect was synced to disk; Raft restarts at the store's
 * applied index with the membership the store's member table holds — written in the same batch as that
 * index, so the two agree after any crash, power loss included (the WAL's latest membership may be
 * ahead of a store that lost unsynced batches); a snapshot sent to a follower is the store as of its
 * applied index, with that index, its term and its membership; an entry at or below the store's
 * applied index is never applied to the store twice; a failure of the WAL or the store, from any path
 * that writes them, stops the replica for good (fail-stop): it never carries on with state it cannot
 * trust.
 */
import { join } from 'node:path';
import { assert, type Clock, type Random, type TimerHandle } from '../base/index.ts';
import {
  proposalTimeoutMsDefault, publishTimeoutMs, readIndexRetryMs, snapshotCatchUpEntries, snapshotEveryEntries, tickMsDefault,
} from '../config/index.ts';
import type { Sealer } from '../crypto/index.ts';
import { type DurableFs, exists, mkdirDurably, nodeFs } from '../durable/index.ts';
import {
  CompactedError, type ConfChange, ConfChangeError, type ConfState, type Config, decodeConfChange, encodeConfChange, type Entry, type Message, type NodeId,
  ProposalDroppedError, RawNode, raftConfigDefaults, type Ready, type Snapshot, type SoftState, type Storage, UnavailableError,
} from '../raft/index.ts';
import {
  checkWriteOp, type KeyValue, type LeaseRecord, MvccStore, type OpenLevel, type RangeOptions, type RangeResponse, type ReadAccount, type SnapshotRecord, type TxnRequest,
  type TxnResponse, type WriteOp, type WriteResponse,
} from '../storage/mvcc/index.ts';
import { Wal, type WalResealResult, WalUnusableError } from '../storage/wal/index.ts';
import { type Alarm, type AlarmChange, addsData, alarmKey, alarmRange, decodeAlarm, encodeAlarm, noSpaceMessage } from './alarms.ts';
import type { AppliedAuditSink } from './audit-records.ts';
import { coalesceMessages } from './coalesce.ts';
import { type Command, CommandDecodeError, decodeCommand, encodeCommand } from './command.ts';
import { ReplicationError } from './errors.ts';
import {
  changedMember, checkAllStarted, checkPeerUrlFree, confStateOf, decodeMemberInfo, encodeMemberInfo, type MemberChange, memberKey, memberRange, type MemberInfo,
  sameMembership,
} from './members.ts';
import { Lessor } from './lessor.ts';
import { ReadIndexBatcher } from './read-index.ts';
import { packSnapshot, unpackSnapshot } from './snapshot-codec.ts';
import { AppliedWaiters, KeyedWaiters } from './waiters.ts';

export interface ReplicaOptions {
  /** The member's data dir: the WAL in wal/, the store in mvcc/. */
  dataDir: string;
  memberId: NodeId;
  memberName: string;
  sealer: Sealer;
  /** Time, timers and the scheduling of the Ready loop. */
  clock: Clock;
  /** Raft's randomness, and this incarnation's nonce (request ids, ReadIndex contexts). */
  random: Random;
  /** The file system under the WAL, the store and the store swap (default: the real one). */
  fs?: DurableFs;
  /** The store's database engine (default: classic-level). */
  openLevel?: OpenLevel;
  /** Hands a message to the transport. A message the transport cannot queue must be reported back. */
  send: (message: Message) => void;
  /** For a brand-new cluster: the initial members (ids 1..N), written as the first log entries. */
  initialMembers?: MemberInfo[];
  /** Raft knobs beyond the defaults (ticks, sizes). */
  raft?: Partial<Omit<Config, 'id' | 'applied'>>;
  tickMs?: number;
  proposalTimeoutMs?: number;
  /** WAL compaction: every `everyEntries` applied entries, keeping `catchUpEntries` behind. */
  compaction?: { everyEntries: number; catchUpEntries: number };
  /**
   * The member's audit log will take the records of applied entries (attachAudit): until it is attached,
   * the WAL is not compacted, so a restart cannot drop entries whose records the log has not made durable.
   */
  awaitsAuditLog?: boolean;
  /** Told when the member table changes (peers to dial, the leader's URLs). */
  onMembersChanged?: (members: readonly MemberInfo[]) => void;
  /** Told once this member knows it was removed, whether it applied its removal or a peer told it (learnRemoved). */
  onRemoved?: () => void;
  /** Told when the replica stops on an error it cannot recover from. */
  onFatal?: (error: Error) => void;
  /** Measurements for metrics; every hook is optional. */
  observer?: ReplicaObserver;
  /** Deliberate bugs for the simulator's teeth tests (test/sim/replica/bugs.ts). Never set outside tests. */
  unsafeTestingFaults?: ReplicaTestingFaults;
}

export interface ReplicaTestingFaults {
  /**
   * Persist Raft's membership in the WAL after each conf change and restart Raft with it, as the
   * replica once did: after a power cut the store (not synced per batch) may be behind it, and Raft
   * replays conf changes onto a later membership.
   */
  confStateAheadOfStore?: boolean;
  /**
   * Hand the audit log only the records of entries applied while it is attached and taking records, as
   * a first cut of records in entries did: a log closed (a crash) or failed when entries were applied
   * never gets their records.
   */
  auditRecordsNotReplayed?: boolean;
}

export interface ReplicaObserver {
  leaderChanged?: (leader: NodeId) => void;
  /** The membership as of an applied index: at open, after each conf change, after a snapshot install. */
  membership?: (event: MembershipEvent) => void;
  proposal?: (outcome: 'committed' | 'failed') => void;
  walFsync?: (seconds: number) => void;
  storeCommit?: (seconds: number) => void;
}

export interface MembershipEvent {
  index: number;
  confState: ConfState;
  cause: 'open' | 'confChange' | 'snapshot';
}

export interface ReplicaStatus {
  memberId: NodeId;
  name: string;
  leader: NodeId;
  role: SoftState['role'];
  term: number;
  commitIndex: number;
  raftIndex: number;
  appliedIndex: number;
  revision: number;
  compactRevision: number;
  /** The index of the WAL's latest snapshot (installed from the leader or taken to compact). */
  snapshotIndex: number;
  removed: boolean;
}

interface MembershipContext {
  requestId: string;
  member: MemberInfo;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Replica {
  private readonly proposals: KeyedWaiters<WriteResponse>;
  private readonly confChanges: KeyedWaiters<MemberInfo>;
  private readonly appliedWaiters: AppliedWaiters;
  private readonly reads: ReadIndexBatcher;
  private readonly lessor: Lessor;
  private readonly bootNonce: string;
  private readonly fs: DurableFs;
  private sequence = 0;
  private soft: SoftState = { leader: 0, role: 'follower' };
  /** Told once another member leads (handOffLeadership waits for it). */
  private leadershipGone: (() => void)[] = [];
  private members = new Map<NodeId, MemberInfo>();
  /** The alarms standing as of the applied index, by `<member id>/<alarm>` (alarms.ts). */
  private alarms = new Map<string, Alarm>();
  private ticker: TimerHandle | undefined;
  private processing = false;
  private stopped: ReplicationError | undefined;
  private removed = false;
  private idle: Promise<void> = Promise.resolve();
  /** Whether the election ticks were advanced after open (advanceElectionTicks). */
  private electionTicksAdvanced = false;
  /** The WAL's latest snapshot index. Invariant: it only grows, and never passes the store's applied index. */
  private lastSnapshotIndex: number;
  /** Snapshots from the leader being imported and swapped in now (installingSnapshot). */
  private snapshotsInstalling = 0;
  /** The WAL's last index as of its last durable write. Invariant: the store's applied index never passes it. */
  private persistedThrough: number;
  /**
   * The membership after each conf change applied since open (the first entry: as of the applied index
   * at open), so a snapshot or a WAL compaction at an index can name the membership as of that index.
   * Entries older than the last one at or below the WAL's snapshot index are dropped.
   */
  private confHistory: { index: number; confState: ConfState }[];
  /** The member's audit log, once it is open (attachAudit); absent, entries' records wait in the WAL. */
  private auditSink: AppliedAuditSink | undefined;
  /** The newest entry index whose record was handed to the audit sink, or would have been (apply, snapshot). */
  private auditHandedThrough: number;
  /** Raft's limit on the entries of one append, kept by the messages coalesceMessages merges. */
  private readonly maxMsgBytes: number;

  private constructor(
    private readonly options: ReplicaOptions,
    private readonly raw: RawNode,
    private readonly wal: Wal,
    private store: MvccStore,
    confState: ConfState,
  ) {
    this.proposals = new KeyedWaiters(options.clock, 'proposal');
    this.confChanges = new KeyedWaiters(options.clock, 'membership change');
    this.appliedWaiters = new AppliedWaiters(options.clock);
    this.bootNonce = bootNonceOf(options.random);
    this.fs = options.fs ?? nodeFs;
    this.maxMsgBytes = options.raft?.maxMsgBytes ?? raftConfigDefaults.maxMsgBytes;
    this.reads = new ReadIndexBatcher({ requestReadIndex: (ctx) => this.raw.readIndex(ctx) }, options.clock, readIndexRetryMs, this.bootNonce);
    this.lastSnapshotIndex = wal.snapshot().metadata.index;
    this.persistedThrough = wal.lastIndex();
    this.confHistory = [{ index: store.appliedIndex(), confState }];
    this.auditHandedThrough = store.appliedIndex();
    const tickMs = options.tickMs ?? tickMsDefault;
    this.lessor = new Lessor({
      clock: options.clock,
      isLeader: () => this.stopped === undefined && !this.removed && this.soft.role === 'leader',
      barrier: () => this.linearizableBarrier(),
      propose: (op) => this.propose(op),
      leases: () => this.store.leases(),
    }, { electionTimeoutMs: (options.raft?.electionTicks ?? raftConfigDefaults.electionTicks) * tickMs, tickMs });
  }

  /** Opens (or bootstraps) the replica and starts its clock. */
  static async open(options: ReplicaOptions): Promise<Replica> {
    const walDir = join(options.dataDir, 'wal');
    const storeDir = join(options.dataDir, 'mvcc');
    const fs = options.fs ?? nodeFs;
    const faults = options.unsafeTestingFaults ?? {};
    await mkdirDurably(options.dataDir, { mode: 0o700, fs });
    const wal = await Wal.open({
      dir: walDir,
      sealer: options.sealer,
      storeId: `${options.memberName}/wal`,
      raftErrors: {
        compacted: (index, first) => new CompactedError(index, first),
        unavailable: (index, last) => new UnavailableError(index, last),
      },
      ...(options.observer?.walFsync ? { onFsync: options.observer.walFsync } : {}),
      fs,
      clock: options.clock,
    });
    let store: MvccStore | undefined;
    // A store failure anywhere (a sync, a compaction, a re-encryption) stops the replica at once.
    let opened: Replica | undefined;
    try {
      await recoverStoreSwap(fs, options, wal.snapshot().metadata.index);
      store = await MvccStore.open({ dir: storeDir, ...storeOptions(options), onFailure: (error) => opened?.fail(error) });
      // LevelDB creates its dir with a plain mkdir: make the store's name in the data dir durable.
      await fs.fsyncDir(options.dataDir);
      if (wal.lastIndex() === 0 && wal.initialState().hardState.term === 0 && options.initialMembers !== undefined) {
        await bootstrapLog(wal, options.initialMembers);
      }
      const snapshotIndex = wal.snapshot().metadata.index;
      const applied = store.appliedIndex();
      if (applied < snapshotIndex || applied > wal.lastIndex()) {
        throw new ReplicationError('E_STOPPED', `store applied index ${applied} is outside [${snapshotIndex}, ${wal.lastIndex()}] ` +
          '(the WAL snapshot and last indexes); the data dir is damaged');
      }
      const members = await readRecords(store, memberRange, decodeMemberInfo);
      const confState = faults.confStateAheadOfStore === true ? wal.initialState().confState : confStateOf(members);
      const raw = new RawNode({ ...raftConfigDefaults, ...options.raft, id: options.memberId, applied }, withConfState(wal, confState, applied), options.random);
      const replica = new Replica(options, raw, wal, store, confState);
      opened = replica;
      options.observer?.membership?.({ index: applied, confState: raw.status().confState, cause: 'open' });
      replica.setMembers(members);
      replica.setAlarms(await readRecords(store, alarmRange, decodeAlarm));
      replica.startTicking();
      replica.kick();
      return replica;
    } catch (error) {
      await store?.close();
      await wal.close();
      throw error;
    }
  }

  // ── Writes ─────────────────────────────────────────────────────────────────────────────────────

  /**
   * Replicates one write and resolves with its result once this member applied it. `audit` is the
   * audit record of the request behind the write: it travels in the entry (audit-records.ts).
   */
  async propose(op: WriteOp, audit?: string): Promise<WriteResponse> {
    this.checkServing();
    checkWriteOp(op);
    return this.proposeCommand({ requestId: this.nextRequestId(), op, ...(audit !== undefined ? { audit } : {}) });
  }

  // ── Audit records in entries ───────────────────────────────────────────────────────────────────

  /**
   * Hands the records of applied entries to `sink` from now on, after those it has not taken yet
   * (replayAudit). Called once the member's audit log is open.
   */
  attachAudit(sink: AppliedAuditSink): void {
    this.auditSink = sink;
    this.replayAudit();
  }

  /**
   * The newest entry whose record this member's audit log can hold, for the log to check at open
   * (AuditLog's entryMax): an entry is durable in the WAL before it is applied (or, from a snapshot,
   * before the sink is told it was skipped) and a committed one is never taken back, so no entry the
   * log took in any earlier run is beyond the WAL's last index. Not the store's applied index: the
   * store is not synced per batch, so after a power loss it may be behind what the log took.
   */
  auditEntryMax(): number {
    return this.wal.lastIndex();
  }

  /**
   * Hands the sink, in index order, the records of the entries handed (or applied) after the newest it
   * took: at attach, and after the sink lost records it had not made durable (it came back from a
   * failure). Those entries are still in the WAL (maybeCompactLog waits for the sink); any the WAL no
   * longer holds (a snapshot reached the store first) are named as skipped. Synchronous, so no entry
   * applied meanwhile can overtake the ones replayed.
   */
  replayAudit(): void {
    const sink = this.auditSink;
    if (sink === undefined || this.options.unsafeTestingFaults?.auditRecordsNotReplayed === true) return;
    const after = sink.takenThrough();
    const through = this.auditHandedThrough;
    if (after >= through) return;
    const first = this.wal.firstIndex();
    if (after + 1 < first) sink.skipped(after + 1, Math.min(first - 1, through));
    const lo = Math.max(after + 1, first);
    if (lo <= through) {
      for (const entry of this.wal.entries(lo, through + 1, Number.POSITIVE_INFINITY)) {
        if (entry.type === 'normal' && entry.data.length > 0) sink.applied(entry.index, commandOf(entry.data)?.audit);
      }
    }
    sink.applied(through, undefined);
  }

  private proposeCommand(command: Command): Promise<WriteResponse> {
    const result = this.proposals.wait(command.requestId, this.proposalTimeoutMs());
    try {
      this.raw.propose(encodeCommand(command));
    } catch (error) {
      this.proposals.reject(command.requestId, proposalRefused(error));
    }
    this.kick();
    const observer = this.options.observer;
    if (observer?.proposal) result.then(() => observer.proposal?.('committed'), () => observer.proposal?.('failed'));
    return result;
  }

  /** Rewrites the store's files to what it holds (etcd's Defragment; MvccStore.defragment). */
  defragment(): Promise<void> {
    this.checkServing();
    return this.store.defragment();
  }

  /** The alarms standing as of this member's applied index. */
  alarmList(): Alarm[] {
    return [...this.alarms.values()].sort((a, b) => a.memberId - b.memberId);
  }

  /** Raises or clears an alarm through Raft; resolves once this member applied the change. */
  async changeAlarm(change: AlarmChange): Promise<void> {
    this.checkServing();
    await this.proposeCommand({ requestId: this.nextRequestId(), alarm: { action: change.action, memberId: change.memberId, alarm: change.alarm } });
  }

  // ── Reads ──────────────────────────────────────────────────────────────────────────────────────

  /** Waits until this member has applied everything committed before the call (ReadIndex). */
  async linearizableBarrier(): Promise<void> {
    this.checkServing();
    const timeoutMs = this.proposalTimeoutMs();
    const readIndexPromise = this.reads.readIndex(timeoutMs);
    this.kick();
    const readIndex = await readIndexPromise;
    await this.appliedWaiters.wait(readIndex, this.store.appliedIndex(), timeoutMs);
  }

  /** `account`: where a client's read charges what it holds (MvccStore.range). */
  async range(key: Uint8Array, end: Uint8Array | undefined, options: RangeOptions & { linearizable: boolean; account?: ReadAccount }): Promise<RangeResponse> {
    if (options.linearizable) await this.linearizableBarrier();
    else this.checkServing();
    const { revision, limit, keysOnly, countOnly } = options;
    return this.store.range(key, end, { revision, limit, keysOnly, countOnly }, options.account);
  }

  /**
   * A transaction that writes nothing, served from this member's store as `range` serves a read (etcd's
   * read-only Txn: never proposed): after the ReadIndex round unless `linearizable` is false.
   */
  async readTxn(op: TxnRequest, options: { linearizable: boolean; account?: ReadAccount }): Promise<TxnResponse> {
    if (options.linearizable) await this.linearizableBarrier();
    else this.checkServing();
    return this.store.readTxn(op, options.account);
  }

  /** The remaining TTL of a lease the store holds, in milliseconds: the leader's deadline, else the last checkpoint's. */
  leaseRemainingMs(lease: LeaseRecord): number {
    return this.lessor.remainingMs(lease);
  }

  /** The shortest TTL a lease is granted, in seconds (derived from the election timeout, as etcd does). */
  leaseTtlMinSeconds(): number {
    return this.lessor.ttlMinSeconds;
  }

  /** The store, for watches and hashes; reads through it are serializable. */
  mvcc(): MvccStore {
    return this.store;
  }

  /** After a DEK rotation: moves every WAL record and snapshot file onto the active DEK (Wal.resealToActiveDek). */
  async resealWal(): Promise<WalResealResult> {
    if (this.stopped) throw this.stopped;
    try {
      return await this.wal.resealToActiveDek();
    } catch (error) {
      // The re-seal wrote to the WAL (it rolls the tail): a failed write there stops the member, as
      // one from the Ready loop does. A re-sealed file that could not be written changes nothing.
      if (error instanceof WalUnusableError) this.fail(error);
      throw error;
    }
  }

  // ── Membership and leadership ──────────────────────────────────────────────────────────────────

  memberList(): MemberInfo[] {
    return [...this.members.values()].sort((a, b) => a.id - b.id);
  }

  /**
   * Adds a member (a learner or a voter). Without a name (etcd's MemberAdd) the member is an unnamed slot
   * until the member certificate that joins as its id binds it (bindMember).
   */
  async addMember(request: { name: string; peerUrl: string; clientUrl: string; learner: boolean }): Promise<MemberInfo> {
    await this.linearizableBarrier();
    const all = this.memberList();
    if (request.name !== '' && all.some((m) => !m.removed && m.name === request.name)) {
      throw new ReplicationError('E_BAD_REQUEST', `a member named ${JSON.stringify(request.name)} already exists`);
    }
    checkPeerUrlFree(all, request.peerUrl);
    checkAllStarted(all);
    // Ids are never reused: one past every id ever given, removed members included.
    const id = all.reduce((max, m) => Math.max(max, m.id), 0) + 1;
    const member: MemberInfo = { id, name: request.name, peerUrl: request.peerUrl, clientUrl: request.clientUrl, learner: request.learner, removed: false };
    return this.changeMembership({ type: request.learner ? 'addLearner' : 'addNode', nodeId: id }, member);
  }

  async promoteMember(id: NodeId): Promise<MemberInfo> {
    await this.linearizableBarrier();
    const member = this.existingMember(id);
    if (!member.learner) throw new ReplicationError('E_BAD_REQUEST', `member ${id} (${member.name}) is already a voter`);
    if (!this.learnerCaughtUp(id)) throw new ReplicationError('E_BAD_REQUEST', learnerNotReady);
    return this.changeMembership({ type: 'addNode', nodeId: id }, { ...member, learner: false });
  }

  /**
   * Whether the leader has seen learner `id` catch up: a learner far behind would stall commits the
   * moment it votes, so, as etcd, only a caught-up one is promoted. Only the leader sees a learner's
   * progress; elsewhere this is true, and the leader decides when the proposal reaches it (decideForwarded).
   */
  private learnerCaughtUp(id: NodeId): boolean {
    const status = this.raw.status();
    const progress = status.progress?.get(id);
    return progress === undefined || progress.match >= status.hardState.commit * promoteMatchFraction;
  }

  /**
   * A proposal a follower forwarded, as the leader takes it: a learner's promotion the leader refuses
   * (learnerCaughtUp) becomes an entry carrying the refusal, so the proposer learns why when it applies
   * it, and the membership stays as it is.
   */
  private decideForwarded(message: Message): Message {
    if (message.type !== 'prop' || !message.entries.some((e) => e.type === 'confChange')) return message;
    const entries = message.entries.map((entry): Entry => {
      if (entry.type !== 'confChange') return entry;
      const cc = decodeConfChange(entry.data);
      const context = decodeMembershipContext(cc);
      const promotion = cc.type === 'addNode' && this.members.get(cc.nodeId)?.learner === true;
      if (context === undefined || !promotion || this.learnerCaughtUp(cc.nodeId)) return entry;
      return { ...entry, type: 'normal', data: encodeCommand({ requestId: context.requestId, refused: learnerNotReady }) };
    });
    return { ...message, entries };
  }

  async removeMember(id: NodeId): Promise<MemberInfo> {
    await this.linearizableBarrier();
    const member = this.existingMember(id);
    return this.changeMembership({ type: 'removeNode', nodeId: id }, { ...member, removed: true });
  }

  /**
   * Binds `name` (a member certificate's) to the unnamed slot `id`, once: the change is checked where it
   * is applied (changedMember), so of two certificates racing for one slot only the first binds it.
   */
  bindMember(id: NodeId, name: string): Promise<MemberInfo> {
    return this.changeMember({ id, name });
  }

  /** Moves member `id` to a new peer URL (etcd's MemberUpdate); every member's links re-dial it. */
  updateMemberPeerUrl(id: NodeId, peerUrl: string): Promise<MemberInfo> {
    return this.changeMember({ id, peerUrl });
  }

  /** A member record change through Raft: refused early when it cannot apply now, decided where it is applied. */
  private async changeMember(change: MemberChange): Promise<MemberInfo> {
    await this.linearizableBarrier();
    changedMember(this.memberList(), change);
    await this.proposeCommand({ requestId: this.nextRequestId(), member: change });
    return this.existingMember(change.id);
  }

  private existingMember(id: NodeId): MemberInfo {
    const member = this.members.get(id);
    if (member === undefined || member.removed) throw new ReplicationError('E_MEMBER_NOT_FOUND', 'etcdserver: member not found');
    return member;
  }

  /**
   * Records this member's own URLs in the member table (the bootstrap entries carry names only). It
   * is a conf change that keeps the membership as it is and carries the new record, so every member
   * updates its table at the same log index.
   */
  async publishSelf(urls: { peerUrl: string; clientUrl: string }): Promise<MemberInfo> {
    await this.linearizableBarrier();
    const self = this.members.get(this.options.memberId);
    if (self === undefined) throw new ReplicationError('E_BAD_REQUEST', `member ${this.options.memberId} is not in the member table yet`);
    if (self.peerUrl === urls.peerUrl && self.clientUrl === urls.clientUrl) return self;
    // Short timeout: a leader drops a forwarded change while another is pending; the caller retries.
    return this.changeMembership({ type: self.learner ? 'addLearner' : 'addNode', nodeId: self.id }, { ...self, ...urls }, publishTimeoutMs);
  }

  transferLeadership(to: NodeId): void {
    this.checkServing();
    if (!this.members.has(to)) throw new ReplicationError('E_BAD_REQUEST', `etcdserver: bad leader transferee: member ${to} does not exist`);
    this.raw.transferLeader(to);
    this.kick();
  }

  /**
   * Before a graceful stop: if this member leads, hands leadership to the voter most caught up and waits
   * (at most `timeoutMs`) until another member leads, as etcd's server does. Otherwise the others sit out an
   * election timeout, and a write a follower forwarded here meanwhile is lost until its caller's timeout
   * (`coffer secret create` right after the leader stopped did not answer in time). A no-op unless this
   * member leads and another voter exists. Resolves with the member that leads once another does,
   * undefined if there was no voter to hand to or the time ran out.
   */
  async handOffLeadership(timeoutMs: number): Promise<NodeId | undefined> {
    if (!this.isServing() || this.soft.role !== 'leader') return undefined;
    let target = 0;
    let targetMatch = -1;
    for (const [id, progress] of this.raw.status().progress ?? []) {
      const member = this.members.get(id);
      if (id === this.options.memberId || member === undefined || member.learner || member.removed || progress.match <= targetMatch) continue;
      target = id;
      targetMatch = progress.match;
    }
    if (target === 0) return undefined;
    await new Promise<void>((resolve) => {
      const timer = this.options.clock.setTimer(timeoutMs, resolve);
      this.leadershipGone.push(() => {
        timer.cancel();
        resolve();
      });
      this.raw.transferLeader(target);
      this.kick();
    });
    const leader = this.soft.leader;
    return leader !== 0 && leader !== this.options.memberId ? leader : undefined;
  }

  // ── Transport ──────────────────────────────────────────────────────────────────────────────────

  /** A message from a peer. */
  /**
   * A peer that applied this member's removal says so (its listener's removed frame, peer-mesh.ts). The
   * removal committed, but this member may never apply it — the leader stops replicating to a member once
   * it has applied the removal, possibly before the member learned it committed — so it serves no more
   * from now, as if it had applied it; its own store keeps the member table it has.
   */
  learnRemoved(): void {
    if (this.stopped || this.removed) return;
    this.removed = true;
    this.options.onRemoved?.();
  }

  receive(message: Message): void {
    if (this.stopped) return;
    // A removed member may not know it was removed (the leader stops replicating to it), and would go
    // on forwarding proposals and campaigning: nothing it sends is taken any more, as in etcd.
    if (this.members.get(message.from)?.removed === true) return;
    // A message for another member (a peer's mistake, or a forgery) is not stepped as if it were ours.
    if (message.to !== this.options.memberId) return;
    this.raw.step(this.decideForwarded(message));
    this.kick();
  }

  /** The transport could not deliver to `id`. */
  reportUnreachable(id: NodeId, message?: Message): void {
    if (this.stopped) return;
    this.raw.reportUnreachable(id);
    if (message?.type === 'snap') this.raw.reportSnapshot(id, false);
    this.kick();
  }

  // ── Status and life cycle ──────────────────────────────────────────────────────────────────────

  status(): ReplicaStatus {
    // Read for every response's header: the basic status, without the leader's progress map.
    const status = this.raw.basicStatus();
    return {
      memberId: this.options.memberId,
      name: this.options.memberName,
      leader: status.softState.leader,
      role: status.softState.role,
      term: status.hardState.term,
      commitIndex: status.hardState.commit,
      raftIndex: this.wal.lastIndex(),
      appliedIndex: this.store.appliedIndex(),
      revision: this.store.currentRevision(),
      compactRevision: this.store.compactRevision(),
      snapshotIndex: this.lastSnapshotIndex,
      removed: this.removed,
    };
  }

  /** False once the replica stopped (shutdown or a fatal error). */
  isServing(): boolean {
    return this.stopped === undefined;
  }

  /**
   * Stops ticking, lets the Ready being handled finish, fails waiters, compacts the WAL as far as a
   * running member would (unless the replica failed: nothing more is written then), closes the store and the WAL.
   */
  async close(): Promise<void> {
    const failed = this.stopped !== undefined;
    if (this.stopped === undefined) this.stopped = new ReplicationError('E_STOPPED', 'the member is shutting down');
    this.ticker?.cancel();
    await this.idle;
    this.failWaiters(this.stopped);
    try {
      // The next open recovers the entries since the last compaction: at a clean stop, compact every entry
      // catchUpEntries behind the applied index rather than waiting for the next everyEntries.
      if (!failed) await this.maybeCompactLog(1);
    } finally {
      await this.store.close();
      await this.wal.close();
    }
  }

  // ── The Ready loop ─────────────────────────────────────────────────────────────────────────────

  /**
   * Schedules the loop as a microtask: it runs once the caller's synchronous work is done, before the
   * event loop takes its next I/O callback, so a proposal's synced WAL write and its appends start in the
   * turn that made it rather than after every other callback of that turn (setImmediate). Work that
   * arrives while a Ready is handled (its synced write in the thread pool) joins the next Ready
   * (batching). Not the clock's `defer`: a microtask is not time, and runs in the same order in the
   * simulator as in a member. Measured: docs/performance.md, "The Ready loop started at once".
   */
  private kick(): void {
    if (this.processing || this.stopped) return;
    this.processing = true;
    this.idle = new Promise<void>((resolve) => {
      queueMicrotask(() => {
        void this.drain().finally(() => {
          this.processing = false;
          resolve();
          if (!this.stopped && this.raw.hasReady()) this.kick();
        });
      });
    });
  }

  private async drain(): Promise<void> {
    try {
      while (!this.stopped && this.raw.hasReady()) {
        const rd = this.raw.ready();
        await this.handle(rd);
        this.raw.advance(rd);
        await this.maybeCompactLog();
      }
      // Once, after the Readies at open: a new cluster's first Ready applies the conf changes that make its voters.
      if (!this.electionTicksAdvanced) {
        this.electionTicksAdvanced = true;
        this.advanceElectionTicks();
      }
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private async handle(rd: Ready): Promise<void> {
    if (rd.softState) {
      if (rd.softState.leader !== this.soft.leader) this.options.observer?.leaderChanged?.(rd.softState.leader);
      this.soft = rd.softState;
      if (rd.softState.role !== 'leader' && rd.softState.leader !== 0) for (const gone of this.leadershipGone.splice(0)) gone();
    }
    for (const m of coalesceMessages(rd.messages, this.maxMsgBytes)) this.sendMessage(m);
    if (rd.snapshot) await this.installSnapshot(rd.snapshot);
    const durable: Promise<unknown>[] = [];
    if (rd.entries.length > 0) durable.push(this.wal.append(rd.entries));
    if (rd.hardState) {
      // A commit index that moved alone waits for the next record instead of a synced write of its own
      // (one per put on the leader); with entries it rides in their write.
      if (rd.entries.length === 0 && this.wal.movesOnlyCommit(rd.hardState)) this.wal.noteCommit(rd.hardState);
      else durable.push(this.wal.setHardState(rd.hardState));
    }
    await Promise.all(durable);
    this.persistedThrough = this.wal.lastIndex();
    for (const m of coalesceMessages(rd.messagesAfterPersist, this.maxMsgBytes)) this.sendMessage(m);
    if (rd.committedEntries.length > 0) await this.apply(rd.committedEntries);
    for (const rs of rd.readStates) this.reads.answered(rs.requestCtx, rs.index);
  }

  private async apply(entries: readonly Entry[]): Promise<void> {
    const storeApplied = this.store.appliedIndex();
    const lastIndex = entries[entries.length - 1]!.index;
    // Committed entries continue the store's applied index (no gap), and only entries durable in the
    // WAL reach the store.
    assert(entries[0]!.index <= storeApplied + 1, `committed entries start at ${entries[0]!.index}, after the store's applied index ${storeApplied} + 1`);
    assert(lastIndex <= this.persistedThrough, `entry ${lastIndex} is applied before it is durable in the WAL (durable through ${this.persistedThrough})`);
    const ops: WriteOp[] = [];
    const owners: (string | undefined)[] = [];
    const membershipDone: MembershipContext[] = [];
    let recordsChanged = false;
    for (const entry of entries) {
      if (entry.type === 'confChange') {
        const cc = decodeConfChange(entry.data);
        const confState = this.raw.applyConfChange(cc);
        if (this.options.unsafeTestingFaults?.confStateAheadOfStore === true) await this.wal.setConfState(confState);
        this.rememberConfState(entry.index, confState);
        this.options.observer?.membership?.({ index: entry.index, confState, cause: 'confChange' });
        const decoded = decodeMembershipContext(cc);
        const context = decoded && { ...decoded, member: this.withKeptName(decoded.member) };
        if (context !== undefined && entry.index > storeApplied) {
          ops.push({ type: 'put', key: memberKey(context.member.id), value: encodeMemberInfo(context.member) });
          owners.push(undefined);
          membershipDone.push(context);
        }
        this.applyMembership(cc, confState, context?.member);
      } else if (entry.data.length > 0 && entry.index > storeApplied) {
        const command = commandOf(entry.data);
        if (command === undefined) {
          // Not a command: no member makes one, but one forwarded (a bug, a member encoding commands
          // otherwise, a stolen member certificate) or appended by a leader is committed like any entry.
          // Every member holds the same bytes, so every member skips it alike; stopping at it would stop
          // them all, at every restart too.
          this.auditSink?.applied(entry.index, undefined);
          continue;
        }
        // Before the change is visible: the log holds the request before anything it caused.
        if (command.audit !== undefined) this.auditSink?.applied(entry.index, command.audit);
        if (command.refused !== undefined) {
          this.confChanges.reject(command.requestId, new ReplicationError('E_BAD_REQUEST', command.refused));
          continue;
        }
        if (command.member !== undefined) {
          const member = this.applyMemberChange(command.requestId, command.member);
          if (member === undefined) continue;
          ops.push({ type: 'put', key: memberKey(member.id), value: encodeMemberInfo(member) });
          owners.push(command.requestId);
          recordsChanged = true;
          continue;
        }
        if (command.alarm !== undefined) {
          ops.push(this.applyAlarmChange(command.alarm));
          owners.push(command.requestId);
          continue;
        }
        if (this.alarms.size > 0 && addsData(command.op)) {
          this.proposals.reject(command.requestId, new ReplicationError('E_NO_SPACE', noSpaceMessage));
          continue;
        }
        // A lease the server names gets an id from the entry's index: the same on every member.
        ops.push(command.op.type === 'leaseGrant' && command.op.id === 0 ? { ...command.op, idFrom: entry.index } : command.op);
        owners.push(command.requestId);
      }
    }
    if (lastIndex > storeApplied) {
      this.auditHandedThrough = lastIndex;
      this.auditSink?.applied(lastIndex, undefined);
      const results = await this.store.applyBatch(lastIndex, ops);
      assert(results.length === ops.length, 'one apply result per operation');
      assert(this.store.appliedIndex() === lastIndex, `the store's applied index is ${this.store.appliedIndex()} after applying up to ${lastIndex}`);
      results.forEach((result, i) => {
        const owner = owners[i];
        if (owner === undefined) return;
        if (result.ok) this.proposals.resolve(owner, result.response);
        else this.proposals.reject(owner, result.error);
      });
    }
    for (const context of membershipDone) this.confChanges.resolve(context.requestId, context.member);
    if (recordsChanged) this.options.onMembersChanged?.(this.memberList());
    this.appliedWaiters.applied(this.store.appliedIndex());
  }

  /** The record a member change makes, set in the table; undefined (and its proposer told why) when refused. */
  private applyMemberChange(requestId: string, change: MemberChange): MemberInfo | undefined {
    let member: MemberInfo;
    try {
      member = changedMember(this.memberList(), change);
    } catch (error) {
      this.proposals.reject(requestId, error instanceof Error ? error : new Error(String(error)));
      return undefined;
    }
    this.members.set(member.id, member);
    return member;
  }

  /** The store write an alarm change makes, the standing alarms updated in entry order (alarms.ts). */
  private applyAlarmChange(change: AlarmChange): WriteOp {
    const alarm: Alarm = { memberId: change.memberId, alarm: change.alarm };
    const id = `${alarm.memberId}/${alarm.alarm}`;
    if (change.action === 'activate') {
      this.alarms.set(id, alarm);
      return { type: 'put', key: alarmKey(alarm), value: encodeAlarm(alarm) };
    }
    this.alarms.delete(id);
    return { type: 'deleteRange', key: alarmKey(alarm) };
  }

  private setAlarms(alarms: readonly Alarm[]): void {
    this.alarms = new Map(alarms.map((alarm) => [`${alarm.memberId}/${alarm.alarm}`, alarm]));
  }

  /** A conf change's record never renames a member: a name, once bound, is kept (members.ts). */
  private withKeptName(member: MemberInfo): MemberInfo {
    const known = this.members.get(member.id);
    return known !== undefined && known.name !== '' ? { ...member, name: known.name } : member;
  }

  private applyMembership(cc: ConfChange, confState: ConfState, member: MemberInfo | undefined): void {
    if (member !== undefined) this.members.set(member.id, member);
    else if (cc.type === 'removeNode') {
      const known = this.members.get(cc.nodeId);
      if (known) this.members.set(cc.nodeId, { ...known, removed: true });
    }
    const self = this.options.memberId;
    if (cc.type === 'removeNode' && cc.nodeId === self) this.removed = true;
    if (this.removed) this.options.onRemoved?.();
    assert(!confState.voters.includes(self) || !this.removed, 'a removed member is not a voter');
    // Invariant: the member table (written in the store's batch) describes Raft's membership exactly.
    assert(sameMembership(confStateOf(this.memberList()), confState),
      `the member table describes ${JSON.stringify(confStateOf(this.memberList()))}, Raft's membership is ${JSON.stringify(confState)}`);
    this.options.onMembersChanged?.(this.memberList());
  }

  /** Whether a snapshot from the leader is being imported to replace the store (MemberKeys' storeArriving). */
  installingSnapshot(): boolean {
    return this.snapshotsInstalling > 0;
  }

  /**
   * Installs a snapshot from the leader, in etcd's order, so that a crash at any step (power loss
   * included) leaves either the old state or a state the next open completes (recoverStoreSwap):
   *   1. the snapshot's store is imported into mvcc.incoming, synced, and its name made durable;
   *   2. the WAL marker is written (durable): from here on, open() finishes the swap;
   *   3. the swap: mvcc → mvcc.old, mvcc.incoming → mvcc, directory fsync, mvcc.old removed.
   * The snapshot's index is the imported store's applied index (sendMessage), so Raft and the store
   * agree on it from the start.
   */
  private async installSnapshot(snapshot: Snapshot): Promise<void> {
    this.snapshotsInstalling++;
    try {
      await this.importAndSwap(snapshot);
    } finally {
      this.snapshotsInstalling--;
    }
  }

  private async importAndSwap(snapshot: Snapshot): Promise<void> {
    const { dataDir } = this.options;
    // Raft installs only a snapshot beyond its commit index, which the store's applied index never passes.
    assert(snapshot.metadata.index > this.store.appliedIndex() && snapshot.metadata.index > this.lastSnapshotIndex,
      `snapshot at ${snapshot.metadata.index} is not beyond the applied index ${this.store.appliedIndex()} and the WAL's snapshot ${this.lastSnapshotIndex}`);
    const incoming = join(dataDir, 'mvcc.incoming');
    await this.fs.rm(incoming, { recursive: true, force: true });
    const imported = await MvccStore.importSnapshot({ ...storeOptions(this.options), dir: incoming, records: unpackSnapshot(snapshot.data) });
    const importedIndex = imported.appliedIndex();
    await imported.close();
    if (importedIndex !== snapshot.metadata.index) {
      throw new ReplicationError('E_STOPPED', `a snapshot at index ${snapshot.metadata.index} holds a store at applied index ${importedIndex}`);
    }
    await this.fs.fsyncDir(dataDir);
    // The WAL keeps only the metadata: the store is the snapshot's state.
    await this.wal.saveSnapshot({ metadata: snapshot.metadata, data: new Uint8Array(0) });
    // The store the snapshot replaces is deleted by the swap: no index checkpoint for it.
    await this.store.close({ replaced: true });
    await swapInIncomingStore(this.fs, dataDir);
    this.store = await MvccStore.open({ ...storeOptions(this.options), dir: join(dataDir, 'mvcc'), onFailure: (error) => this.fail(error) });
    this.lastSnapshotIndex = snapshot.metadata.index;
    this.auditHandedThrough = snapshot.metadata.index;
    this.replayAudit();
    this.confHistory = [{ index: snapshot.metadata.index, confState: structuredClone(snapshot.metadata.confState) }];
    this.options.observer?.membership?.({ index: snapshot.metadata.index, confState: snapshot.metadata.confState, cause: 'snapshot' });
    this.setMembers(await readRecords(this.store, memberRange, decodeMemberInfo));
    this.setAlarms(await readRecords(this.store, alarmRange, decodeAlarm));
    this.options.onMembersChanged?.(this.memberList());
    this.appliedWaiters.applied(this.store.appliedIndex());
  }

  /**
   * Compacts the WAL behind the applied index, keeping snapshotCatchUpEntries for slow followers, once
   * `everyEntries` entries (default: the configured count) can be dropped.
   */
  private async maybeCompactLog(everyEntries = (this.options.compaction?.everyEntries ?? snapshotEveryEntries)): Promise<void> {
    const catchUpEntries = this.options.compaction?.catchUpEntries ?? snapshotCatchUpEntries;
    const applied = this.store.appliedIndex();
    if (applied - this.lastSnapshotIndex < everyEntries + catchUpEntries) return;
    // Entries whose audit records are not durable in the member's log yet stay (replayAudit needs them);
    // a log catching up after an outage moves compaction on in steps of everyEntries, as usual.
    const auditDurable = this.auditSink?.durableThrough() ?? (this.options.awaitsAuditLog === true ? this.lastSnapshotIndex : applied);
    const index = Math.min(applied - catchUpEntries, auditDurable);
    if (index - this.lastSnapshotIndex < everyEntries) return;
    // The membership as of `index`: unknown for an index before this open's applied index, in which case
    // compaction waits until the applied index has moved on by catchUpEntries.
    const confState = this.confStateAt(index);
    if (confState === undefined) return;
    assert(index > this.lastSnapshotIndex && index <= applied, `compaction at ${index} is outside (${this.lastSnapshotIndex}, ${applied}]`);
    // The entries about to be dropped must survive in the store, power loss included.
    await this.store.syncToDisk();
    await this.wal.saveSnapshot({ metadata: { index, term: this.wal.term(index), confState }, data: new Uint8Array(0) });
    this.lastSnapshotIndex = index;
    this.pruneConfHistory();
  }

  private rememberConfState(index: number, confState: ConfState): void {
    if (index > this.confHistory.at(-1)!.index) this.confHistory.push({ index, confState: structuredClone(confState) });
  }

  /** The membership as of log index `index`, if this replica knows it (see confHistory). */
  private confStateAt(index: number): ConfState | undefined {
    let found: ConfState | undefined;
    for (const entry of this.confHistory) {
      if (entry.index > index) break;
      found = entry.confState;
    }
    return found === undefined ? undefined : structuredClone(found);
  }

  private pruneConfHistory(): void {
    while (this.confHistory.length > 1 && this.confHistory[1]!.index <= this.lastSnapshotIndex) this.confHistory.shift();
  }

  private sendMessage(message: Message): void {
    if (message.type !== 'snap') {
      this.options.send(message);
      return;
    }
    // The data is the store as of now; the snapshot names the store's applied index, its term and
    // the membership as of it (as etcd's merged snapshot does), not the WAL's older snapshot point, so
    // the follower's Raft and its imported store agree (applied >= the WAL's snapshot index).
    const index = this.store.appliedIndex();
    const term = this.wal.term(index);
    const confState = this.confStateAt(index);
    assert(confState !== undefined, `the membership as of the applied index ${index} is known`);
    const records = this.store.exportSnapshot();
    async function* checked(): AsyncGenerator<SnapshotRecord> {
      for await (const record of records) {
        if (record.type === 'header' && record.appliedIndex !== index) throw new Error(`the store moved on from ${index} to ${record.appliedIndex} while exported`);
        yield record;
      }
    }
    void packSnapshot(checked()).then(
      (data) => {
        this.options.send({ ...message, snapshot: { metadata: { index, term, confState }, data } });
        if (!this.stopped) this.raw.reportSnapshot(message.to, true);
      },
      () => {
        if (!this.stopped) this.raw.reportSnapshot(message.to, false);
      },
    ).finally(() => this.kick());
  }

  /**
   * At open, as etcd's initial election tick advance: a lone voter campaigns at once, and in a larger
   * cluster all but one of an election timeout's ticks pass at once, so members restarting together
   * elect a leader within a tick or a few (the randomised rest of the timeout) instead of a whole
   * timeout. A member rejoining a healthy cluster does not disrupt it: with PreVote and CheckQuorum,
   * members that hear from their leader refuse its early campaign.
   */
  private advanceElectionTicks(): void {
    const { voters } = this.raw.status().confState;
    if (!voters.includes(this.options.memberId)) return;
    if (voters.length === 1) {
      this.raw.campaign();
      return;
    }
    const electionTicks = this.options.raft?.electionTicks ?? raftConfigDefaults.electionTicks;
    for (let tick = 1; tick < electionTicks; tick++) this.raw.tick();
  }

  private startTicking(): void {
    const tickMs = this.options.tickMs ?? tickMsDefault;
    const tick = () => {
      if (this.stopped) return;
      this.raw.tick();
      this.reads.tick();
      this.lessor.tick();
      this.kick();
      this.ticker = this.options.clock.setTimer(tickMs, tick);
    };
    this.ticker = this.options.clock.setTimer(tickMs, tick);
  }

  private async changeMembership(cc: ConfChange, member: MemberInfo, timeoutMs = this.proposalTimeoutMs()): Promise<MemberInfo> {
    this.checkServing();
    const requestId = this.nextRequestId();
    const done = this.confChanges.wait(requestId, timeoutMs);
    const context: MembershipContext = { requestId, member };
    try {
      this.raw.proposeConfChange({ ...cc, context: encoder.encode(JSON.stringify(context)) });
    } catch (error) {
      this.confChanges.reject(requestId, proposalRefused(error));
    }
    this.kick();
    return done;
  }

  private setMembers(members: readonly MemberInfo[]): void {
    this.members = new Map(members.map((info) => [info.id, info] as const));
    this.removed = this.members.get(this.options.memberId)?.removed === true;
  }

  private nextRequestId(): string {
    return `${this.options.memberId}.${this.bootNonce}.${this.sequence++}`;
  }

  private proposalTimeoutMs(): number {
    return this.options.proposalTimeoutMs ?? proposalTimeoutMsDefault;
  }

  private checkServing(): void {
    if (this.stopped) throw this.stopped;
    if (this.removed) throw new ReplicationError('E_REMOVED', `member ${this.options.memberName} was removed from the cluster`);
  }

  private fail(error: Error): void {
    if (this.stopped) return;
    this.stopped = new ReplicationError('E_STOPPED', `the member stopped: ${error.message}`);
    this.ticker?.cancel();
    this.failWaiters(this.stopped);
    this.options.onFatal?.(error);
  }

  private failWaiters(error: ReplicationError): void {
    this.proposals.rejectAll(error);
    this.confChanges.rejectAll(error);
    this.appliedWaiters.rejectAll(error);
    this.reads.rejectAll(error);
  }
}

function storeOptions(options: ReplicaOptions) {
  return {
    // Not synced per batch: the WAL is the durable record, and a store behind after a power loss
    // replays from its applied index. maybeCompactLog syncs the store before the WAL drops entries.
    sealer: options.sealer, storeId: `${options.memberName}/mvcc`, clock: options.clock, sync: false,
    ...(options.openLevel ? { openLevel: options.openLevel } : {}),
    ...(options.observer?.storeCommit ? { onCommit: options.observer.storeCommit } : {}),
  };
}

/** A learner is promoted only when it holds at least this fraction of the leader's committed log. */
const promoteMatchFraction = 0.9;
/** etcd's answer to promoting a learner that has not caught up. */
const learnerNotReady = 'etcdserver: can only promote a learner member which is in sync with leader';

/** Why a proposal was not taken, as the API answers it: no leader to take it, or a membership Raft cannot make. */
function proposalRefused(error: unknown): Error {
  if (error instanceof ProposalDroppedError) return new ReplicationError('E_UNAVAILABLE', `proposal not accepted: ${error.message}`);
  if (error instanceof ConfChangeError) return new ReplicationError('E_BAD_REQUEST', `etcdserver: membership change refused: ${error.message}`);
  return error instanceof Error ? error : new Error(String(error));
}

function decodeMembershipContext(cc: ConfChange): MembershipContext | undefined {
  if (cc.context === undefined || cc.context.length === 0) return undefined;
  return JSON.parse(decoder.decode(cc.context)) as MembershipContext;
}

/**
 * A new cluster's log starts with one committed conf change per initial member, the same on every
 * initial member (as etcd bootstraps): applying them writes the member table into the store.
 */
async function bootstrapLog(wal: Wal, members: readonly MemberInfo[]): Promise<void> {
  const entries: Entry[] = members.map((member, i) => ({
    index: i + 1,
    term: 1,
    type: 'confChange',
    data: encodeConfChange({
      type: 'addNode',
      nodeId: member.id,
      context: encoder.encode(JSON.stringify({ requestId: `bootstrap.${member.id}`, member } satisfies MembershipContext)),
    }),
  }));
  await wal.append(entries);
  await wal.setHardState({ term: 1, vote: 0, commit: entries.length });
}

/** Coffer's own records under `range` as the store holds them: the member table, the alarms (written in the batch of their applied index). */
async function readRecords<T>(store: MvccStore, range: { key: Uint8Array; end: Uint8Array }, decode: (value: Uint8Array) => T): Promise<T[]> {
  const { kvs } = await store.range(range.key, range.end);
  return kvs.map((kv: KeyValue) => decode(kv.value));
}

/**
 * The WAL as Raft's storage at open, with `confState` (the store's, as of its applied index), and a commit index at least the
 * store's applied index: entries are applied only once committed and durable in the WAL, while a
 * commit that moved alone is not synced (Replica.handle), so the stored one may be behind.
 */
function withConfState(wal: Wal, confState: ConfState, applied: number): Storage {
  return {
    initialState: () => {
      const { hardState } = wal.initialState();
      return { hardState: { ...hardState, commit: Math.max(hardState.commit, applied) }, confState: structuredClone(confState) };
    },
    entries: (lo, hi, maxBytes) => wal.entries(lo, hi, maxBytes),
    term: (index) => wal.term(index),
    firstIndex: () => wal.firstIndex(),
    lastIndex: () => wal.lastIndex(),
    snapshot: () => wal.snapshot(),
  };
}

/** Step 3 of installSnapshot: the imported store takes the place of the current one. */
async function swapInIncomingStore(fs: DurableFs, dataDir: string): Promise<void> {
  const current = join(dataDir, 'mvcc');
  const old = join(dataDir, 'mvcc.old');
  if (await exists(fs, current)) await fs.rename(current, old);
  await fs.rename(join(dataDir, 'mvcc.incoming'), current);
  await fs.fsyncDir(dataDir);
  await fs.rm(old, { recursive: true, force: true });
}

/**
 * Completes or undoes a snapshot install a crash interrupted (see installSnapshot): an imported store
 * whose applied index is the WAL's snapshot index belongs to an install whose marker is durable, and
 * is swapped in; any other is an install the WAL never recorded, and is dropped.
 */
async function recoverStoreSwap(fs: DurableFs, options: ReplicaOptions, walSnapshotIndex: number): Promise<void> {
  const incoming = join(options.dataDir, 'mvcc.incoming');
  if (await exists(fs, incoming)) {
    let importedIndex: number | undefined;
    try {
      importedIndex = await MvccStore.peekAppliedIndex({ ...storeOptions(options), dir: incoming });
    } catch {
      importedIndex = undefined; // an import cut short: nothing refers to it
    }
    if (importedIndex === walSnapshotIndex) await swapInIncomingStore(fs, options.dataDir);
  }
  await fs.rm(join(options.dataDir, 'mvcc.old'), { recursive: true, force: true });
  await fs.rm(incoming, { recursive: true, force: true });
}

/** A nonce for this incarnation of the replica (62 random bits), from the injected Random. */
function bootNonceOf(random: Random): string {
  const part = () => random.int(0, 2 ** 31 - 1).toString(36).padStart(6, '0');
  return `${part()}${part()}`;
}

/** The command an entry's data holds, or undefined when it holds none (applied as nothing). */
function commandOf(data: Uint8Array): Command | undefined {
  try {
    return decodeCommand(data);
  } catch (error) {
    if (error instanceof CommandDecodeError) return undefined;
    throw error;
  }
}
