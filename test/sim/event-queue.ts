/**
 * The simulator's only source of progress: a priority queue of callbacks keyed by simulated time.
 * Invariant: events run in (time, insertion order), so a seed replays exactly; time never goes back.
 * For hosts whose events start asynchronous work (the replica host), runUntilSettled lets every
 * promise job an event caused run before the next event, so the order stays the seed's.
 */
interface Event {
  time: number;
  order: number;
  run: () => void;
}

export class EventQueue {
  private heap: Event[] = [];
  private inserted = 0;
  /** The time of the event being run (or last run). */
  now = 0;

  at(time: number, run: () => void): void {
    if (!(time >= this.now)) throw new RangeError(`event scheduled at ${time}, before now ${this.now}`);
    this.push({ time, order: this.inserted++, run });
  }

  after(delay: number, run: () => void): void {
    this.at(this.now + delay, run);
  }

  get size(): number {
    return this.heap.length;
  }

  /** Runs events in order until the queue is empty, `until` is passed, or `stop()` says so. */
  runUntil(until: number, stop: () => boolean = () => false): void {
    while (!stop() && this.runNext(until));
    if (!stop()) this.now = Math.max(this.now, until);
  }

  /**
   * As runUntil, but after each event waits until every promise job it caused (and every job those
   * caused) has run: Node runs all of them before a setImmediate callback. Nothing else may schedule
   * real I/O or timers meanwhile, or the order would no longer be the seed's.
   */
  async runUntilSettled(until: number, stop: () => boolean = () => false): Promise<void> {
    await settled();
    while (!stop() && this.runNext(until)) await settled();
    if (!stop()) this.now = Math.max(this.now, until);
  }

  /** Runs the next event if it is due by `until`; false when there is none. */
  private runNext(until: number): boolean {
    const top = this.heap[0];
    if (top === undefined || top.time > until) return false;
    this.pop();
    this.now = top.time;
    top.run();
    return true;
  }

  private push(e: Event): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(e, h[parent] as Event)) break;
      h[i] = h[parent] as Event;
      i = parent;
    }
    h[i] = e;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop() as Event;
    if (h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const child = r < h.length && less(h[r] as Event, h[l] as Event) ? r : l;
      if (!less(h[child] as Event, last)) break;
      h[i] = h[child] as Event;
      i = child;
    }
    h[i] = last;
  }
}

function settled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function less(a: Event, b: Event): boolean {
  return a.time < b.time || (a.time === b.time && a.order < b.order);
}
