/**
 * Audit retention (pure): which files a rotation deletes, by size and by age, and whether the history
 * an operator counts on is at risk. The log calls planRetention at every rotation and acts on the plan:
 * the continuation record of the new file names the files it deletes (the cut is in the chain), the
 * deletion happens once that record is durable, and young history is reported before it goes.
 *
 * The three settings (defaults in src/config/limits.ts, documented in docs/operations.md):
 * - bytesMax: the oldest files go while all kept files together exceed it;
 * - ageMsMax: files whose newest record is older go;
 * - ageMsMin: the minimum retention. Size wins over it (a full disk would refuse every request), but a
 *   file holding a record younger than ageMsMin is deleted only after the plan names it in `young`
 *   (the log logs and counts it first), and `atRisk` turns true earlier, once the kept files reach
 *   auditRetentionWarnPercent of bytesMax while the oldest of them is still that young.
 *
 * Age is judged by the cluster's time, not the member's clock alone (a member whose clock runs months
 * ahead would otherwise delete its whole history on its own say): `agreedMs` is agreedNowMs — the local
 * clock, but at most the cluster's time (the lower median of the members' newest replicated checkpoint
 * times, src/server/cluster-time.ts) plus an allowance; with no cluster time known nothing goes by age.
 * Size and the minimum retention use the local clock as before: size protects the disk whatever the
 * clocks say. `heldBack` names the files the local clock alone would have deleted by age.
 *
 * Invariants: the newest `keepNewest` files are never deleted; files go oldest first, never out of order.
 */
import { auditRetentionWarnPercent } from '../config/index.ts';

export interface RetentionLimits {
  bytesMax: number;
  ageMsMax: number;
  ageMsMin: number;
}

export interface RetainedFile {
  number: number;
  bytes: number;
  /** Time of the newest record in the file (ms since the epoch); 0 when unknown (treated as old). */
  newestMs: number;
}

/** The times a plan judges by: the member's clock, and the time the cluster agrees on (agreedNowMs). */
export interface RetentionNow {
  localMs: number;
  /** undefined: the cluster's time is unknown, and no file is deleted by age. */
  agreedMs: number | undefined;
}

/** A file a plan deletes, and why: past the age limit, or the kept files exceed the size limit. */
export interface RemovedFile extends RetainedFile {
  reason: 'age' | 'size';
}

export interface RetentionPlan {
  /** Files to delete, oldest first. */
  removes: RemovedFile[];
  /** Files kept that the local clock alone would have deleted by age (it runs ahead of the cluster's time, or that is unknown). */
  heldBack: RetainedFile[];
  /** The files in `removes` holding a record younger than ageMsMin (size forced them out). */
  young: RetainedFile[];
  /** After the removals: the kept files fill auditRetentionWarnPercent of bytesMax and the oldest is younger than ageMsMin. */
  atRisk: boolean;
  /** Bytes of the files kept after the removals. */
  keptBytes: number;
  /** Time of the newest record in the oldest file kept (0 when none is kept). */
  oldestKeptMs: number;
}

/**
 * The time retention by age judges by: the local clock, but never more than `allowanceMs` past the
 * cluster's time (so a clock far ahead cannot age files); undefined when the cluster's time is unknown.
 */
export function agreedNowMs(localMs: number, clusterMs: number | undefined, allowanceMs: number): number | undefined {
  return clusterMs === undefined ? undefined : Math.min(localMs, clusterMs + allowanceMs);
}

/** The plan for `files` (every kept file, oldest first) at `now`, never touching the newest `keepNewest`. */
export function planRetention(files: readonly RetainedFile[], limits: RetentionLimits, now: RetentionNow, keepNewest: number): RetentionPlan {
  const { localMs, agreedMs } = now;
  let keptBytes = files.reduce((sum, f) => sum + f.bytes, 0);
  const removes: RemovedFile[] = [];
  const young: RetainedFile[] = [];
  const removable = files.slice(0, Math.max(0, files.length - keepNewest));
  for (const file of removable) {
    const tooOld = agreedMs !== undefined && agreedMs - file.newestMs > limits.ageMsMax;
    if (!tooOld && keptBytes <= limits.bytesMax) break;
    removes.push({ ...file, reason: tooOld ? 'age' : 'size' });
    if (localMs - file.newestMs < limits.ageMsMin) young.push(file);
    keptBytes -= file.bytes;
  }
  const heldBack = removable.slice(removes.length).filter((f) => localMs - f.newestMs > limits.ageMsMax);
  const oldestKept = files[removes.length];
  const atRisk = oldestKept !== undefined && localMs - oldestKept.newestMs < limits.ageMsMin
    && keptBytes * 100 >= limits.bytesMax * auditRetentionWarnPercent;
  return { removes, heldBack, young, atRisk, keptBytes, oldestKeptMs: oldestKept?.newestMs ?? 0 };
}

/** The time a record names (events: stageTimestamp; checkpoints: their checkpoint's time; others: time), in ms; 0 if none. */
export function recordTimeMs(record: Record<string, unknown> | undefined): number {
  if (record === undefined) return 0;
  const checkpoint = record.checkpoint as { time?: unknown } | undefined;
  const text = record.stageTimestamp ?? checkpoint?.time ?? record.time;
  const ms = typeof text === 'string' ? Date.parse(text) : NaN;
  return Number.isFinite(ms) ? ms : 0;
}
