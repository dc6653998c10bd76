/**
 * API CHANGE (contract clarification only, no signature change): Storage.initialState().confState must be
 * the membership as of Config.applied. A host that restarts with applied = its snapshot index (so that
 * committed entries replay) must hand back the snapshot's ConfState, not the latest one it applied —
 * replaying conf changes on top of a later membership passes through wrong memberships (and can even
 * try to remove the last voter). See "Restart" below.
 *
 * raft — the consensus core of Coffer: a pure, synchronous, deterministic Raft state machine in the
 * style of etcd's raft (RawNode + Ready). No I/O, no clock, no timers, no Promises: time enters as
 * tick(), randomness through the injected Random, messages through step(). The same Random seed and the
 * same inputs produce the same Readys.
 *
 * Features: randomized election timeouts, PreVote, CheckQuorum with leader lease, log replication with
 * fast conflict backtracking, flow control (probe / replicate / snapshot progress, in-flight count and
 * byte limits), commit by counting current-term entries only, a no-op entry on election, ReadIndex in
 * safe mode, leader transfer, snapshots, single-server membership changes with learners, backpressure
 * on uncommitted bytes, a message size limit.
 *
 * Host contract — for each Ready `rd` from ready():
 *   1. send rd.messages (they may go before anything is persisted);
 *   2. persist rd.snapshot (if any), then append rd.entries, then rd.hardState (if any); fsync if
 *      rd.mustSync;
 *   3. send rd.messagesAfterPersist;
 *   4. load rd.snapshot into the state machine (if any), then apply rd.committedEntries in order; for a
 *      'confChange' entry call applyConfChange(decodeConfChange(entry.data)) (if the host persists its
 *      applied index, persist the returned ConfState atomically with it); serve rd.readStates once
 *      applied >= their index;
 *   5. call advance(rd) before the next ready(). tick/step/propose may be called between ready() and
 *      advance(); a second ready() before advance() is a bug (assert).
 * For every 'snap' message sent, the host must later call reportSnapshot(to, ok) (ok = false if the
 * transfer failed or the message was dropped); the leader does not send more to that follower until then
 * or until the follower answers. reportUnreachable(id) when a send to id failed is optional but speeds
 * recovery.
 *
 * Restart: a node restarts from Storage.initialState() and Config.applied, which must agree: applied is
 * what the state machine durably holds, and initialState().confState is the membership as of applied.
 * Either restart from the snapshot (applied = 0 or the snapshot index, confState = the snapshot's; the
 * committed entries after it, conf changes included, are delivered again and must be applied again), or
 * from a durably applied index with the ConfState persisted atomically with it.
 * A node joining an existing cluster starts with empty storage whose ConfState is the cluster's
 * initial membership (what the founding members' storage had at index 0), so that replaying the conf
 * changes of the log from index 1 gives the same memberships as everywhere else; if the leader has
 * compacted those entries, the node receives a snapshot instead.
 *
 * Reads: readIndex(ctx) with a ctx unique among pending reads (a duplicate of a pending ctx is ignored
 * and answered once). A ReadState arrives once the leader confirmed its leadership with a quorum;
 * reads pending at a leader change are not answered — the host times them out and retries.
 * Proposals: propose / proposeConfChange throw ProposalDroppedError when refused here; a proposal
 * forwarded by a follower and refused by the leader is dropped silently (the host times out).
 *
 * Membership: single-server changes (addNode / addLearner / removeNode, one at a time). A leader
 * refuses a conf change while an earlier one is unapplied, and until it has committed an entry of its
 * own term (Ongaro's 2015 fix). A leader removed from the membership steps down when it applies the
 * change. ConfState's joint fields stay empty.
 *
 * Invariants the core asserts: at most one vote per term; commit and term never decrease; commit <= last
 * index; applied <= committed; a leader commits only entries of its current term by counting.
 *
 * Files: rawNode.ts (host API, Ready) · raft.ts (protocol: roles, step, tick) · log.ts + unstable.ts (log
 * view and commit/apply cursors) · storage.ts (Storage, MemoryStorage) · tracker.ts + progress.ts +
 * inflights.ts (leader's view of followers, flow control) · quorum.ts (majorities) · readOnly.ts
 * (ReadIndex) · confChange.ts (membership changes and their encoding) · config.ts · errors.ts ·
 * messages.ts · entries.ts (sizes) · types.ts.
 */
export type {
  ConfState,
  Entry,
  EntryType,
  HardState,
  Message,
  MessageType,
  NodeId,
  ProgressState,
  ProgressStatus,
  ReadState,
  Ready,
  Role,
  Snapshot,
  SnapshotMetadata,
  SoftState,
  Status,
} from './types.ts';
export type { Config, UnsafeTestingFaults } from './config.ts';
export { raftConfigDefaults, validateConfig } from './config.ts';
export type { ConfChange, ConfChangeType } from './confChange.ts';
export { applyToConfState, decodeConfChange, emptyConfState, encodeConfChange, makeConfState } from './confChange.ts';
export {
  CompactedError,
  ConfChangeDecodeError,
  ConfChangeError,
  ConfigError,
  ProposalDroppedError,
  RaftError,
  SnapshotOutOfDateError,
  SnapshotTemporarilyUnavailableError,
  UnavailableError,
} from './errors.ts';
export type { Storage } from './storage.ts';
export { MemoryStorage } from './storage.ts';
export { RawNode } from './rawNode.ts';
export { entriesBytes, entryBytes } from './entries.ts';
