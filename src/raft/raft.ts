/**
 * Raft: the protocol state machine of one node. Inputs are step(message) and tick(); outputs accumulate
 * in msgs / msgsAfterPersist / readStates and in the log, which RawNode packages into Readys.
 *
 * Durability rule: a node's own promises (its vote, its acknowledgement of appended entries) only leave
 * the node after they are durable — such messages go to msgsAfterPersist. The leader counts its own log
 * towards commit only for entries the host has persisted (onPersisted, called from advance).
 */
import { assert, type Random } from '../base/index.ts';
import type { Config } from './config.ts';
import { applyToConfState, decodeConfChange, type ConfChange } from './confChange.ts';
import { entriesBytes, payloadBytes } from './entries.ts';
import { CompactedError, ConfigError, ProposalDroppedError, SnapshotTemporarilyUnavailableError, UnavailableError } from './errors.ts';
import { RaftLog } from './log.ts';
import type { Progress } from './progress.ts';
import { majority } from './quorum.ts';
import { ReadOnly } from './readOnly.ts';
import { afterPersistTypes, campaignTransferContext, isTransferContext, makeMessage } from './messages.ts';
import type { Storage } from './storage.ts';
import { ProgressTracker } from './tracker.ts';
import type { ConfState, Entry, HardState, Message, NodeId, ReadState, Role, Snapshot, SoftState } from './types.ts';

/** preElection: PreVote round first; election: raise the term now; transfer: as election, bypassing leases. */
type CampaignType = 'preElection' | 'election' | 'transfer';

export class Raft {
  readonly id: NodeId;
  /** Invariant: never decreases. */
  term = 0;
  /** Invariant: set at most once per term (changes only together with term, or from 0). */
  vote: NodeId = 0;
  lead: NodeId = 0;
  role: Role = 'follower';
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  private readOnly = new ReadOnly();
  readStates: ReadState[] = [];
  msgs: Message[] = [];
  msgsAfterPersist: Message[] = [];
  /** Leader only: the member leadership is being transferred to, or 0. */
  leadTransferee: NodeId = 0;
  /**
   * Leader only: the index of the latest conf change this leader appended, or (on election) its no-op.
   * A new conf change is refused while pendingConfIndex > applied.
   */
  pendingConfIndex = 0;
  /** Leader only: the index of the empty entry this leader appended on election. */
  private termStartIndex = 0;
  /** Leader only: payload bytes appended and not yet applied. Invariant: >= 0. */
  uncommittedBytes = 0;
  /** Leader only: reads received before this leader committed an entry of its term (answered after). */
  private pendingReadIndexMessages: Message[] = [];
  /** Ticks since the last reset (leader: since the last CheckQuorum round; others: since heard from a leader). */
  electionElapsed = 0;
  private heartbeatElapsed = 0;
  /** Invariant: in [electionTicks, 2 * electionTicks). */
  private randomizedElectionTimeout = 0;
  private readonly config: Config;
  private readonly random: Random;

  constructor(config: Config, storage: Storage, random: Random) {
    this.id = config.id;
    this.config = config;
    this.random = random;
    this.log = new RaftLog(storage, config.maxMsgBytes);
    this.tracker = new ProgressTracker(config.maxInflightMsgs, config.maxInflightBytes);
    const { hardState, confState } = storage.initialState();
    this.tracker.setConfState(confState, this.log.lastIndex());
    this.loadState(hardState);
    if (config.applied > 0) {
      if (config.applied > this.log.committed || config.applied < this.log.applied) {
        throw new ConfigError('applied', `${config.applied} is outside [${this.log.applied}, ${this.log.committed}] (snapshot index, commit)`);
      }
      this.log.appliedTo(config.applied);
    }
    this.becomeFollower(this.term, 0);
  }

  private loadState(hs: HardState): void {
    if (hs.term === 0 && hs.vote === 0 && hs.commit === 0) return;
    assert(hs.commit >= this.log.committed && hs.commit <= this.log.lastIndex(),
      `stored commit ${hs.commit} is outside [${this.log.committed}, ${this.log.lastIndex()}]`);
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  confState(): ConfState {
    return this.tracker.confState();
  }

  // ── Sending ────────────────────────────────────────────────────────────────────────────────────

  private send(m: Message): void {
    m.from = this.id;
    if (m.type === 'vote' || m.type === 'voteResp' || m.type === 'preVote' || m.type === 'preVoteResp') {
      assert(m.term !== 0, `${m.type} must carry a term`);
    } else {
      assert(m.term === 0, `${m.type} term is set by send`);
      // Forwarded proposals and reads are local messages: they keep term 0.
      if (m.type !== 'prop' && m.type !== 'readIndex') m.term = this.term;
    }
    if (afterPersistTypes.has(m.type)) this.msgsAfterPersist.push(m);
    else this.msgs.push(m);
  }

  /** Forwards a local message (proposal, read, transfer request) to the leader unchanged but for `to`. */
  private forward(m: Message, to: NodeId): void {
    this.msgs.push({ ...m, to, term: m.type === 'transferLeader' ? this.term : 0 });
  }

  /** Sends an append (or a snapshot if needed) to `to`. Returns whether a message was sent. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.tracker.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    let prevTerm: number;
    let entries: Entry[];
    try {
      prevTerm = this.log.term(prevIndex);
      entries = this.log.entries(pr.next, this.config.maxMsgBytes);
    } catch (e) {
      if (e instanceof CompactedError || e instanceof UnavailableError) return this.maybeSendSnapshot(to, pr);
      throw e;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    const m = makeMessage({ type: 'app', to, index: prevIndex, logTerm: prevTerm, entries, commit: this.log.committed });
    // A commit notice to a follower known to hold everything: its acceptance would change nothing here.
    if (entries.length === 0 && pr.state === 'replicate' && pr.match >= prevIndex) m.noReply = true;
    this.send(m);
    pr.sentEntries(entries.length, entriesBytes(entries));
    return true;
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    // A snapshot is expensive; send it only to a follower known to be alive.
    if (!pr.recentActive) return false;
    let snapshot;
    try {
      snapshot = this.log.snapshot();
    } catch (e) {
      if (e instanceof SnapshotTemporarilyUnavailableError) return false;
      throw e;
    }
    assert(snapshot.metadata.index > 0, `follower ${to} needs compacted entries but storage has no snapshot`);
    pr.becomeSnapshot(snapshot.metadata.index);
    this.send(makeMessage({ type: 'snap', to, snapshot }));
    return true;
  }

  private sendHeartbeat(to: NodeId, context: Uint8Array | undefined): void {
    const pr = this.tracker.progress.get(to);
    assert(pr !== undefined, `heartbeat to non-member ${to}`);
    // Never tell a follower to commit beyond what it is known to hold.
    const commit = Math.min(pr.match, this.log.committed);
    const m = makeMessage({ type: 'heartbeat', to, commit });
    if (context !== undefined) m.context = context;
    this.send(m);
  }

  private peers(): NodeId[] {
    return this.tracker.ids().filter((id) => id !== this.id);
  }

  private bcastAppend(): void {
    for (const id of this.peers()) this.sendAppend(id);
  }

  private bcastHeartbeat(): void {
    const context = this.readOnly.lastPendingContext();
    for (const id of this.peers()) this.sendHeartbeat(id, context);
  }

  // ── Role changes ───────────────────────────────────────────────────────────────────────────────

  private reset(term: number): void {
    if (term !== this.term) {
      assert(term > this.term, `term ${term} would go back from ${this.term}`);
      this.term = term;
      this.vote = 0;
    }
    this.lead = 0;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.config.electionTicks + this.random.int(0, this.config.electionTicks - 1);
    this.leadTransferee = 0;
    this.tracker.resetVotes();
    const lastIndex = this.log.lastIndex();
    for (const id of this.tracker.ids()) {
      const old = this.tracker.progress.get(id)!;
      const match = id === this.id ? this.log.stableLastIndex() : 0;
      this.tracker.progress.set(id, this.tracker.newProgress(match, lastIndex + 1, old.isLearner));
    }
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.readOnly = new ReadOnly();
    this.pendingReadIndexMessages = [];
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become pre-candidate');
    // A pre-election changes neither term nor vote.
    this.tracker.resetVotes();
    this.lead = 0;
    this.role = 'preCandidate';
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    assert(this.role !== 'follower', 'a follower cannot become leader without an election');
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    const self = this.tracker.progress.get(this.id);
    assert(self !== undefined, 'a leader must be a member');
    self.becomeReplicate();
    self.recentActive = true;
    // The no-op entry of the new term: committing it commits every earlier entry (Raft §5.4.2) and
    // enables reads (ReadIndex) and conf changes.
    const ok = this.appendEntries([{ index: 0, term: 0, type: 'normal', data: new Uint8Array(0) }]);
    assert(ok, 'the empty entry of a new leader is always accepted');
    this.termStartIndex = this.log.lastIndex();
    // Ongaro's 2015 guard: no conf change until the entry above is applied (hence committed).
    this.pendingConfIndex = this.config.unsafeTestingFaults?.skipConfChangeGuard === true ? 0 : this.termStartIndex;
  }

  private promotable(): boolean {
    return this.tracker.isVoter(this.id) && !this.log.hasPendingSnapshot();
  }

  private hasUnappliedConfChanges(): boolean {
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    if (lo > this.log.committed) return false;
    const entries = this.log.slice(lo, this.log.committed + 1, Number.MAX_SAFE_INTEGER);
    return entries.some((e) => e.type === 'confChange');
  }

  private hup(type: CampaignType): void {
    if (this.role === 'leader') return;
    if (!this.promotable()) return;
    // A committed conf change not yet applied may remove this node or change the quorum.
    if (this.hasUnappliedConfChanges()) return;
    this.campaign(type);
  }

  private campaign(type: CampaignType): void {
    let term: number;
    let voteType: 'vote' | 'preVote';
    if (type === 'preElection') {
      this.becomePreCandidate();
      voteType = 'preVote';
      // A pre-vote asks "would you vote for me at the next term?" without raising ours.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = 'vote';
      term = this.term;
    }
    if (this.poll(this.id, true) === 'won') {
      // Single voter: won at once.
      if (type === 'preElection') this.campaign('election');
      else {
        this.becomeLeader();
        this.bcastAppend();
      }
      return;
    }
    for (const id of this.tracker.voters) {
      if (id === this.id) continue;
      const m = makeMessage({ type: voteType, to: id, term, index: this.log.lastIndex(), logTerm: this.log.lastTerm() });
      if (type === 'transfer') m.context = campaignTransferContext;
      this.send(m);
    }
  }

  private poll(id: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    this.tracker.recordVote(id, granted);
    return this.tracker.tally().result;
  }

  // ── Ticks ──────────────────────────────────────────────────────────────────────────────────────

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(makeMessage({ type: 'hup', from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum) this.step(makeMessage({ type: 'checkQuorum', from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.role === 'leader' && this.leadTransferee !== 0) this.leadTransferee = 0;
    }
    if (this.role !== 'leader') return;
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.step(makeMessage({ type: 'beat', from: this.id }));
    }
  }

  // ── Step ───────────────────────────────────────────────────────────────────────────────────────

  /**
   * Processes one message. Throws ProposalDroppedError (or ConfChangeError) when a proposal or read
   * from this node cannot be accepted; RawNode swallows those for messages from peers.
   */
  step(m: Message): void {
    if (m.term === 0) {
      // Local message.
    } else if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        const force = isTransferContext(m.context);
        const inLease = this.config.checkQuorum && this.lead !== 0 && this.electionElapsed < this.config.electionTicks;
        // Leader lease: we heard from a live leader recently, so this candidate is disruptive.
        if (!force && inLease) return;
      }
      if (m.type === 'preVote') {
        // Never change term for a pre-vote.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // A granted pre-vote carries the future term; the term is raised when the pre-election is won.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, 0);
      }
    } else if (m.term < this.term) {
      if ((this.config.checkQuorum || this.config.preVote) && (m.type === 'heartbeat' || m.type === 'app')) {
        // A stale leader (e.g. just out of a partition) learns our term from this and steps down; without
        // it, a node whose pre-votes or leases are refused could stay stuck with a stale leader.
        this.send(makeMessage({ type: 'appResp', to: m.from }));
      } else if (m.type === 'preVote') {
        this.send(makeMessage({ type: 'preVoteResp', to: m.from, term: this.term, reject: true }));
      }
      return;
    }

    switch (m.type) {
      case 'hup':
        this.hup(this.config.preVote ? 'preElection' : 'election');
        return;
      case 'vote':
      case 'preVote': {
        const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
        const canVote =
          this.vote === m.from ||
          (this.vote === 0 && this.lead === 0) ||
          (m.type === 'preVote' && m.term > this.term);
        if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
          // Reply with the request's term: a pre-vote's future term, or the (now equal) vote term.
          this.send(makeMessage({ type: respType, to: m.from, term: m.term }));
          if (m.type === 'vote') {
            assert(this.vote === 0 || this.vote === m.from, `node ${this.id} would vote twice in term ${this.term}`);
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send(makeMessage({ type: respType, to: m.from, term: this.term, reject: true }));
        }
        return;
      }
      default:
        break;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'beat':
        this.bcastHeartbeat();
        return;
      case 'checkQuorum':
        if (!this.tracker.quorumActive(this.id)) {
          this.becomeFollower(this.term, 0);
          return;
        }
        for (const [id, pr] of this.tracker.progress) if (id !== this.id) pr.recentActive = false;
        return;
      case 'prop':
        this.handleProposal(m);
        return;
      case 'readIndex':
        if (!this.committedEntryInCurrentTerm()) {
          // Safe mode: our commit index may lag the true one until we commit in our term; queue the read.
          this.pendingReadIndexMessages.push(m);
          return;
        }
        this.sendReadIndexResponse(m);
        return;
      default:
        break;
    }
    const pr = this.tracker.progress.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case 'appResp':
        this.handleAppendResponse(m, pr);
        return;
      case 'heartbeatResp':
        this.handleHeartbeatResponse(m, pr);
        return;
      case 'snapStatus':
        if (pr.state !== 'snapshot') return;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for the next heartbeat response before probing (the follower may still be busy).
        pr.msgAppFlowPaused = true;
        return;
      case 'unreachable':
        // Stop streaming optimistically; probe once per heartbeat instead.
        if (pr.state === 'replicate') pr.becomeProbe();
        return;
      case 'transferLeader':
        this.handleTransferLeader(m.from, pr);
        return;
      default:
        return;
    }
  }

  private handleProposal(m: Message): void {
    assert(m.entries.length > 0, 'a proposal carries entries');
    if (!this.tracker.isMember(this.id)) throw new ProposalDroppedError(`leader ${this.id} is no longer a member`);
    if (this.leadTransferee !== 0) throw new ProposalDroppedError(`leadership transfer to ${this.leadTransferee} in progress`);
    let confIndex = 0;
    // Built only for a proposal that carries a conf change: most carry none.
    let cs: ConfState | undefined;
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i]!;
      if (e.type !== 'confChange') continue;
      if (this.pendingConfIndex > this.log.applied) {
        throw new ProposalDroppedError(this.pendingConfIndex === this.termStartIndex
          ? `conf change refused until leader ${this.id} applies its first entry of term ${this.term} (index ${this.pendingConfIndex}; applied ${this.log.applied})`
          : `a conf change is pending (index ${this.pendingConfIndex} not yet applied; applied ${this.log.applied})`);
      }
      // Validates against the membership it will apply to: every earlier change is already applied.
      cs = applyToConfState(cs ?? this.tracker.confState(), decodeConfChange(e.data));
      confIndex = this.log.lastIndex() + i + 1;
    }
    if (!this.appendEntries(m.entries)) {
      throw new ProposalDroppedError(`${payloadBytes(m.entries)} more payload bytes would exceed maxUncommittedBytes ${this.config.maxUncommittedBytes} (uncommitted: ${this.uncommittedBytes})`);
    }
    if (confIndex !== 0) this.pendingConfIndex = confIndex;
    this.bcastAppend();
  }

  /** Appends entries at the leader's term. Returns false (appending nothing) if backpressure refuses them. */
  private appendEntries(entries: readonly Entry[]): boolean {
    const lastIndex = this.log.lastIndex();
    const stamped = entries.map((e, i) => ({ index: lastIndex + 1 + i, term: this.term, type: e.type, data: e.data }));
    const bytes = payloadBytes(stamped);
    // Always admit when nothing is uncommitted, so one entry over the limit can still make progress.
    if (this.uncommittedBytes > 0 && bytes > 0 && this.uncommittedBytes + bytes > this.config.maxUncommittedBytes) return false;
    this.uncommittedBytes += bytes;
    this.log.append(stamped);
    return true;
  }

  reduceUncommittedBytes(bytes: number): void {
    if (this.role !== 'leader') return;
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - bytes);
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      let nextProbe = m.rejectHint;
      if (m.logTerm > 0) {
        // The follower's log at rejectHint has term m.logTerm: skip every leader entry after the last
        // one with a term <= m.logTerm, none of which can match.
        nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm)[0];
      }
      if (pr.maybeDecrTo(m.index, nextProbe)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!(pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === 'probe'))) return;
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
      // The follower caught up past our compaction point (it installed the snapshot): stream again.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else if (wasPaused) {
      this.sendAppend(m.from);
    }
    // Flow control may have opened: send as many non-empty appends as allowed.
    while (this.maybeSendAppend(m.from, false)) { /* keep sending */ }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.msgAppFlowPaused = false;
    // The follower is alive but acks may have been lost: free one slot so the stream can resume
    // (a gap makes the follower reject, which restarts probing).
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
    if (m.context === undefined || m.context.length === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (acks === undefined) return;
    const voterAcks = this.tracker.voters.filter((id) => acks.has(id)).length;
    if (voterAcks < majority(this.tracker.voters.length)) return;
    for (const rs of this.readOnly.advance(m.context)) this.respondToReadIndex(rs.req, rs.index);
  }

  private handleTransferLeader(transferee: NodeId, pr: Progress): void {
    if (pr.isLearner) return;
    if (this.leadTransferee !== 0) {
      if (this.leadTransferee === transferee) return;
      this.leadTransferee = 0;
    }
    if (transferee === this.id) return;
    // The transfer must finish within one election timeout (see tickHeartbeat).
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(transferee);
    else this.sendAppend(transferee);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(makeMessage({ type: 'timeoutNow', to }));
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.termOrZero(this.log.committed) === this.term;
  }

  /** Leader: advances commit to what a quorum of voters matched (current-term entries only). */
  private maybeCommit(): boolean {
    const index = this.tracker.committed();
    let committed: boolean;
    if (this.config.unsafeTestingFaults?.commitPreviousTermByCounting === true) {
      committed = index > this.log.committed && index <= this.log.lastIndex();
      if (committed) this.log.commitTo(index);
    } else {
      committed = this.log.maybeCommit(index, this.term);
    }
    if (committed) this.releasePendingReadIndexMessages();
    return committed;
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const queued = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of queued) this.sendReadIndexResponse(m);
  }

  private sendReadIndexResponse(m: Message): void {
    const index = this.log.committed;
    if (this.tracker.voters.length === 1 && this.tracker.isVoter(this.id)) {
      this.respondToReadIndex(m, index);
      return;
    }
    this.readOnly.addRequest(index, m);
    this.readOnly.recvAck(this.id, m.context ?? new Uint8Array(0));
    this.bcastHeartbeat();
  }

  private respondToReadIndex(req: Message, index: number): void {
    const requestCtx = req.context ?? new Uint8Array(0);
    if (req.from === this.id || req.from === 0) {
      this.readStates.push({ index, requestCtx });
    } else {
      this.send(makeMessage({ type: 'readIndexResp', to: req.from, index, context: requestCtx }));
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    switch (m.type) {
      case 'prop':
        throw new ProposalDroppedError(`no leader (node ${this.id} is campaigning in term ${this.term})`);
      case 'readIndex':
        throw new ProposalDroppedError(`read dropped: no leader (node ${this.id} is campaigning in term ${this.term})`);
      case 'app':
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'voteResp':
      case 'preVoteResp': {
        if (m.type !== myResp) return;
        const result = this.poll(m.from, !m.reject);
        if (result === 'won') {
          if (this.role === 'preCandidate') {
            this.campaign('election');
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === 'lost') {
          this.becomeFollower(this.term, 0);
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'prop':
        if (this.lead === 0) throw new ProposalDroppedError(`no leader known to node ${this.id} in term ${this.term}`);
        this.forward(m, this.lead);
        return;
      case 'readIndex':
        if (this.lead === 0) throw new ProposalDroppedError(`read dropped: no leader known to node ${this.id} in term ${this.term}`);
        this.forward(m, this.lead);
        return;
      case 'transferLeader':
        if (this.lead !== 0) this.forward(m, this.lead);
        return;
      case 'app':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case 'timeoutNow':
        // The leader asks us to take over: campaign at once, bypassing pre-vote and leases.
        this.hup('transfer');
        return;
      case 'readIndexResp':
        this.readStates.push({ index: m.index, requestCtx: m.context ?? new Uint8Array(0) });
        return;
      default:
        return;
    }
  }

  private handleAppendEntries(m: Message): void {
    // Only a commit notice may go unanswered: entries are always acknowledged.
    const answer = m.noReply !== true || m.entries.length > 0;
    if (m.index < this.log.committed) {
      // Everything up to commit already matches; tell the leader where we are.
      if (answer) this.send(makeMessage({ type: 'appResp', to: m.from, index: this.log.committed }));
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      if (answer) this.send(makeMessage({ type: 'appResp', to: m.from, index: lastNew }));
      return;
    }
    // Reject with a hint: the largest index <= min(m.index, lastIndex) whose term is <= m.logTerm.
    const [hintIndex, hintTerm] = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send(makeMessage({ type: 'appResp', to: m.from, index: m.index, reject: true, rejectHint: hintIndex, logTerm: hintTerm }));
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(m.commit);
    const resp = makeMessage({ type: 'heartbeatResp', to: m.from });
    if (m.context !== undefined) resp.context = m.context;
    this.send(resp);
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    assert(s !== undefined, 'snap message without snapshot');
    if (this.restore(s)) {
      this.send(makeMessage({ type: 'appResp', to: m.from, index: this.log.lastIndex() }));
    } else {
      this.send(makeMessage({ type: 'appResp', to: m.from, index: this.log.committed }));
    }
  }

  /** Installs a snapshot from the leader. Returns false if it is not newer than what we have. */
  private restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.log.committed) return false;
    assert(this.role === 'follower', `a ${this.role} cannot install a snapshot`);
    if (this.log.matchTerm(s.metadata.index, s.metadata.term)) {
      // We already have the snapshot's last entry: just move commit forward.
      this.log.commitTo(s.metadata.index);
      return false;
    }
    this.log.restore(s);
    this.tracker.setConfState(s.metadata.confState, this.log.lastIndex());
    return true;
  }

  /** Cheap checks of the invariants written beside the fields; RawNode runs them after every input. */
  assertInvariants(): void {
    const log = this.log;
    assert(log.applied <= log.applying && log.applying <= log.committed, `applied ${log.applied} <= applying ${log.applying} <= committed ${log.committed}`);
    assert(log.committed <= log.lastIndex(), `committed ${log.committed} <= last index ${log.lastIndex()}`);
    assert((this.role === 'leader') === (this.lead === this.id), `role ${this.role} with leader ${this.lead} on node ${this.id}`);
    assert(this.role !== 'candidate' || this.vote === this.id, `candidate ${this.id} voted for ${this.vote}`);
    assert(this.role === 'leader' || (this.leadTransferee === 0 && this.pendingReadIndexMessages.length === 0),
      `non-leader ${this.id} holds leader-only state`);
    assert(this.uncommittedBytes >= 0, `uncommitted bytes ${this.uncommittedBytes} >= 0`);
  }

  // ── Host reports ───────────────────────────────────────────────────────────────────────────────

  /** The host persisted a Ready: the leader's own log now counts towards commit. */
  onPersisted(): void {
    if (this.role !== 'leader') return;
    const self = this.tracker.progress.get(this.id);
    if (self === undefined) return;
    if (self.maybeUpdate(this.log.stableLastIndex()) && this.maybeCommit()) this.bcastAppend();
  }

  /** Applies a committed conf change; returns the new membership. */
  applyConfChange(cc: ConfChange): ConfState {
    const cs = applyToConfState(this.tracker.confState(), cc);
    this.tracker.setConfState(cs, this.log.lastIndex());
    if (this.role !== 'leader') return cs;
    if (!this.tracker.isVoter(this.id)) {
      // Removed (or demoted) leader: step down; the remaining voters elect a new leader.
      this.becomeFollower(this.term, 0);
      return cs;
    }
    if (this.leadTransferee !== 0 && !this.tracker.isVoter(this.leadTransferee)) this.leadTransferee = 0;
    // The quorum may have shrunk: entries may now be committed.
    if (this.maybeCommit()) this.bcastAppend();
    else for (const id of this.peers()) this.maybeSendAppend(id, false);
    return cs;
  }
}
