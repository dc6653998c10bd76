/**
 * Inflights: the append messages sent to one follower in replicate state and not yet acknowledged,
 * bounded by count and by bytes. The leader pauses sending to that follower while the window is full.
 */
import { assert } from '../base/index.ts';

interface Inflight {
  /** Last entry index the message carried. */
  index: number;
  bytes: number;
}

export class Inflights {
  /** Invariant: indexes strictly increase from head to tail. */
  private queue: Inflight[] = [];
  /** Invariant: totalBytes === sum of queue bytes. */
  private totalBytes = 0;

  constructor(
    private readonly maxMsgs: number,
    private readonly maxBytes: number,
  ) {
    assert(maxMsgs >= 1 && maxBytes >= 1, `inflight limits ${maxMsgs} msgs / ${maxBytes} bytes must be positive`);
  }

  /** Records a message whose last entry is `index`. Invariant: not full, and index beyond the last one. */
  add(index: number, bytes: number): void {
    assert(!this.full(), 'inflights add while full');
    const last = this.queue[this.queue.length - 1];
    assert(last === undefined || index > last.index, `inflight index ${index} does not increase past ${last?.index}`);
    this.queue.push({ index, bytes });
    this.totalBytes += bytes;
  }

  /** Frees every message whose last index is <= `index` (acknowledged). */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.queue.length && this.queue[n]!.index <= index) {
      this.totalBytes -= this.queue[n]!.bytes;
      n++;
    }
    if (n > 0) this.queue = this.queue.slice(n);
  }

  /** Frees the oldest message (used when a heartbeat response shows the follower alive but acks were lost). */
  freeFirstOne(): void {
    const first = this.queue.shift();
    if (first !== undefined) this.totalBytes -= first.bytes;
  }

  full(): boolean {
    return this.queue.length >= this.maxMsgs || this.totalBytes >= this.maxBytes;
  }

  count(): number {
    return this.queue.length;
  }

  bytes(): number {
    return this.totalBytes;
  }

  reset(): void {
    this.queue = [];
    this.totalBytes = 0;
  }
}
