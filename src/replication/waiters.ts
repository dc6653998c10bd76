/**
 * Callers waiting on the replication loop: proposals waiting for their entry to be applied, and reads
 * waiting for the applied index to reach their read index. Each waiter has a deadline on the injected
 * clock; expiry rejects it with E_TIMEOUT (for a proposal: outcome unknown).
 */
import type { Clock, TimerHandle } from '../base/index.ts';
import { ReplicationError } from './errors.ts';

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: Error) => void;
  timer: TimerHandle;
}

/** Waiters keyed by a request id. */
export class KeyedWaiters<T> {
  private readonly waiting = new Map<string, Waiter<T>>();

  constructor(private readonly clock: Clock, private readonly what: string) {}

  wait(id: string, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimer(timeoutMs, () => {
        this.waiting.delete(id);
        reject(new ReplicationError('E_TIMEOUT', `${this.what} timed out after ${timeoutMs} ms; its outcome is unknown`));
      });
      this.waiting.set(id, { resolve, reject, timer });
    });
  }

  has(id: string): boolean {
    return this.waiting.has(id);
  }

  resolve(id: string, value: T): void {
    const waiter = this.take(id);
    waiter?.resolve(value);
  }

  reject(id: string, error: Error): void {
    this.take(id)?.reject(error);
  }

  rejectAll(error: Error): void {
    for (const id of [...this.waiting.keys()]) this.reject(id, error);
  }

  size(): number {
    return this.waiting.size;
  }

  private take(id: string): Waiter<T> | undefined {
    const waiter = this.waiting.get(id);
    if (waiter === undefined) return undefined;
    this.waiting.delete(id);
    waiter.timer.cancel();
    return waiter;
  }
}

/** Waiters for the applied index to reach a given log index. */
export class AppliedWaiters {
  private waiting: Array<{ index: number } & Waiter<void>> = [];

  constructor(private readonly clock: Clock) {}

  wait(index: number, applied: number, timeoutMs: number): Promise<void> {
    if (applied >= index) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const entry = {
        index, resolve, reject,
        timer: this.clock.setTimer(timeoutMs, () => {
          this.waiting = this.waiting.filter((w) => w !== entry);
          reject(new ReplicationError('E_TIMEOUT', `waiting for applied index ${index} timed out after ${timeoutMs} ms`));
        }),
      };
      this.waiting.push(entry);
    });
  }

  /** Releases every waiter whose index is now applied. */
  applied(applied: number): void {
    const ready = this.waiting.filter((w) => w.index <= applied);
    if (ready.length === 0) return;
    this.waiting = this.waiting.filter((w) => w.index > applied);
    for (const w of ready) {
      w.timer.cancel();
      w.resolve();
    }
  }

  rejectAll(error: Error): void {
    const all = this.waiting;
    this.waiting = [];
    for (const w of all) {
      w.timer.cancel();
      w.reject(error);
    }
  }
}
