/**
 * Time and scheduling as an injected seam. Code that waits, timestamps or defers work takes a Clock;
 * production passes realClock, tests pass a ManualClock and move time by hand, so no test sleeps, and
 * the simulator passes a clock of its own event queue, so a seed replays exactly.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  nowMs(): number;
  /** Calls `callback` once after `delayMs` milliseconds unless cancelled first. */
  setTimer(delayMs: number, callback: () => void): TimerHandle;
  /**
   * Calls `callback` soon, after the work already queued (Node's setImmediate: pending I/O callbacks
   * and promise jobs run first). Used to batch the work that arrives in one turn, and to yield.
   */
  defer(callback: () => void): void;
}

export const realClock: Clock = {
  nowMs: () => Date.now(),
  setTimer(delayMs, callback) {
    const timer = setTimeout(callback, delayMs);
    return { cancel: () => clearTimeout(timer) };
  },
  defer(callback) {
    setImmediate(callback);
  },
};

interface PendingTimer {
  dueMs: number;
  order: number;
  callback: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to; timers fire in due order (ties in creation order). Deferred
 * work is not time: it runs on Node's setImmediate, as with the real clock.
 */
export class ManualClock implements Clock {
  private currentMs: number;
  private timers: PendingTimer[] = [];
  private created = 0;

  constructor(startMs = 0) {
    this.currentMs = startMs;
  }

  nowMs(): number {
    return this.currentMs;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    if (!(delayMs >= 0)) throw new RangeError(`timer delay ${delayMs} ms is negative or not a number`);
    const timer: PendingTimer = { dueMs: this.currentMs + delayMs, order: this.created++, callback, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => { timer.cancelled = true; } };
  }

  defer(callback: () => void): void {
    setImmediate(callback);
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`cannot move a clock by ${ms} ms`);
    const targetMs = this.currentMs + ms;
    for (;;) {
      const next = this.nextDue(targetMs);
      if (next === undefined) break;
      this.timers.splice(this.timers.indexOf(next), 1);
      this.currentMs = next.dueMs;
      next.callback();
    }
    this.currentMs = targetMs;
  }

  /** Timers neither fired nor cancelled. */
  pendingTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  private nextDue(limitMs: number): PendingTimer | undefined {
    this.timers = this.timers.filter((t) => !t.cancelled);
    let best: PendingTimer | undefined;
    for (const t of this.timers) {
      if (t.dueMs > limitMs) continue;
      if (!best || t.dueMs < best.dueMs || (t.dueMs === best.dueMs && t.order < best.order)) best = t;
    }
    return best;
  }
}
