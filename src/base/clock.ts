/**
 * Time as an injected seam. Code that waits or timestamps takes a Clock; production passes
 * realClock, tests pass a ManualClock and move time by hand, so no test sleeps.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  nowMs(): number;
  /** Calls `callback` once after `delayMs` milliseconds unless cancelled first. */
  setTimer(delayMs: number, callback: () => void): TimerHandle;
}

export const realClock: Clock = {
  nowMs: () => Date.now(),
  setTimer(delayMs, callback) {
    const timer = setTimeout(callback, delayMs);
    return { cancel: () => clearTimeout(timer) };
  },
};

interface PendingTimer {
  dueMs: number;
  order: number;
  callback: () => void;
  cancelled: boolean;
}

/** A clock that moves only when told to; timers fire in due order (ties in creation order). */
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
