/**
 * The cluster's time, for retention by age (src/audit/retention.ts): what the members agree the time
 * is, so one member's clock, however far ahead, cannot age its audit files. Each member replicates a
 * signed checkpoint with its time every auditCheckpointIntervalMs while it records; the cluster's time
 * is the lower median of the newest checkpoint time of each current member that has one, read from
 * this member's own store (a local read: no leader needed, possibly a little behind, which only makes
 * the time earlier). Undefined when no member has one.
 *
 * With three or more members, one member's clock cannot move the lower median past the others'
 * (nor can two of four); with two, the lower of the two counts; a single member's time is its own,
 * so the defence needs three or more members (docs/security.md, "Audit retention").
 *
 * The AuditLog asks synchronously (clusterTimeMs), so the value is reread every intervalMs and kept.
 */
import type { Clock } from '../base/index.ts';
import { Periodic } from './periodic.ts';

/** The lower median of `times` (the lower of the two middle ones for an even count); undefined for none. */
export function lowerMedian(times: readonly number[]): number | undefined {
  if (times.length === 0) return undefined;
  const sorted = [...times].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** The cluster's time from each member's newest checkpoint time, counting the current `members` only. */
export function clusterTimeOf(newestByMember: ReadonlyMap<string, number>, members: readonly string[]): number | undefined {
  const times = members.map((m) => newestByMember.get(m)).filter((ms): ms is number => ms !== undefined);
  return lowerMedian(times);
}

export interface ClusterTimeOptions {
  /** Each member's newest replicated checkpoint time (audit's readNewestCheckpointTimes over a local read). */
  read: () => Promise<ReadonlyMap<string, number>>;
  /** The names of the cluster's current members (removed ones and unnamed slots left out). */
  members: () => readonly string[];
  clock: Clock;
  intervalMs: number;
  onError: (error: Error) => void;
}

/** The cluster's time as last read; reread every intervalMs. */
export class ClusterTime {
  private known: number | undefined;
  private readonly periodic: Periodic;

  constructor(private readonly options: ClusterTimeOptions) {
    this.periodic = new Periodic({ clock: options.clock, intervalMs: options.intervalMs, run: () => this.refresh(), onError: options.onError });
  }

  /** The cluster's time as last read (ms since the epoch), or undefined when unknown. */
  nowMs(): number | undefined {
    return this.known;
  }

  async refresh(): Promise<void> {
    this.known = clusterTimeOf(await this.options.read(), this.options.members());
  }

  start(): void {
    this.periodic.start();
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }
}
