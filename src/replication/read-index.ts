/**
 * Linearizable reads through Raft's ReadIndex, batched: every read that arrives while a round is in
 * flight joins the next round, so one heartbeat round trip serves many reads. A round whose answer
 * does not come (the leader changed, the request was dropped) is asked again with a fresh context
 * after readIndexRetryMs; each read gives up at its own deadline.
 * Invariant: a read resolves only with a read index obtained after the read arrived.
 * Contexts are `<prefix>.<round number>`: the prefix names this incarnation of the replica, so an answer
 * meant for a round of an earlier incarnation (or an earlier round) never matches.
 */
import type { Clock } from '../base/index.ts';
import { ReplicationError } from './errors.ts';

interface PendingRead {
  resolve: (readIndex: number) => void;
  reject: (error: Error) => void;
  deadlineMs: number;
}

interface Round {
  ctx: string;
  reads: PendingRead[];
  askedAtMs: number;
}

export interface ReadIndexHost {
  /** Asks Raft for a read index for `ctx`; throws if it cannot be asked now (no leader). */
  requestReadIndex(ctx: Uint8Array): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class ReadIndexBatcher {
  private queued: PendingRead[] = [];
  private round: Round | undefined;
  private rounds = 0;

  constructor(
    private readonly host: ReadIndexHost,
    private readonly clock: Clock,
    private readonly retryMs: number,
    private readonly contextPrefix: string,
  ) {}

  /** Resolves with a read index that reflects every write acknowledged before this call. */
  readIndex(timeoutMs: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.queued.push({ resolve, reject, deadlineMs: this.clock.nowMs() + timeoutMs });
      this.ask();
    });
  }

  /** A ReadState arrived from Raft. */
  answered(ctx: Uint8Array, index: number): void {
    const round = this.round;
    if (round === undefined || round.ctx !== decoder.decode(ctx)) return;
    this.round = undefined;
    for (const read of round.reads) read.resolve(index);
    this.ask();
  }

  /** Called on every tick: expires reads, and asks again for a round that got no answer. */
  tick(): void {
    const now = this.clock.nowMs();
    const expired = (read: PendingRead) => read.deadlineMs <= now;
    const timeout = () => new ReplicationError('E_TIMEOUT', 'linearizable read timed out waiting for a read index (no leader?)');
    for (const read of this.queued.filter(expired)) read.reject(timeout());
    this.queued = this.queued.filter((r) => !expired(r));
    if (this.round) {
      for (const read of this.round.reads.filter(expired)) read.reject(timeout());
      this.round.reads = this.round.reads.filter((r) => !expired(r));
      if (this.round.reads.length === 0) this.round = undefined;
      else if (now - this.round.askedAtMs >= this.retryMs) {
        // Same reads, fresh context: an answer to the old context is ignored.
        this.queued.unshift(...this.round.reads);
        this.round = undefined;
      }
    }
    this.ask();
  }

  rejectAll(error: Error): void {
    const reads = [...this.queued, ...(this.round?.reads ?? [])];
    this.queued = [];
    this.round = undefined;
    for (const read of reads) read.reject(error);
  }

  private ask(): void {
    if (this.round !== undefined || this.queued.length === 0) return;
    const round: Round = { ctx: `${this.contextPrefix}.${++this.rounds}`, reads: this.queued, askedAtMs: this.clock.nowMs() };
    this.queued = [];
    try {
      this.host.requestReadIndex(encoder.encode(round.ctx));
      this.round = round;
    } catch {
      // No leader right now: keep the reads queued; the next tick asks again.
      this.queued = round.reads;
    }
  }
}
