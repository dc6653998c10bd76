/**
 * Automatic compaction of the store's history, as the Kubernetes API server compacts etcd: every
 * `retentionMs` on the injected Clock, the leader compacts to the revision that was current one
 * interval earlier, through Raft (a `compact` write every member applies). Without it every past
 * value of every Secret, deleted ones included, stays readable to a watch or read at an old
 * resourceVersion; with it, such a request fails with the compaction (the API answers 410 Gone).
 * docs/security.md, "History retention".
 *
 * Every member samples its current revision at each tick, leader or not, so a member that becomes
 * leader compacts at its next tick to its own sample from one interval before — never anything
 * younger than one interval, whichever member leads and however far apart their clocks are (each
 * measures only its own intervals). A follower's sample may lag the leader's revision; compacting to
 * it keeps more, never less. Kept history: at least one interval, at most two (a little more across a
 * leader change, whose new leader ticks on its own phase).
 */
import type { KvBackend } from '../api/index.ts';
import type { Clock } from '../base/index.ts';
import { historyRetentionMsDefault } from '../config/index.ts';
import { Periodic } from './periodic.ts';

export interface HistoryCompactorOptions {
  backend: Pick<KvBackend, 'propose' | 'mvcc' | 'status' | 'isServing'>;
  clock: Clock;
  /** The interval and the history kept; default historyRetentionMsDefault. */
  retentionMs?: number;
  log?: { info: (fields: object, message: string) => void; warn: (fields: object, message: string) => void };
}

/** What one tick did. */
export interface CompactionPass {
  leader: boolean;
  /** The revision compacted to, when this tick compacted. */
  compactedTo?: number;
}

export class HistoryCompactor {
  /** The revision current at the previous tick (or at start): the next compaction's target. */
  private sample: number | undefined;
  private readonly periodic: Periodic;

  constructor(private readonly options: HistoryCompactorOptions) {
    this.periodic = new Periodic({
      clock: options.clock,
      intervalMs: options.retentionMs ?? historyRetentionMsDefault,
      run: () => this.runOnce(),
      // Typically a compaction that lost a race with another (E_COMPACTED), or no quorum.
      onError: (error) => options.log?.warn({ reason: error.message }, 'history compaction failed; the next interval tries again'),
    });
  }

  start(): void {
    this.sample = this.options.backend.mvcc().currentRevision();
    this.periodic.start();
  }

  /** Cancels the timer and waits for a compaction in progress. */
  stop(): Promise<void> {
    return this.periodic.stop();
  }

  /** Resolves when the tick in progress (if any) has finished: tests await it after moving the clock. */
  settled(): Promise<void> {
    return this.periodic.settled();
  }

  /** One tick: takes a new sample; the leader compacts to the previous one if history is that long. */
  async runOnce(): Promise<CompactionPass> {
    const { backend, log } = this.options;
    if (!backend.isServing()) return { leader: false };
    const target = this.sample;
    this.sample = backend.mvcc().currentRevision();
    if (backend.status().role !== 'leader') return { leader: false };
    if (target === undefined || target <= backend.mvcc().compactRevision()) return { leader: true };
    await backend.propose({ type: 'compact', revision: target });
    log?.info({ revision: target }, 'history compacted');
    return { leader: true, compactedTo: target };
  }
}
