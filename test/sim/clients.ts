/**
 * Simulated clients: each runs one operation at a time against the KV — read (through ReadIndex, or
 * through the log), write, compare-and-set — on a few keys, sending it to a member node. An operation
 * that gets no answer within the timeout becomes indeterminate and the client moves on, often to
 * another node. Every write carries a unique value, which keeps the linearizability search cheap.
 *
 * The history records call and return on one global counter that increases with every event, so the
 * order of stamps is the real-time order of the simulation.
 */
import type { Random } from '../../src/base/index.ts';
import type { KvInput, KvOperation } from '../support/linearizability/index.ts';
import type { Counters } from './counters.ts';
import type { EventQueue } from './event-queue.ts';
import type { ClientReply, SimNode } from './node.ts';

export const simKeys = ['x', 'y', 'z'];

/** One operation with how it ended. */
export interface ClientOp {
  opId: string;
  op: KvOperation;
  status: 'pending' | 'done' | 'dropped' | 'timedOut';
  /** For a completed write or compare-and-set: the log index it was applied at, if the node said. */
  index?: number;
  /** Who the operation was sent to, and what it learned (for failure reports). */
  via?: string;
}

export interface ClientEnv {
  queue: EventQueue;
  random: Random;
  counters: Counters;
  /** A fresh stamp for the history clock. */
  stamp(): number;
  /** Nodes a client may talk to (members, up or down). */
  targets(): SimNode[];
  /** Simulated time units in a tick. */
  tickUnits: number;
  timeoutTicks: number;
}

export class SimClient {
  private seq = 0;
  private target: SimNode | undefined;
  private lastSeen = new Map<string, string | null>();
  /** When false the client finishes its current operation and issues no more. */
  active = true;
  idle = true;

  constructor(readonly id: number, private readonly env: ClientEnv, private readonly ops: ClientOp[]) {}

  start(): void {
    this.scheduleNext();
  }

  private scheduleNext(): void {
    this.idle = true;
    if (!this.active) return;
    this.env.queue.after(this.env.random.int(0, 3 * this.env.tickUnits), () => this.issue());
  }

  private pickTarget(): SimNode | undefined {
    const targets = this.env.targets();
    if (this.target && targets.includes(this.target) && this.env.random.chance(0.7)) return this.target;
    if (targets.length === 0) return undefined;
    return targets[this.env.random.int(0, targets.length - 1)];
  }

  private makeInput(): { input: KvInput; viaLog: boolean } {
    const r = this.env.random;
    const key = simKeys[r.int(0, simKeys.length - 1)] as string;
    const value = `c${this.id}.${this.seq}`;
    const roll = r.int(0, 99);
    if (roll < 30) return { input: { kind: 'read', key }, viaLog: false };
    if (roll < 40) return { input: { kind: 'read', key }, viaLog: true };
    if (roll < 75) return { input: { kind: 'write', key, value }, viaLog: true };
    const expected = r.chance(0.2) ? null : (this.lastSeen.get(key) ?? null);
    return { input: { kind: 'cas', key, expected, value }, viaLog: true };
  }

  private issue(): void {
    if (!this.active) return;
    const node = this.pickTarget();
    if (!node) return this.scheduleNext();
    this.idle = false;
    this.target = node;
    this.seq++;
    const { input, viaLog } = this.makeInput();
    const opId = `c${this.id}#${this.seq}`;
    const entry: ClientOp = {
      opId,
      op: { clientId: this.id, input, output: undefined, call: this.env.stamp(), return: Infinity },
      status: 'pending',
    };
    this.ops.push(entry);
    this.env.counters.add('ops');
    const reply = (r: ClientReply): void => {
      this.env.queue.after(this.env.random.int(1, this.env.tickUnits), () => this.onReply(entry, node, r));
    };
    this.env.queue.after(this.env.random.int(1, this.env.tickUnits), () => {
      // A request to a node that is down when it arrives is lost; the client will time out.
      if (!node.up) return;
      if (input.kind === 'read' && !viaLog) node.read(opId, input.key, reply);
      else node.propose(opId, input, reply);
    });
    this.env.queue.after(this.env.timeoutTicks * this.env.tickUnits, () => {
      if (entry.status !== 'pending') return;
      entry.status = 'timedOut';
      this.env.counters.add('opsTimedOut');
      this.target = undefined;
      this.scheduleNext();
    });
  }

  private onReply(entry: ClientOp, node: SimNode, r: ClientReply): void {
    if (entry.status !== 'pending') return;
    if (r.kind === 'dropped') {
      entry.status = 'dropped';
      this.env.counters.add('opsDropped');
      this.target = undefined;
    } else {
      entry.status = 'done';
      entry.op.output = r.output;
      entry.op.return = this.env.stamp();
      if (r.index !== undefined) entry.index = r.index;
      this.env.counters.add('opsDone');
      if (r.output.kind === 'read') this.lastSeen.set(entry.op.input.key, r.output.value);
      else if (r.output.kind === 'write' || (r.output.kind === 'cas' && r.output.ok)) {
        const input = entry.op.input;
        if (input.kind !== 'read') this.lastSeen.set(input.key, input.value);
      } else this.lastSeen.delete(entry.op.input.key);
      this.target = node;
    }
    this.scheduleNext();
  }
}

/**
 * The history handed to the checker: completed operations; writes and compare-and-sets that timed out
 * stay as indeterminate if some node ever applied them. Left out, because they cannot explain or
 * contradict anything: dropped operations (the core refused them), reads without an answer, and
 * timed-out operations no state machine ever applied during the run — nothing could have observed
 * them, as reads answer from applied state. (Only the simulator knows the last fact; using it makes
 * the check stricter, never looser, and keeps the search small.)
 */
export function historyOf(ops: readonly ClientOp[], appliedAnywhere: ReadonlySet<string>): KvOperation[] {
  return ops
    .filter((o) => o.status === 'done' || (o.status !== 'dropped' && o.op.input.kind !== 'read' && appliedAnywhere.has(o.opId)))
    .map((o) => (o.status === 'done' ? o.op : { ...o.op, output: undefined, return: Infinity }));
}
