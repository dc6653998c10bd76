/**
 * The barrier's background re-encrypter of the replica's store: after a DEK rotation it walks the store once, in revision-key order,
 * re-sealing every page (and the meta record) that names an older DEK under the active one, in
 * batches of at most `batchPagesMax` pages and at most `pagesPerSecondMax` pages a second. Each batch
 * is one MvccStore.reencryptStep, a single write in the store's own write queue: reads and writes go
 * on between batches, and a batch never races an apply or a compaction.
 *
 * Invariants:
 * - One pass at a time. start() during a pass restarts it from the first page (a second rotation made
 *   pages sealed during the first pass old too).
 * - Pages written during a pass are sealed with the active DEK already, so one complete pass that began
 *   after the rotation leaves no live page on an older DEK (pages a compaction has yet to delete may
 *   remain: the caller waits for whenCompacted() before counting).
 * - The rate limit is enforced by waiting on the injected Clock between batches, never by busy work.
 */
import { assert, type Clock } from '../../base/index.ts';
import { reencryptBatchPagesMax, reencryptPagesPerSecondMax, reencryptScanPagesMax } from '../../config/index.ts';
import type { MvccStore, ReencryptStepResult } from '../mvcc/index.ts';

export interface ReencrypterOptions {
  /** The store to walk; a function because a snapshot install replaces the member's store. */
  store: () => MvccStore;
  clock: Clock;
  pagesPerSecondMax?: number;
  batchPagesMax?: number;
  scanPagesMax?: number;
  /** Told when a pass ends, with the error that ended it early, if any. */
  onPassEnd?: (error: Error | undefined) => void;
}

export interface ReencryptProgress {
  /** True while a pass is under way. */
  running: boolean;
  /** The DEK the current (or last) pass seals with; 0 before the first pass. */
  targetDekId: number;
  /** Pages re-sealed by the current (or last) pass. */
  pagesResealed: number;
  /** Pages whose headers the current (or last) pass has read. */
  pagesScanned: number;
  startedAtMs: number | undefined;
  finishedAtMs: number | undefined;
  /** Why the last pass stopped early (a closed or failed store), if it did. */
  error: string | undefined;
}

export class Reencrypter {
  private readonly pagesPerSecondMax: number;
  private readonly batchPagesMax: number;
  private readonly scanPagesMax: number;
  private pass: Promise<void> | undefined;
  private restart = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private readonly state: ReencryptProgress = {
    running: false, targetDekId: 0, pagesResealed: 0, pagesScanned: 0, startedAtMs: undefined, finishedAtMs: undefined, error: undefined,
  };

  constructor(private readonly options: ReencrypterOptions) {
    this.pagesPerSecondMax = options.pagesPerSecondMax ?? reencryptPagesPerSecondMax;
    this.batchPagesMax = options.batchPagesMax ?? reencryptBatchPagesMax;
    this.scanPagesMax = Math.max(options.scanPagesMax ?? reencryptScanPagesMax, this.batchPagesMax);
    assert(this.pagesPerSecondMax > 0 && this.batchPagesMax >= 1, 're-encryption rate and batch size are positive');
  }

  /** Starts a pass (or restarts the running one from the first page). */
  start(): void {
    if (this.stopped) return;
    if (this.pass !== undefined) {
      this.restart = true;
      return;
    }
    this.pass = this.run().finally(() => {
      this.pass = undefined;
    });
  }

  /** Resolves when no pass is running. */
  async whenIdle(): Promise<void> {
    while (this.pass !== undefined) await this.pass;
  }

  progress(): ReencryptProgress {
    return { ...this.state };
  }

  /** Stops after the batch under way; a later start() does nothing. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.whenIdle();
  }

  private async run(): Promise<void> {
    const { clock } = this.options;
    let error: Error | undefined;
    this.state.running = true;
    this.state.startedAtMs = clock.nowMs();
    this.state.finishedAtMs = undefined;
    this.state.error = undefined;
    this.state.pagesResealed = 0;
    this.state.pagesScanned = 0;
    let cursor: Uint8Array | undefined;
    try {
      for (;;) {
        if (this.stopped) break;
        if (this.restart) {
          this.restart = false;
          cursor = undefined;
        }
        const beganMs = clock.nowMs();
        const store = this.options.store();
        let step: ReencryptStepResult;
        try {
          step = await store.reencryptStep(cursor, { pagesMax: this.batchPagesMax, scanMax: this.scanPagesMax });
        } catch (caught) {
          // A snapshot install replaced the store under the pass: walk the new one from its start.
          if (this.options.store() === store) throw caught;
          cursor = undefined;
          continue;
        }
        this.state.targetDekId = step.activeDekId;
        this.state.pagesResealed += step.resealed;
        this.state.pagesScanned += step.scanned;
        cursor = step.next;
        if (cursor === undefined && !this.restart) break;
        // The batch's share of a second at the limit, less the time the batch itself took.
        const waitMs = (step.resealed * 1000) / this.pagesPerSecondMax - (clock.nowMs() - beganMs);
        await this.pause(waitMs);
      }
    } catch (caught) {
      error = caught as Error;
      this.state.error = error.message;
    } finally {
      this.state.running = false;
      this.state.finishedAtMs = clock.nowMs();
    }
    this.options.onPassEnd?.(error);
  }

  /** Waits `ms` on the clock (or only yields to the event loop when that is under a millisecond); stop() cuts it short. */
  private pause(ms: number): Promise<void> {
    if (ms < 1) return new Promise((resolve) => this.options.clock.defer(resolve));
    return new Promise((resolve) => {
      const timer = this.options.clock.setTimer(ms, () => {
        this.wake = undefined;
        resolve();
      });
      this.wake = () => {
        timer.cancel();
        this.wake = undefined;
        resolve();
      };
    });
  }
}
