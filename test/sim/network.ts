/**
 * The simulated network between Raft nodes: every message gets a random delay (so messages reorder),
 * and may be dropped or duplicated. Partitions cut directed links; a message is checked against the
 * cuts when it arrives, so a cut also loses what was in flight.
 *
 * Messages are deep-copied on send, as a real wire would, so no two nodes ever share an object.
 */
import type { Message, NodeId } from '../../src/raft/index.ts';
import type { Random } from '../../src/base/index.ts';
import type { Counters } from './counters.ts';
import type { EventQueue } from './event-queue.ts';

export interface NetworkParams {
  dropProbability: number;
  duplicateProbability: number;
  /** Delay of an ordinary message, in simulated time units (a tick is `tickUnits`). */
  delayMin: number;
  delayMax: number;
  /** Some messages are held much longer, which reorders them past many later ones. */
  longDelayProbability: number;
  longDelayMax: number;
}

export type Outcome = 'delivered' | 'dropped' | 'cut';

export class SimNetwork {
  private readonly cuts = new Set<string>();
  private readonly sent = new Map<string, number>();
  private readonly delivered = new Map<string, number>();
  /** When false, drop and duplication are off (the healing phase); delays stay. */
  lossy = true;

  constructor(
    private readonly queue: EventQueue,
    private readonly random: Random,
    private readonly params: NetworkParams,
    private readonly counters: Counters,
    private readonly deliver: (m: Message) => void,
  ) {}

  /**
   * Sends a copy of `m`. `onOutcome`, if given, hears once, at the time the message would have
   * arrived, whether it was delivered, dropped or cut by a partition (as a transport would notice).
   */
  send(m: Message, onOutcome?: (outcome: Outcome) => void): void {
    this.counters.add('messagesSent');
    if (this.lossy && this.random.chance(this.params.dropProbability)) {
      this.counters.add('messagesDropped');
      if (onOutcome) this.queue.after(this.delay(), () => onOutcome('dropped'));
      return;
    }
    const copies = this.lossy && this.random.chance(this.params.duplicateProbability) ? 2 : 1;
    if (copies === 2) this.counters.add('messagesDuplicated');
    const link = `${m.from}>${m.to}`;
    const seq = (this.sent.get(link) ?? 0) + 1;
    this.sent.set(link, seq);
    for (let c = 0; c < copies; c++) {
      const copy = structuredClone(m);
      this.queue.after(this.delay(), () => this.arrive(copy, link, seq, c === 0 ? onOutcome : undefined));
    }
  }

  private delay(): number {
    return this.random.chance(this.params.longDelayProbability)
      ? this.random.int(this.params.delayMax, this.params.longDelayMax)
      : this.random.int(this.params.delayMin, this.params.delayMax);
  }

  private arrive(m: Message, link: string, seq: number, onOutcome: ((outcome: Outcome) => void) | undefined): void {
    if (this.cuts.has(link)) {
      this.counters.add('messagesCut');
      onOutcome?.('cut');
      return;
    }
    const last = this.delivered.get(link) ?? 0;
    if (seq < last) this.counters.add('messagesReordered');
    else this.delivered.set(link, seq);
    this.deliver(m);
    onOutcome?.('delivered');
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cuts.has(`${from}>${to}`);
  }

  /** Cuts every link from a node in `from` to a node in `to` (one direction only). */
  cutOneWay(from: readonly NodeId[], to: readonly NodeId[]): void {
    for (const a of from) for (const b of to) if (a !== b) this.cuts.add(`${a}>${b}`);
  }

  /** Two halves that cannot talk to each other at all. */
  partition(a: readonly NodeId[], b: readonly NodeId[]): void {
    this.cutOneWay(a, b);
    this.cutOneWay(b, a);
  }

  /** Two halves cut apart, except `bridge`, which still talks to both. */
  bridge(a: readonly NodeId[], b: readonly NodeId[], bridge: NodeId): void {
    this.partition(a.filter((x) => x !== bridge), b.filter((x) => x !== bridge));
  }

  heal(): void {
    this.cuts.clear();
  }

  get partitioned(): boolean {
    return this.cuts.size > 0;
  }
}
