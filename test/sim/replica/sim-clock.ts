/**
 * A member's Clock in the replica host: time is the simulation's event queue (in microseconds), read
 * through the member's own skew (a real timer drifts), and everything it schedules — timers and
 * deferred work — runs only while the incarnation that scheduled it is alive, so a crashed process
 * never wakes up again.
 */
import type { Clock, TimerHandle } from '../../../src/base/index.ts';
import type { EventQueue } from '../event-queue.ts';

export const usPerMs = 1000;

export class SimClock implements Clock {
  /**
   * @param rate how fast this member's clock runs against simulated time (1: exactly; 0.9: slow)
   * @param alive whether the incarnation that owns this clock is still running
   */
  constructor(
    private readonly queue: EventQueue,
    private readonly rate: number,
    private readonly offsetMs: number,
    private readonly alive: () => boolean,
  ) {}

  /** Whole milliseconds, as Date.now(). */
  nowMs(): number {
    return this.offsetMs + Math.floor((this.queue.now / usPerMs) * this.rate);
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    if (!(delayMs >= 0)) throw new RangeError(`timer delay ${delayMs} ms is negative or not a number`);
    let cancelled = false;
    this.queue.after(Math.ceil((delayMs * usPerMs) / this.rate), () => {
      if (!cancelled && this.alive()) callback();
    });
    return { cancel: () => { cancelled = true; } };
  }

  defer(callback: () => void): void {
    this.queue.after(0, () => {
      if (this.alive()) callback();
    });
  }
}
