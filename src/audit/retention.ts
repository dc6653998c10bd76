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

export interface RetentionPlan {
  /** Files to delete, oldest first. */
  removes: RetainedFile[];
  /** The files in `removes` holding a record younger than ageMsMin (size forced them out). */
  young: RetainedFile[];
  /** After the removals: the kept files fill auditRetentionWarnPercent of bytesMax and the oldest is younger than ageMsMin. */
  atRisk: boolean;
  /** Bytes of the files kept after the removals. */
  keptBytes: number;
  /** Time of the newest record in the oldest file kept (0 when none is kept). */
  oldestKeptMs: number;
}

/** The plan for `files` (every kept file, oldest first) at `nowMs`, never touching the newest `keepNewest`. */
export function planRetention(files: readonly RetainedFile[], limits: RetentionLimits, nowMs: number, keepNewest: number): RetentionPlan {
  let keptBytes = files.reduce((sum, f) => sum + f.bytes, 0);
  const removes: RetainedFile[] = [];
  const young: RetainedFile[] = [];
  const removable = files.slice(0, Math.max(0, files.length - keepNewest));
  for (const file of removable) {
    const tooOld = nowMs - file.newestMs > limits.ageMsMax;
    if (!tooOld && keptBytes <= limits.bytesMax) break;
    removes.push(file);
    if (nowMs - file.newestMs < limits.ageMsMin) young.push(file);
    keptBytes -= file.bytes;
  }
  const oldestKept = files[removes.length];
  const atRisk = oldestKept !== undefined && nowMs - oldestKept.newestMs < limits.ageMsMin
    && keptBytes * 100 >= limits.bytesMax * auditRetentionWarnPercent;
  return { removes, young, atRisk, keptBytes, oldestKeptMs: oldestKept?.newestMs ?? 0 };
}

/** The time a record names (events: stageTimestamp; checkpoints: their checkpoint's time; others: time), in ms; 0 if none. */
export function recordTimeMs(record: Record<string, unknown> | undefined): number {
  if (record === undefined) return 0;
  const checkpoint = record.checkpoint as { time?: unknown } | undefined;
  const text = record.stageTimestamp ?? checkpoint?.time ?? record.time;
  const ms = typeof text === 'string' ? Date.parse(text) : NaN;
  return Number.isFinite(ms) ? ms : 0;
}
