/**
 * One simulated member: a RawNode driven by a host that honours the Ready contract exactly —
 *   send `messages`; persist snapshot, entries, hard state; sync if mustSync; send
 *   `messagesAfterPersist`; apply committed entries (conf changes through applyConfChange); advance —
 * plus the KV state machine, client proposals (answered when applied on this node) and ReadIndex reads
 * (answered once applied >= the read index). A crash loses the RawNode, the state machine, pending
 * requests and whatever the disk had not synced; a restart rebuilds them from the disk alone.
 */
import { type Random, seededRandom } from '../../src/base/index.ts';
import {
  type Config, type ConfChange, type ConfState, type Entry, type Message, type NodeId, type Ready, type Role,
  MemoryStorage, ProposalDroppedError, RaftError, RawNode, decodeConfChange,
} from '../../src/raft/index.ts';
import { type KvInput, type KvOutput, applyKv } from '../support/linearizability/index.ts';
import type { Counters } from './counters.ts';
import type { DurableState } from './disk.ts';
import { SimDisk } from './disk.ts';
import type { EventQueue } from './event-queue.ts';
import type { HostBugs } from './host-bugs.ts';
import type { Invariants } from './invariants.ts';
import { KvStateMachine, decodeCommand, encodeCommand } from './kv.ts';

/** `index`: the log index a write was applied at, or a read's read index (absent if unknown). */
export type ClientReply = { kind: 'done'; output: KvOutput; index?: number } | { kind: 'dropped' };

export interface NodeEnv {
  queue: EventQueue;
  random: Random;
  invariants: Invariants;
  counters: Counters;
  bugs: HostBugs;
  raftConfig: Omit<Config, 'id' | 'applied'>;
  /** Take a state machine snapshot after this many entries applied since the last one. */
  snapshotEveryEntries: number;
  /** The longest fsync, in simulated time units; 0 = syncs are instant (the Ready is handled in one event). */
  syncDelayMax: number;
  /** Log entries kept behind a snapshot, so a slightly lagging follower still catches up from the log. */
  entriesKeptAfterSnapshot: number;
  send(from: SimNode, m: Message): void;
  onConfChangeApplied(node: NodeId, index: number, cc: ConfChange, cs: ConfState): void;
  trace(line: string): void;
  /** Some node applied the command with this operation id. */
  onCommandApplied(opId: string): void;
}

const maxBytes = Number.MAX_SAFE_INTEGER;
/** How far the buggy background sync lags, in ticks of 10 time units. */
const tickUnitsForBug = 10;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class SimNode {
  readonly disk: SimDisk;
  state: 'up' | 'down' | 'stopped' = 'down';
  /** Bumped on every start; callbacks from an older incarnation are ignored. */
  incarnation = 0;
  private raw: RawNode | undefined;
  private storage: MemoryStorage | undefined;
  private kv = new KvStateMachine();
  /** Invariant: applied <= commit; entries are applied in index order with no gap. */
  applied = 0;
  private snapshotIndex = 0;
  private confState: ConfState | undefined;
  private checkedCommit = 0;
  /** A Ready is waiting for its sync to complete (see handleReady). */
  private syncing = false;
  private pausedUntil = 0;
  role: Role = 'follower';
  term = 0;
  leader: NodeId = 0;
  private pendingProposals = new Map<string, (r: ClientReply) => void>();
  private pendingReads = new Map<string, { key: string; index: number | undefined; reply: (r: ClientReply) => void }>();

  constructor(readonly id: NodeId, initial: DurableState, private readonly env: NodeEnv) {
    this.disk = new SimDisk(initial);
  }

  get up(): boolean {
    return this.state === 'up';
  }

  /** Starts (or restarts) the node from what its disk holds durably. */
  start(): void {
    const d = this.disk.read();
    const storage = new MemoryStorage();
    this.kv = new KvStateMachine();
    this.snapshotIndex = 0;
    this.confState = undefined;
    if (d.snapshot) {
      storage.applySnapshot(d.snapshot);
      this.kv = KvStateMachine.decode(d.snapshot.data);
      this.snapshotIndex = d.snapshot.metadata.index;
      this.confState = d.snapshot.metadata.confState;
    }
    const entries = d.entries.filter((e) => e.index > this.snapshotIndex);
    if (entries.length > 0) storage.append(entries);
    storage.setHardState(d.hardState);
    // The core's contract: initialState().confState is the membership as of Config.applied. This host
    // restarts from its snapshot (applied = snapshot index) and replays the committed entries after it,
    // so the storage keeps the snapshot's membership (applySnapshot set it).
    this.env.invariants.onRestart(this.id, d.hardState);
    this.applied = this.snapshotIndex;
    this.checkedCommit = this.snapshotIndex;
    this.storage = storage;
    this.incarnation++;
    const random = seededRandom(this.env.random.int(0, 2 ** 31 - 1));
    this.raw = new RawNode({ ...this.env.raftConfig, id: this.id, applied: this.snapshotIndex }, storage, random);
    const status = this.raw.status();
    this.role = status.softState.role;
    this.leader = status.softState.leader;
    this.term = status.hardState.term;
    this.state = 'up';
    this.handleReadies();
  }

  /** Power loss: the in-memory node is gone and unsynced writes may be lost. */
  crash(): void {
    if (this.state !== 'up') return;
    const lost = this.disk.crash(this.env.random);
    this.env.counters.add('unsyncedRecordsLost', lost);
    if (lost > 0) this.env.trace(`node ${this.id} lost ${lost} unsynced disk records`);
    this.goDown('down');
  }

  /** Removed from the cluster: stops for good. */
  stop(): void {
    this.goDown('stopped');
  }

  private goDown(state: 'down' | 'stopped'): void {
    this.state = state;
    this.syncing = false;
    this.pausedUntil = 0;
    this.raw = undefined;
    this.storage = undefined;
    this.pendingProposals.clear();
    this.pendingReads.clear();
    this.role = 'follower';
    this.leader = 0;
  }

  tick(): void {
    if (!this.raw || this.paused) return;
    this.raw.tick();
    this.handleReadies();
  }

  deliver(m: Message): void {
    this.whenRunning(() => {
      if (!this.raw) return;
      this.guard(() => this.raw?.step(m));
      this.handleReadies();
    });
  }

  reportSnapshot(to: NodeId, ok: boolean): void {
    this.raw?.reportSnapshot(to, ok);
    this.handleReadies();
  }

  reportUnreachable(to: NodeId): void {
    this.raw?.reportUnreachable(to);
    this.handleReadies();
  }

  transferLeader(to: NodeId): void {
    this.raw?.transferLeader(to);
    this.handleReadies();
  }

  /** Proposes a conf change; false when the core dropped it. */
  proposeConfChange(cc: ConfChange): boolean {
    if (!this.raw) return false;
    const ok = this.guard(() => this.raw?.proposeConfChange(cc));
    this.handleReadies();
    return ok;
  }

  /** A client write or compare-and-set (or a read through the log): answered when applied here. */
  propose(opId: string, input: KvInput, reply: (r: ClientReply) => void): void {
    if (this.paused) return this.whenRunning(() => this.propose(opId, input, reply));
    if (!this.raw) return;
    const accepted = this.guard(() => this.raw?.propose(encodeCommand({ opId, input })));
    if (!accepted) {
      reply({ kind: 'dropped' });
    } else if (this.env.bugs.ackOnPropose) {
      reply({ kind: 'done', output: applyKv(this.kv.get(input.key), input)[1] });
    } else {
      this.pendingProposals.set(opId, reply);
    }
    this.handleReadies();
  }

  /** A linearizable read through ReadIndex. */
  read(opId: string, key: string, reply: (r: ClientReply) => void): void {
    if (this.paused) return this.whenRunning(() => this.read(opId, key, reply));
    if (!this.raw) return;
    if (this.env.bugs.localFollowerReads && this.role !== 'leader') {
      reply({ kind: 'done', output: { kind: 'read', value: this.kv.get(key) } });
      return;
    }
    this.pendingReads.set(opId, { key, index: undefined, reply });
    const accepted = this.guard(() => this.raw?.readIndex(encoder.encode(opId)));
    if (!accepted) {
      this.pendingReads.delete(opId);
      reply({ kind: 'dropped' });
    }
    this.handleReadies();
  }

  /** Runs a core call; expected Raft errors mean "not accepted", anything else is a bug and propagates. */
  private guard(call: () => void): boolean {
    try {
      call();
      return true;
    } catch (e) {
      if (e instanceof ProposalDroppedError) {
        this.env.counters.add('proposalsDropped');
        return false;
      }
      if (e instanceof RaftError) {
        this.env.counters.add(`raftError:${e.code}`);
        return false;
      }
      throw e;
    }
  }

  private handleReadies(): void {
    // While a Ready waits for its sync, the core keeps stepping but produces no new Ready.
    while (this.raw?.hasReady() && !this.syncing) {
      const raw = this.raw;
      this.handleReady(raw, raw.ready());
    }
  }

  /**
   * Steps 1–2 of the contract (send `messages`, write snapshot, entries, hard state), then the sync.
   * With `syncDelayMax` > 0 the sync is an fsync that takes time: the node goes on stepping messages and
   * ticking meanwhile, and steps 3–5 run when the sync completes — unless a crash came first.
   */
  private handleReady(raw: RawNode, rd: Ready): void {
    const inv = this.env.invariants;
    const storage = this.storage as MemoryStorage;
    if (rd.hardState) {
      inv.onHardState(this.id, rd.hardState);
      this.term = rd.hardState.term;
    }
    if (rd.softState) {
      this.role = rd.softState.role;
      this.leader = rd.softState.leader;
      if (this.role === 'leader') {
        const term = raw.status().hardState.term;
        inv.onLeader(this.id, term);
        this.env.trace(`node ${this.id} leads term ${term}`);
      }
    }
    for (const m of rd.messages) this.send(m);

    // Persist: snapshot, entries, hard state — in that order, as one journal.
    if (rd.snapshot) {
      storage.applySnapshot(rd.snapshot);
      this.disk.write({ kind: 'installSnapshot', snapshot: rd.snapshot, hardState: rd.hardState });
    }
    const first = rd.entries[0];
    if (first !== undefined) {
      inv.onAppend(this.id, rd.entries, this.termOr(first.index - 1, -1));
      storage.append(rd.entries);
      this.disk.write({ kind: 'entries', entries: rd.entries });
    }
    if (rd.hardState) {
      storage.setHardState(rd.hardState);
      this.disk.write({ kind: 'hardState', hardState: rd.hardState });
    }
    if (!rd.mustSync) return this.finishReady(raw, storage, rd);
    if (this.env.bugs.sendBeforeSync) {
      // The bug: the sync lags behind the messages that depend on it.
      this.afterDelay(this.env.random.int(1, 10 * tickUnitsForBug), () => this.sync());
      return this.finishReady(raw, storage, rd);
    }
    if (this.env.syncDelayMax === 0) {
      this.sync();
      return this.finishReady(raw, storage, rd);
    }
    this.syncing = true;
    this.afterDelay(this.env.random.int(1, this.env.syncDelayMax), () => {
      this.sync();
      this.syncing = false;
      this.whenRunning(() => {
        if (this.raw !== raw) return;
        this.finishReady(raw, storage, rd);
        this.handleReadies();
      });
    });
  }

  /** Steps 3–5: send `messagesAfterPersist`, load the snapshot, apply, serve reads, advance. */
  private finishReady(raw: RawNode, storage: MemoryStorage, rd: Ready): void {
    for (const m of rd.messagesAfterPersist) this.send(m);
    if (rd.hardState) this.checkCommitted(storage, rd.hardState.commit);
    if (rd.snapshot) this.loadSnapshot(rd.snapshot.metadata.index, rd.snapshot.metadata.confState, rd.snapshot.data);
    for (const e of rd.committedEntries) this.apply(raw, e);
    for (const rs of rd.readStates) {
      const read = this.pendingReads.get(decoder.decode(rs.requestCtx));
      if (read) read.index = rs.index;
    }
    raw.advance(rd);
    this.serveReads();
    this.maybeSnapshot(storage);
  }

  /** Runs `f` after `delay` if this incarnation is still alive then. */
  private afterDelay(delay: number, f: () => void): void {
    const incarnation = this.incarnation;
    this.env.queue.after(delay, () => {
      if (this.incarnation === incarnation && this.up) f();
    });
  }

  /** Runs `f` now, or when a pause ends (a paused process does nothing; its input waits). */
  private whenRunning(f: () => void): void {
    if (this.pausedUntil <= this.env.queue.now) return f();
    const incarnation = this.incarnation;
    this.env.queue.at(this.pausedUntil, () => {
      if (this.incarnation === incarnation && this.up) this.whenRunning(f);
    });
  }

  /** A process pause (a long GC, a stopped VM): no ticks, and every input waits until it ends. */
  pause(until: number): void {
    if (this.up) this.pausedUntil = Math.max(this.pausedUntil, until);
  }

  get paused(): boolean {
    return this.up && this.pausedUntil > this.env.queue.now;
  }

  private send(m: Message): void {
    this.env.invariants.onSend(this.id, m, this.disk.durableHardState);
    this.env.send(this, m);
  }

  private sync(): void {
    this.disk.sync();
    this.env.invariants.onDurable(this.id, this.disk.durableHardState);
  }

  private termOr(index: number, fallback: number): number {
    try {
      return this.storage?.term(index) ?? fallback;
    } catch {
      return fallback;
    }
  }

  /** Every entry up to the node's commit index must be the entry committed there everywhere. */
  private checkCommitted(storage: MemoryStorage, commit: number): void {
    const lo = Math.max(this.checkedCommit + 1, storage.firstIndex());
    if (commit >= lo) {
      for (const e of storage.entries(lo, commit + 1, maxBytes)) this.env.invariants.onCommitted(this.id, e);
    }
    this.checkedCommit = Math.max(this.checkedCommit, commit);
  }

  private loadSnapshot(index: number, confState: ConfState, data: Uint8Array): void {
    this.kv = KvStateMachine.decode(data);
    this.env.invariants.onImage(this.id, index, data);
    this.applied = index;
    this.snapshotIndex = index;
    this.confState = confState;
    this.checkedCommit = Math.max(this.checkedCommit, index);
    this.env.counters.add('snapshotsInstalled');
  }

  private apply(raw: RawNode, e: Entry): void {
    if (e.index !== this.applied + 1) {
      this.env.invariants.fail('apply order', `node ${this.id} applied index ${e.index} after ${this.applied}`);
    }
    this.env.invariants.onApply(this.id, e);
    this.applied = e.index;
    if (e.type === 'confChange') {
      const cc = decodeConfChange(e.data);
      this.confState = raw.applyConfChange(cc);
      this.env.onConfChangeApplied(this.id, e.index, cc, this.confState);
      return;
    }
    if (e.data.length === 0) return;
    const command = decodeCommand(e.data);
    const output = this.kv.apply(command);
    this.env.onCommandApplied(command.opId);
    const reply = this.pendingProposals.get(command.opId);
    if (reply) {
      this.pendingProposals.delete(command.opId);
      reply({ kind: 'done', output, index: e.index });
    }
  }

  private serveReads(): void {
    for (const [opId, read] of this.pendingReads) {
      if (read.index !== undefined && read.index <= this.applied) {
        this.pendingReads.delete(opId);
        read.reply({ kind: 'done', output: { kind: 'read', value: this.kv.get(read.key) }, index: read.index });
      }
    }
  }

  private maybeSnapshot(storage: MemoryStorage): void {
    if (this.raw === undefined || this.confState === undefined) return;
    if (this.applied - this.snapshotIndex < this.env.snapshotEveryEntries) return;
    const data = this.kv.encode();
    storage.createSnapshot(this.applied, this.confState, data);
    this.env.invariants.onImage(this.id, this.applied, data);
    this.snapshotIndex = this.applied;
    this.disk.write({ kind: 'localSnapshot', snapshot: storage.snapshot() });
    const compactTo = this.applied - this.env.entriesKeptAfterSnapshot;
    if (compactTo >= storage.firstIndex()) {
      storage.compact(compactTo);
      this.disk.write({ kind: 'compact', index: compactTo });
    }
    this.sync();
    this.env.counters.add('snapshotsTaken');
  }

  /** One line of state for failure traces. */
  describe(): string {
    if (!this.raw || !this.storage) return `node ${this.id}: ${this.state}`;
    const st = this.raw.status();
    const cs = st.confState;
    return `node ${this.id}: ${this.state}${this.paused ? ' (paused)' : ''} ${st.softState.role} term ${st.hardState.term} ` +
      `vote ${st.hardState.vote} leader ${st.softState.leader} commit ${st.hardState.commit} applied ${this.applied} ` +
      `log [${this.storage.firstIndex()}, ${this.storage.lastIndex()}] voters ${cs.voters.join(',')} learners ${cs.learners.join(',')}`;
  }

  /** Whether the state machine has applied this operation (for the lost-write check). */
  hasApplied(opId: string): boolean {
    return this.kv.hasApplied(opId);
  }
}
