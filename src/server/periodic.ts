/**
 * A member's background task that runs every `intervalMs` on an injected Clock (scheduled rotation,
 * history compaction). One run at a time: the timer is armed again only when a run has finished, so a
 * slow run delays the next instead of overlapping it. A run that fails is reported and the next
 * interval tries again.
 */
import type { Clock, TimerHandle } from '../base/index.ts';

export interface PeriodicOptions {
  clock: Clock;
  intervalMs: number;
  run: () => Promise<unknown>;
  onError: (error: Error) => void;
}

export class Periodic {
  private timer: TimerHandle | undefined;
  private running: Promise<void> = Promise.resolve();
  private stoppedFlag = false;

  constructor(private readonly options: PeriodicOptions) {}

  get stopped(): boolean {
    return this.stoppedFlag;
  }

  start(): void {
    this.stoppedFlag = false;
    this.arm();
  }

  /** Cancels the timer and waits for a run in progress. */
  async stop(): Promise<void> {
    this.stoppedFlag = true;
    this.timer?.cancel();
    this.timer = undefined;
    await this.running;
  }

  /** Resolves when the run in progress (if any) has finished: tests await it after moving the clock. */
  settled(): Promise<void> {
    return this.running;
  }

  private arm(): void {
    if (this.stoppedFlag) return;
    this.timer = this.options.clock.setTimer(this.options.intervalMs, () => {
      this.timer = undefined;
      this.running = this.options.run().then(() => undefined, (error: Error) => this.options.onError(error)).finally(() => this.arm());
    });
  }
}
