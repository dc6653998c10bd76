/**
 * The store's open LevelDB readers: every snapshot it takes and every read it makes without one
 * (classic-level gives each iterator and each get a snapshot of its own for as long as it runs).
 * LevelDB keeps in its files every version of a record a snapshot may still read, and every table
 * file an iterator reads from, however long ago both were superseded; a purge (purge.ts) waits for
 * the readers open when it starts so that what they hold can go.
 *
 * Counted: StoreState.snapshot until closeSnapshot, and each read passed to `during`. The reads of
 * open (load.ts, the index checkpoint's) run before anyone holds the store, so before any purge.
 */
import type { Clock, TimerHandle } from '../../base/index.ts';

export class OpenReaders {
  /** One promise per open reader, resolved when it ends. */
  private readonly open = new Set<Promise<void>>();

  /** Counts a reader from now until the returned function is called. */
  begin(): () => void {
    let resolve!: () => void;
    const ended = new Promise<void>((r) => {
      resolve = r;
    });
    this.open.add(ended);
    return () => {
      this.open.delete(ended);
      resolve();
    };
  }

  /** Runs `read`, counted as a reader until it settles. */
  async during<T>(read: () => Promise<T>): Promise<T> {
    const end = this.begin();
    try {
      return await read();
    } finally {
      end();
    }
  }

  /**
   * True once every reader open now has ended (readers that begin later are not waited for); false if
   * one is still open after `waitMs` — it is left running.
   */
  async ended(clock: Clock, waitMs: number): Promise<boolean> {
    if (this.open.size === 0) return true;
    let timer: TimerHandle | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = clock.setTimer(waitMs, () => resolve(false));
    });
    try {
      return await Promise.race([Promise.all([...this.open]).then(() => true), late]);
    } finally {
      timer?.cancel();
    }
  }
}
