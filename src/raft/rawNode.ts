/**
 * RawNode: the host-facing API over Raft. It validates the config, turns calls into messages, and packages
 * the core's output into Readys (see the host contract in index.ts).
 */
import { assert, type Random } from '../base/index.ts';
import { validateConfig, type Config } from './config.ts';
import { encodeConfChange, type ConfChange } from './confChange.ts';
import { payloadBytes } from './entries.ts';
import { ConfChangeError, ProposalDroppedError } from './errors.ts';
import { makeMessage } from './messages.ts';
import { Raft } from './raft.ts';
import type { Storage } from './storage.ts';
import type { BasicStatus, ConfState, Entry, HardState, Message, MessageType, NodeId, ProgressStatus, Ready, SoftState, Status } from './types.ts';

/** Kinds that only the node itself produces; arriving from a peer they are ignored. */
const localOnlyTypes: ReadonlySet<MessageType> = new Set<MessageType>(['hup', 'beat', 'checkQuorum', 'unreachable', 'snapStatus']);

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export class RawNode {
  private readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  /** The Ready handed out and not yet advanced. Invariant: at most one at a time. */
  private outstanding: Ready | undefined;

  /** Throws ConfigError naming the bad field. */
  constructor(config: Config, storage: Storage, random: Random) {
    validateConfig(config);
    this.raft = new Raft(config, storage, random);
    this.prevSoftState = this.raft.softState();
    this.prevHardState = this.raft.hardState();
    this.raft.assertInvariants();
  }

  /** Advances logical time by one tick (elections, heartbeats, CheckQuorum, transfer timeouts). */
  tick(): void {
    this.raft.tick();
    this.raft.assertInvariants();
  }

  /** Starts an election now (pre-vote first if enabled). */
  campaign(): void {
    this.raft.step(makeMessage({ type: 'hup', from: this.raft.id }));
  }

  /** Delivers a message from a peer. Local-only kinds are ignored; a dropped forwarded proposal is silent. */
  step(m: Message): void {
    if (localOnlyTypes.has(m.type)) return;
    try {
      this.raft.step(m);
    } catch (e) {
      // A peer's forwarded proposal or read that we cannot take: the peer's caller times out and retries.
      if (!(e instanceof ProposalDroppedError || e instanceof ConfChangeError)) throw e;
    }
    this.raft.assertInvariants();
  }

  /** Proposes data for the log. Throws ProposalDroppedError if it cannot be accepted now. */
  propose(data: Uint8Array): void {
    this.raft.step(makeMessage({ type: 'prop', from: this.raft.id, entries: [{ index: 0, term: 0, type: 'normal', data }] }));
  }

  /**
   * Proposes a membership change. Throws ProposalDroppedError (no leader, another change pending, the
   * leader has not yet committed in its term) or ConfChangeError (e.g. it would remove the last voter).
   * Note: on a follower the change is forwarded and validated by the leader, which drops it silently.
   */
  proposeConfChange(cc: ConfChange): void {
    const data = encodeConfChange(cc);
    this.raft.step(makeMessage({ type: 'prop', from: this.raft.id, entries: [{ index: 0, term: 0, type: 'confChange', data }] }));
  }

  /**
   * Requests a linearizable read point for `ctx` (which must be unique among pending reads). The answer
   * arrives as a ReadState in a later Ready; the host must time out reads whose answer never comes
   * (e.g. leadership changed). Throws ProposalDroppedError if no leader is known.
   */
  readIndex(ctx: Uint8Array): void {
    this.raft.step(makeMessage({ type: 'readIndex', from: this.raft.id, context: ctx }));
  }

  /** Asks the leader (this node or the one it knows) to hand leadership to `to`. */
  transferLeader(to: NodeId): void {
    this.raft.step(makeMessage({ type: 'transferLeader', from: to }));
  }

  /** The host could not reach `id` (a send failed): the leader stops streaming to it and probes. */
  reportUnreachable(id: NodeId): void {
    this.raft.step(makeMessage({ type: 'unreachable', from: id }));
  }

  /** The outcome of a snapshot the leader sent to `id`. Required for every 'snap' message sent. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(makeMessage({ type: 'snapStatus', from: id, reject: !ok }));
  }

  /** Applies a committed conf change (in log order, when the host applies its entry). */
  applyConfChange(cc: ConfChange): ConfState {
    const cs = this.raft.applyConfChange(cc);
    this.raft.assertInvariants();
    return cs;
  }

  hasReady(): boolean {
    if (this.outstanding !== undefined) return false;
    const r = this.raft;
    if (!sameSoftState(r.softState(), this.prevSoftState)) return true;
    if (!sameHardState(r.hardState(), this.prevHardState)) return true;
    if (r.log.hasPendingSnapshot() || r.log.unstable.entries.length > 0) return true;
    if (r.msgs.length > 0 || r.msgsAfterPersist.length > 0 || r.readStates.length > 0) return true;
    return r.log.hasNextCommittedEntries();
  }

  /** The next batch of work. The host must call advance(rd) before the next ready(). */
  ready(): Ready {
    assert(this.outstanding === undefined, 'ready() called again before advance()');
    const r = this.raft;
    const entries = r.log.unstable.entries.slice();
    const snapshot = r.log.unstable.snapshot;
    const committedEntries = r.log.nextCommittedEntries();
    const soft = r.softState();
    const hard = r.hardState();
    const rd: Ready = {
      entries,
      committedEntries,
      messages: r.msgs,
      messagesAfterPersist: r.msgsAfterPersist,
      readStates: r.readStates,
      mustSync:
        entries.length > 0 || snapshot !== undefined || hard.term !== this.prevHardState.term || hard.vote !== this.prevHardState.vote,
    };
    if (snapshot !== undefined) rd.snapshot = snapshot;
    if (!sameSoftState(soft, this.prevSoftState)) rd.softState = soft;
    if (!sameHardState(hard, this.prevHardState)) rd.hardState = hard;
    this.prevSoftState = soft;
    this.prevHardState = hard;
    r.msgs = [];
    r.msgsAfterPersist = [];
    r.readStates = [];
    const lastCommitted = committedEntries[committedEntries.length - 1];
    if (lastCommitted !== undefined) r.log.acceptApplying(lastCommitted.index);
    this.outstanding = rd;
    return rd;
  }

  /** The host finished the Ready: its state is durable and its committed entries applied. */
  advance(rd: Ready): void {
    assert(rd === this.outstanding, 'advance() with a Ready that is not the outstanding one');
    this.outstanding = undefined;
    const r = this.raft;
    if (rd.snapshot !== undefined) {
      r.log.stableSnapTo(rd.snapshot.metadata.index);
      if (rd.snapshot.metadata.index > r.log.applied) r.log.appliedTo(rd.snapshot.metadata.index);
    }
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry !== undefined) r.log.stableTo(lastEntry.index, lastEntry.term);
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted !== undefined) {
      r.log.appliedTo(lastCommitted.index);
      r.reduceUncommittedBytes(payloadBytes(rd.committedEntries));
    }
    r.onPersisted();
    r.assertInvariants();
  }

  /** The node's own state, cheap enough for every response header (no membership copy, no progress map). */
  basicStatus(): BasicStatus {
    const r = this.raft;
    return { id: r.id, hardState: r.hardState(), softState: r.softState(), applied: r.log.applied };
  }

  status(): Status {
    const r = this.raft;
    const status: Status = { ...this.basicStatus(), confState: r.confState(), leadTransferee: r.leadTransferee };
    if (r.role === 'leader') {
      const progress = new Map<NodeId, ProgressStatus>();
      for (const id of r.tracker.ids()) progress.set(id, r.tracker.progress.get(id)!.status());
      status.progress = progress;
    }
    return status;
  }

  /** Test and debugging view: every entry in the log (stable and unstable). */
  logEntries(): { firstIndex: number; committed: number; applied: number; entries: Entry[] } {
    const log = this.raft.log;
    return { firstIndex: log.firstIndex(), committed: log.committed, applied: log.applied, entries: log.allEntries() };
  }
}
