/**
 * The vocabulary of the Raft core: log entries, persistent and volatile state, messages, and the Ready
 * batch a host consumes. Plain data only, so hosts (the replication loop, the simulator) can copy,
 * encode and compare these values freely.
 */

/** A member id. 0 means "none" (no leader known, no vote cast). Invariant: ids of real members are > 0. */
export type NodeId = number;

export type EntryType = 'normal' | 'confChange';

/**
 * One log entry. Invariant: index >= 1 and term >= 1 for every entry in a log; within a log, indexes are
 * consecutive and terms never decrease. A confChange entry's data is an encoded ConfChange
 * (see encodeConfChange / decodeConfChange). A normal entry with empty data is the no-op a new leader
 * appends on election.
 */
export interface Entry {
  index: number;
  term: number;
  type: EntryType;
  data: Uint8Array;
}

/** The state a node must persist before sending the messages that depend on it. */
export interface HardState {
  term: number;
  /** The candidate this node voted for in `term`, or 0. */
  vote: NodeId;
  /** Invariant: commit never decreases, and commit <= last index of the persisted log. */
  commit: number;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state, reported when it changes; never persisted. */
export interface SoftState {
  leader: NodeId;
  role: Role;
}

/**
 * The membership. Coffer uses single-server membership changes, so votersOutgoing and learnersNext are
 * always empty and autoLeave is always false; the fields exist so the shape matches joint-consensus
 * implementations and a later move to joint consensus changes no caller.
 * Invariant: voters and learners are disjoint, sorted ascending, without duplicates.
 */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
  votersOutgoing: NodeId[];
  learnersNext: NodeId[];
  autoLeave: boolean;
}

export interface SnapshotMetadata {
  /** The last log index the snapshot covers. 0 means "no snapshot". */
  index: number;
  /** The term of the entry at `index`. */
  term: number;
  /** The membership as of `index`. */
  confState: ConfState;
}

export interface Snapshot {
  metadata: SnapshotMetadata;
  /** The host's state machine image; opaque to Raft. */
  data: Uint8Array;
}

/**
 * Message kinds. Local-only kinds (never sent over the network; a node ignores them if they arrive from
 * a peer): hup, beat, checkQuorum, unreachable, snapStatus.
 */
export type MessageType =
  | 'hup' // local: start an election (or pre-election)
  | 'beat' // local: leader sends heartbeats
  | 'prop' // proposal; followers forward it to the leader
  | 'app' // leader → follower: append entries after (index, logTerm), carrying commit
  | 'appResp' // follower → leader: index = last matched index, or reject with rejectHint/logTerm
  | 'vote'
  | 'voteResp'
  | 'preVote'
  | 'preVoteResp'
  | 'snap' // leader → follower: install snapshot
  | 'heartbeat'
  | 'heartbeatResp'
  | 'unreachable' // local: host reports a peer unreachable
  | 'snapStatus' // local: host reports a snapshot sent (reject = failed)
  | 'checkQuorum' // local: leader checks it heard from a quorum recently
  | 'transferLeader' // from = the transferee; handled by the leader, forwarded by followers
  | 'timeoutNow' // leader → transferee: campaign now, bypassing pre-vote and leases
  | 'readIndex' // context = the read request's unique context
  | 'readIndexResp'; // index = the read index for context

export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  /** 0 for local messages. */
  term: number;
  /** app: term of the entry at `index`; vote/preVote: candidate's last log term; appResp reject: hint term. */
  logTerm: number;
  /** app: index preceding `entries`; vote: candidate's last index; appResp: matched index or rejected index. */
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** appResp reject: the follower's suggested probe index (see findConflictByTerm). */
  rejectHint: number;
  snapshot?: Snapshot;
  /** readIndex/readIndexResp/heartbeat/heartbeatResp: read context; vote: campaign-transfer marker. */
  context?: Uint8Array;
  /**
   * app without entries: the leader knows the follower holds every entry through `index`, so an
   * acceptance would tell it nothing (a commit notice); the follower answers only a rejection.
   */
  noReply?: true;
}

/** A linearizable read point: once the host has applied up to `index`, it may serve the read `requestCtx`. */
export interface ReadState {
  index: number;
  requestCtx: Uint8Array;
}

/**
 * One batch of work for the host. See the host contract in index.ts. Every field refers to state the core
 * has already decided; the host must handle them in the contract's order.
 */
export interface Ready {
  /** Set when leader or role changed since the last Ready. */
  softState?: SoftState;
  /** Set when term, vote or commit changed; persist before sending messagesAfterPersist. */
  hardState?: HardState;
  /** Entries to append to stable storage (they may overwrite a conflicting tail). */
  entries: Entry[];
  /** A snapshot to persist and load into the state machine. */
  snapshot?: Snapshot;
  /** Committed entries to apply, in order. They may include entries of this Ready's `entries`. */
  committedEntries: Entry[];
  /** Messages that may be sent at once, before this Ready is persisted. */
  messages: Message[];
  /** Messages that must wait until hardState, entries and snapshot of THIS Ready are durable. */
  messagesAfterPersist: Message[];
  readStates: ReadState[];
  /** True when hardState's term/vote, entries or snapshot must be fsync'd before messagesAfterPersist go. */
  mustSync: boolean;
}

/** Progress of one peer as the leader tracks it. */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export interface ProgressStatus {
  match: number;
  next: number;
  state: ProgressState;
  isLearner: boolean;
  recentActive: boolean;
  pendingSnapshot: number;
  inflightMsgs: number;
  inflightBytes: number;
}

/** The node's own state without the membership and the leader's progress map (etcd's BasicStatus). */
export interface BasicStatus {
  id: NodeId;
  hardState: HardState;
  softState: SoftState;
  applied: number;
}

export interface Status extends BasicStatus {
  confState: ConfState;
  /** Set on the leader while a leadership transfer is in progress. */
  leadTransferee: NodeId;
  /** Only on the leader: every member's progress, by id. */
  progress?: Map<NodeId, ProgressStatus>;
}
