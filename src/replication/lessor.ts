/**
 * The lessor: on the leader only, it keeps each lease's deadline on the member's clock, proposes the
 * revoke of a lease whose deadline passed, and checkpoints every lease's remaining TTL through Raft, so
 * the next leader starts each lease where this one left it. The lease state itself (which leases exist,
 * their TTLs, keys, keep-alives and checkpoints) is replicated MVCC state (src/storage/mvcc): the
 * lessor only adds time, and every decision it takes goes through Raft. Driven by the replica's ticks.
 *
 * - Deadlines: a lease first seen (granted, or on becoming leader) ends at now + its checkpointed
 *   remaining TTL (its full TTL if none); a keep-alive, applied as an entry, shows as a new refresh
 *   count and moves the deadline to now + TTL.
 * - Becoming leader: the lessor waits for a linearizable barrier (the new leader has committed an entry
 *   of its term and applied everything before it), so it starts from the last committed checkpoints.
 *   A member without leases skips this until its first lease appears.
 * - Expiry: at most leaseRevokesPerSecondMax revokes are proposed per second; each names the refresh
 *   count the lessor saw, so a keep-alive applied first wins and the revoke is a no-op; a revoke of a
 *   lease already gone is refused at apply and changes nothing — a lease ends exactly once.
 * - Checkpoints: every leaseCheckpointIntervalElectionTimeouts election timeouts, one proposal per
 *   leaseCheckpointBatchMax leases. The bound this gives on a leader change is argued in
 *   docs/architecture.md, "Leases".
 *
 * Invariant: `tracked` is empty unless this member is the leader and its promotion finished.
 */
import type { Clock } from '../base/index.ts';
import {
  leaseCheckpointBatchMax, leaseCheckpointIntervalElectionTimeouts, leaseRevokesPerSecondMax, leaseTtlMinElectionTimeouts,
} from '../config/index.ts';
import type { LeaseOp, LeaseRecord, WriteResponse } from '../storage/mvcc/index.ts';

export interface LessorHost {
  clock: Clock;
  /** True while this member is the Raft leader. */
  isLeader(): boolean;
  /** Resolves once this member applied everything committed before the call (ReadIndex). */
  barrier(): Promise<void>;
  propose(op: LeaseOp): Promise<WriteResponse>;
  /** The leases of the store, as of its latest applied batch. */
  leases(): LeaseRecord[];
}

export interface LessorOptions {
  /** Raft's election timeout on this member (election ticks × tick), in milliseconds. */
  electionTimeoutMs: number;
  /** How often tick() is called, in milliseconds. */
  tickMs: number;
}

interface Tracked {
  /** When the lease ends, on the host's clock (ms). */
  deadline: number;
  /** The lease's keep-alive count when the deadline was set. */
  refreshes: number;
  /** A revoke for this deadline is in flight. */
  revoking: boolean;
}

export class Lessor {
  private phase: 'follower' | 'promoting' | 'leader' = 'follower';
  /** Counts leadership changes, so a promotion that finishes after a demotion is dropped. */
  private generation = 0;
  private readonly tracked = new Map<number, Tracked>();
  private lastCheckpointMs = 0;
  private checkpointing = false;
  private readonly checkpointIntervalMs: number;
  private readonly revokesPerTick: number;
  /** The shortest TTL a grant gets, in seconds. */
  readonly ttlMinSeconds: number;

  constructor(private readonly host: LessorHost, options: LessorOptions) {
    this.checkpointIntervalMs = leaseCheckpointIntervalElectionTimeouts * options.electionTimeoutMs;
    this.revokesPerTick = Math.max(1, Math.floor((leaseRevokesPerSecondMax * options.tickMs) / 1000));
    this.ttlMinSeconds = Math.ceil((leaseTtlMinElectionTimeouts * options.electionTimeoutMs) / 1000);
  }

  tick(): void {
    if (!this.host.isLeader()) {
      if (this.phase !== 'follower') this.demote();
      return;
    }
    if (this.phase === 'follower') {
      if (this.host.leases().length > 0) this.promote();
      return;
    }
    if (this.phase !== 'leader') return;
    const now = this.host.clock.nowMs();
    this.reconcile(now);
    this.expire(now);
    this.checkpoint(now);
  }

  /** The remaining TTL of `lease` in milliseconds: the leader's deadline, else what the last checkpoint recorded. */
  remainingMs(lease: LeaseRecord): number {
    const tracked = this.tracked.get(lease.id);
    if (tracked !== undefined && tracked.refreshes === lease.refreshes) return Math.max(0, tracked.deadline - this.host.clock.nowMs());
    return lease.remainingTtlMs > 0 ? lease.remainingTtlMs : lease.ttl * 1000;
  }

  /** Forgets every deadline: this member no longer leads (or the replica stopped). */
  demote(): void {
    this.phase = 'follower';
    this.generation++;
    this.tracked.clear();
  }

  private promote(): void {
    this.phase = 'promoting';
    const generation = ++this.generation;
    this.host.barrier().then(
      () => {
        if (generation !== this.generation) return;
        this.phase = 'leader';
        this.lastCheckpointMs = this.host.clock.nowMs();
        this.reconcile(this.lastCheckpointMs);
      },
      () => {
        if (generation === this.generation) this.phase = 'follower'; // tried again at the next tick
      },
    );
  }

  /** Takes on leases new to the lessor, moves deadlines of leases kept alive, drops leases gone. */
  private reconcile(now: number): void {
    const present = new Set<number>();
    for (const lease of this.host.leases()) {
      present.add(lease.id);
      const tracked = this.tracked.get(lease.id);
      if (tracked === undefined) {
        const remaining = lease.remainingTtlMs > 0 ? lease.remainingTtlMs : lease.ttl * 1000;
        this.tracked.set(lease.id, { deadline: now + remaining, refreshes: lease.refreshes, revoking: false });
      } else if (tracked.refreshes !== lease.refreshes) {
        this.tracked.set(lease.id, { deadline: now + lease.ttl * 1000, refreshes: lease.refreshes, revoking: false });
      }
    }
    for (const id of this.tracked.keys()) if (!present.has(id)) this.tracked.delete(id);
  }

  private expire(now: number): void {
    let proposed = 0;
    for (const [id, tracked] of this.tracked) {
      if (proposed >= this.revokesPerTick) return;
      if (tracked.revoking || tracked.deadline > now) continue;
      tracked.revoking = true;
      proposed++;
      // Refused (gone already) or not accepted (no quorum, a leader change): the next tick decides again.
      this.host.propose({ type: 'leaseRevoke', id, ifRefreshes: tracked.refreshes }).catch(() => {
        tracked.revoking = false;
      });
    }
  }

  private checkpoint(now: number): void {
    if (this.checkpointing || this.tracked.size === 0 || now - this.lastCheckpointMs < this.checkpointIntervalMs) return;
    this.lastCheckpointMs = now;
    const checkpoints = [...this.tracked].map(([id, t]) => ({ id, remainingTtlMs: Math.max(1, t.deadline - now), refreshes: t.refreshes }));
    const proposals: Promise<unknown>[] = [];
    for (let i = 0; i < checkpoints.length; i += leaseCheckpointBatchMax) {
      proposals.push(this.host.propose({ type: 'leaseCheckpoint', checkpoints: checkpoints.slice(i, i + leaseCheckpointBatchMax) }));
    }
    this.checkpointing = true;
    // A checkpoint that fails is replaced by the next round's.
    void Promise.allSettled(proposals).then(() => {
      this.checkpointing = false;
    });
  }
}
