/**
 * The watch hub: fans committed changes out to watchers, and replays history from the store for
 * watchers that start in the past.
 *
 * A watcher is either *unsynced* — a pump replays pages from disk, step by step (whole revisions, at
 * most watchReplayStepRevisionsMax of them and about watchReplayStepBytesMax of keys and values), from
 * `nextMain` up to the current revision, at most watchReplaysAtOnceMax steps of clients' watchers reading at
 * once member-wide (each holds what it opened until it is delivered; the member's own never waits), and a revision over watchReplayRevisionBytesMax for
 * the watch cancelling it (reads.ts, `history`) — or *synced*, receiving each committed batch from notify(). The switch
 * happens in one synchronous step when the pump finds nothing left to replay; since notify() runs
 * synchronously right after the revision becomes visible, no revision is delivered twice or skipped.
 *
 * Writers never wait for watchers: notify() only appends to a watcher's buffer. A watcher whose buffer
 * holds more than watchBufferEventsMax events is cancelled with E_WATCH_SLOW. A replaying pump pauses
 * while its buffer is half full, so replay alone never overflows it. Progress asked for while a progress
 * notification still waits in the buffer moves that one to the current revision: asking, however often,
 * adds at most one response to a buffer.
 *
 * At most watchersMax watchers are open; a watcher for a client is refused once all but
 * memberWatchersReserved are, so the member's own (`forMember`) can always watch.
 */
import { type Clock, type TimerHandle, assert } from '../../base/index.ts';
import {
  memberWatchersReserved, watchBufferEventsMax, watchersMax, watchProgressIntervalMs, watchReplaysAtOnceMax, watchReplayStepRevisionsMax,
} from '../../config/index.ts';
import { MvccError, compactedError } from './errors.ts';
import { type KeySpan, spanContains, toSpan } from './keys.ts';
import type { KeyValue } from './types.ts';
import { checkRange } from './validate.ts';

export interface WatchEvent {
  type: 'put' | 'delete';
  /** For a delete: the key, empty value, modRevision = the deletion's revision, other numbers 0. */
  kv: KeyValue;
  /** The key-value the change replaced, when the watcher asked for it and the key existed before. */
  prevKv?: KeyValue;
}

export interface WatchResponse {
  watchId: number;
  /** Events in revision order; empty for a progress notification. */
  events: WatchEvent[];
  /** Every change up to this revision that the watcher should see has been delivered. */
  revision: number;
  /** True for a progress notification. */
  progress?: boolean;
}

export interface WatchOptions {
  key: Uint8Array;
  /** Range end, as for range(): absent = one key, [0] = all keys >= key, prefixEnd(p) for a prefix. */
  end?: Uint8Array;
  /** First revision to deliver; absent or 0 = only changes after the current revision. */
  startRevision?: number;
  prevKv?: boolean;
  /** Send a progress notification every watchProgressIntervalMs while nothing else was sent. */
  progressNotify?: boolean;
  /** The member's own watcher (the RBAC policy holder's), which may take the memberWatchersReserved no client may. */
  forMember?: boolean;
}

/**
 * A stream of watch responses. Iteration ends when the watcher is cancelled by its consumer, and
 * throws MvccError when the store cancels it: E_COMPACTED (with compactRevision), E_WATCH_SLOW, E_CLOSED.
 */
export interface Watcher extends AsyncIterable<WatchResponse> {
  readonly id: number;
  next(): Promise<IteratorResult<WatchResponse, undefined>>;
  /** Ask for a progress notification (sent once the watcher has caught up). */
  requestProgress(): void;
  /**
   * Whether every change up to the store's current revision that this watcher should see has been taken
   * by its consumer: it replays nothing more (synced) and holds nothing unread. A consumer that has also
   * sent on all it took may then announce progress at the current revision itself (an etcd stream's
   * progress response for all its watches) without overtaking any of this watcher's events.
   */
  readonly caughtUp: boolean;
  cancel(): void;
}

/** One change as the write path hands it to the hub. */
export interface Change {
  /** The key in index form (keys.ts). */
  key: string;
  main: number;
  event: WatchEvent;
}

/** What the hub needs from the store. */
export interface HistorySource {
  currentRevision(): number;
  compactRevision(): number;
  /**
   * Changes in `span` with main in [fromMain, toMain], in revision order, as far as one step's bytes
   * allow (whole revisions, at least one); E_COMPACTED if fromMain <= the compact revision.
   */
  history(span: KeySpan, fromMain: number, toMain: number, prevKv: boolean): Promise<HistoryStep>;
}

/** One replay step: the changes of revisions up to `through`, which is at most the step's last revision. */
export interface HistoryStep {
  events: WatchEvent[];
  through: number;
}

/** Zeroes the values (and previous values) of events no one will read: plaintext is wiped when done. */
export function wipeEvents(events: readonly WatchEvent[]): void {
  for (const event of events) {
    event.kv.value.fill(0);
    event.prevKv?.value.fill(0);
  }
}

class StoreWatcher implements Watcher {
  synced = false;
  /** Unsynced: the next revision to replay. Synced: deliver only changes at or after it. */
  nextMain: number;
  sentSinceTick = false;
  progressRequested = false;
  private queue: WatchResponse[] = [];
  private queuedEvents = 0;
  private waiter: { resolve: (r: IteratorResult<WatchResponse, undefined>) => void; reject: (e: unknown) => void } | undefined;
  private drainWaiter: (() => void) | undefined;
  /** Set once: 'done' after the consumer cancels, an error when the store cancels. */
  private end: MvccError | 'done' | undefined;

  constructor(
    readonly id: number,
    readonly span: KeySpan,
    readonly prevKv: boolean,
    readonly progressNotify: boolean,
    /** The member's own watcher (WatchOptions.forMember). */
    readonly forMember: boolean,
    startMain: number,
    private readonly hub: WatchHub,
  ) {
    this.nextMain = startMain;
  }

  get ended(): boolean {
    return this.end !== undefined;
  }

  get bufferedEvents(): number {
    return this.queuedEvents;
  }

  get caughtUp(): boolean {
    return this.synced && this.end === undefined && this.queue.length === 0;
  }

  deliver(response: WatchResponse): void {
    if (this.end !== undefined) return;
    this.sentSinceTick = true;
    if (this.waiter !== undefined) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter.resolve({ value: response, done: false });
      return;
    }
    this.queue.push(response);
    this.queuedEvents += response.events.length;
  }

  /** The store ends the watcher; pending responses are still delivered before the error. */
  fail(error: MvccError): void {
    if (this.end !== undefined) return;
    this.end = error;
    this.hub.remove(this);
    this.wakePump();
    if (this.waiter !== undefined) {
      const waiter = this.waiter;
      this.waiter = undefined;
      this.end = 'done';
      waiter.reject(error);
    }
  }

  next(): Promise<IteratorResult<WatchResponse, undefined>> {
    const response = this.queue.shift();
    if (response !== undefined) {
      this.queuedEvents -= response.events.length;
      if (this.queuedEvents < watchBufferEventsMax / 2) this.wakePump();
      return Promise.resolve({ value: response, done: false });
    }
    if (this.end instanceof MvccError) {
      const error = this.end;
      this.end = 'done';
      return Promise.reject(error);
    }
    if (this.end === 'done') return Promise.resolve({ value: undefined, done: true });
    assert(this.waiter === undefined, 'one next() at a time on a watcher');
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<WatchResponse, undefined>> {
    this.cancel();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchResponse, undefined> {
    return this;
  }

  requestProgress(): void {
    if (this.end !== undefined) return;
    if (!this.synced) {
      this.progressRequested = true;
      return;
    }
    const revision = this.hub.source.currentRevision();
    const last = this.queue.at(-1);
    if (last?.progress === true) last.revision = revision;
    else this.deliver({ watchId: this.id, events: [], revision, progress: true });
  }

  cancel(): void {
    if (this.end !== undefined) return;
    this.end = 'done';
    this.queue = [];
    this.queuedEvents = 0;
    this.hub.remove(this);
    this.wakePump();
    if (this.waiter !== undefined) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter.resolve({ value: undefined, done: true });
    }
  }

  /** For the pump: resolves when the buffer is below half full (or the watcher ended). */
  drained(): Promise<void> {
    if (this.queuedEvents < watchBufferEventsMax / 2 || this.end !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      this.drainWaiter = resolve;
    });
  }

  private wakePump(): void {
    const wake = this.drainWaiter;
    this.drainWaiter = undefined;
    wake?.();
  }
}

export class WatchHub {
  private nextId = 1;
  private readonly all = new Set<StoreWatcher>();
  /** Synced single-key watchers by key, and synced range watchers. */
  private readonly byKey = new Map<string, Set<StoreWatcher>>();
  private readonly ranged = new Set<StoreWatcher>();
  private prevKvWatchers = 0;
  private progressWatchers = 0;
  private progressTimer: TimerHandle | undefined;
  private closedWith: MvccError | undefined;
  /** Replay steps taking their turn now, member-wide, and the pumps waiting for one (replayTurn). */
  private replaysReading = 0;
  private readonly replaysWaiting: (() => void)[] = [];

  constructor(
    readonly source: HistorySource,
    private readonly clock: Clock,
  ) {}

  get watcherCount(): number {
    return this.all.size;
  }

  /** True if a live change must carry its previous key-value for some watcher. */
  wantsPrevKv(): boolean {
    return this.prevKvWatchers > 0;
  }

  /** Watchers currently registered. */
  size(): number {
    return this.all.size;
  }

  watch(options: WatchOptions): Watcher {
    if (this.closedWith !== undefined) throw this.closedWith;
    checkRange(options.key, options.end);
    const start = options.startRevision ?? 0;
    if (!(Number.isSafeInteger(start) && start >= 0)) {
      throw new MvccError('E_BAD_REQUEST', `watch start revision ${start} is not an integer >= 0`);
    }
    if (this.all.size >= watchersMax) throw new MvccError('E_WATCHERS_FULL', `watchers would exceed watchersMax (${watchersMax})`);
    if (options.forMember !== true && this.all.size >= watchersMax - memberWatchersReserved) {
      throw new MvccError('E_WATCHERS_FULL', `watchers for clients would exceed watchersMax (${watchersMax}) less memberWatchersReserved (${memberWatchersReserved})`);
    }
    const current = this.source.currentRevision();
    const compact = this.source.compactRevision();
    // History at the compact revision itself may be partly gone (a tombstone at it is removed), so a
    // complete replay must start after it.
    if (start !== 0 && compact > 0 && start <= compact) throw compactedError(start, compact);
    const startMain = start === 0 ? current + 1 : start;
    const watcher = new StoreWatcher(this.nextId++, toSpan(options.key, options.end), options.prevKv === true,
      options.progressNotify === true, options.forMember === true, startMain, this);
    this.all.add(watcher);
    if (watcher.prevKv) this.prevKvWatchers++;
    if (watcher.progressNotify && this.progressWatchers++ === 0) this.armProgress();
    if (startMain > current) this.markSynced(watcher);
    else void this.pump(watcher);
    return watcher;
  }

  /**
   * Called synchronously once the batch that made `changes` is durable and `revision` is visible.
   * `withPrevKv` says whether every change carries its previous key-value; if not, a prevKv watcher
   * (one added while the batch was being built) goes back to replaying from disk, where the previous
   * values are, starting at its first change of this batch.
   */
  notify(changes: readonly Change[], revision: number, withPrevKv: boolean): void {
    if (changes.length === 0) return;
    const perWatcher = new Map<StoreWatcher, WatchEvent[]>();
    const resync = new Map<StoreWatcher, number>();
    const add = (w: StoreWatcher, change: Change): void => {
      if (change.main < w.nextMain) return;
      if (w.prevKv && !withPrevKv) {
        if (!resync.has(w)) resync.set(w, change.main);
        return;
      }
      let events = perWatcher.get(w);
      if (events === undefined) perWatcher.set(w, (events = []));
      events.push(w.prevKv || change.event.prevKv === undefined ? change.event : { type: change.event.type, kv: change.event.kv });
    };
    for (const change of changes) {
      const keyed = this.byKey.get(change.key);
      if (keyed !== undefined) for (const w of keyed) add(w, change);
      for (const w of this.ranged) if (spanContains(w.span, change.key)) add(w, change);
    }
    for (const [w, events] of perWatcher) {
      if (w.bufferedEvents > 0 && w.bufferedEvents + events.length > watchBufferEventsMax) {
        w.fail(new MvccError('E_WATCH_SLOW', `watcher ${w.id} fell more than watchBufferEventsMax (${watchBufferEventsMax}) events behind and was cancelled`));
        continue;
      }
      w.deliver({ watchId: w.id, events, revision });
    }
    for (const [w, fromMain] of resync) {
      this.unmarkSynced(w);
      w.nextMain = fromMain;
      void this.pump(w);
    }
  }

  /** Ends every watcher with `error` (the store is closing) and refuses new ones. */
  close(error: MvccError): void {
    this.closedWith = error;
    for (const w of [...this.all]) w.fail(error);
    this.progressTimer?.cancel();
    this.progressTimer = undefined;
  }

  remove(w: StoreWatcher): void {
    if (!this.all.delete(w)) return;
    if (w.prevKv) this.prevKvWatchers--;
    if (w.progressNotify && --this.progressWatchers === 0) {
      this.progressTimer?.cancel();
      this.progressTimer = undefined;
    }
    if (w.synced) this.unmarkSynced(w);
  }

  private unmarkSynced(w: StoreWatcher): void {
    w.synced = false;
    if (w.span.end === undefined) {
      const keyed = this.byKey.get(w.span.start);
      keyed?.delete(w);
      if (keyed?.size === 0) this.byKey.delete(w.span.start);
    } else {
      this.ranged.delete(w);
    }
  }

  private markSynced(w: StoreWatcher): void {
    w.synced = true;
    if (w.span.end === undefined) {
      let keyed = this.byKey.get(w.span.start);
      if (keyed === undefined) this.byKey.set(w.span.start, (keyed = new Set()));
      keyed.add(w);
    } else {
      this.ranged.add(w);
    }
    if (w.progressRequested) {
      w.progressRequested = false;
      w.requestProgress();
    }
  }

  /** Replays history for an unsynced watcher until it has caught up, then hands it to notify(). */
  private async pump(w: StoreWatcher): Promise<void> {
    // The member's own watcher (its RBAC policy's) never queues behind clients' replays: a revocation
    // reaches it however many clients replay.
    const takesTurns = !w.forMember;
    try {
      for (;;) {
        await w.drained();
        if (w.ended) return;
        if (takesTurns) await this.replayTurn();
        try {
          if (w.ended) return;
          const current = this.source.currentRevision();
          if (w.nextMain > current) {
            // Synchronous with the check above: no commit can slip between them.
            this.markSynced(w);
            return;
          }
          const toMain = Math.min(current, w.nextMain + watchReplayStepRevisionsMax - 1);
          const { events, through } = await this.source.history(w.span, w.nextMain, toMain, w.prevKv);
          if (w.ended) {
            wipeEvents(events);
            return;
          }
          if (events.length > 0) w.deliver({ watchId: w.id, events, revision: through });
          w.nextMain = through + 1;
        } finally {
          if (takesTurns) this.endReplayTurn();
        }
      }
    } catch (error) {
      w.fail(error instanceof MvccError ? error : new MvccError('E_FAILED', `watcher ${w.id} replay failed`, { cause: error }));
    }
  }

  /** Waits until fewer than watchReplaysAtOnceMax replay steps read, member-wide; first come, first served. */
  private async replayTurn(): Promise<void> {
    if (this.replaysReading < watchReplaysAtOnceMax) {
      this.replaysReading++;
      return;
    }
    // endReplayTurn hands its turn over, the count unchanged.
    await new Promise<void>((resolve) => this.replaysWaiting.push(resolve));
  }

  private endReplayTurn(): void {
    const next = this.replaysWaiting.shift();
    if (next === undefined) this.replaysReading--;
    else next();
  }

  private armProgress(): void {
    this.progressTimer = this.clock.setTimer(watchProgressIntervalMs, () => {
      const revision = this.source.currentRevision();
      for (const w of this.all) {
        if (w.progressNotify && w.synced && !w.sentSinceTick && w.bufferedEvents === 0) {
          w.deliver({ watchId: w.id, events: [], revision, progress: true });
        }
        w.sentSinceTick = false;
      }
      if (this.progressWatchers > 0) this.armProgress();
    });
  }
}
