/**
 * Crash points: every mutation of a member's disk belongs to an activity (what the member was doing)
 * and is one step of it (the operation and the kind of file). A crash point is an (activity, step)
 * pair; the replica host counts the points it saw and the points it crashed at, so a sweep can say
 * which steps of a snapshot install, a DEK rotation, a KEK rotation, a WAL re-seal, a compaction, the
 * audit log's appends, rotations, retention and recovery, or a graceful stop were ever interrupted.
 */
import type { FsMutation } from '../../support/power-loss/index.ts';

export const activities = [
  'snapshotInstall', 'dekRotation', 'kekRewrap', 'walReseal', 'walCompaction', 'mvccCompaction',
  'auditAppend', 'auditRotation', 'auditRetention', 'auditRecovery', 'shutdown', 'steady',
] as const;
export type Activity = (typeof activities)[number];

/** What the host knows a member is doing, besides what a path says. */
export interface MemberTasks {
  /** From rotate-dek until its re-encryption pass, WAL re-seal and retirement check are done. */
  dekRotation: boolean;
  walReseal: boolean;
  kekRewrap: boolean;
  /** A compaction of the store was applied and its physical deletion is not finished. */
  mvccCompaction: boolean;
  /** The audit log created a new file and has not yet synced its first records (the chain link). */
  auditRotation: boolean;
  /** The audit sink failed and has not taken records again (cutting the unacknowledged tail, a fresh file). */
  auditRecovery: boolean;
  /** A graceful stop is under way: its key work, audit log, replica and store (the index checkpoint) closing. */
  shutdown: boolean;
}

export const idleTasks = (): MemberTasks => ({
  dekRotation: false, walReseal: false, kekRewrap: false, mvccCompaction: false, auditRotation: false, auditRecovery: false, shutdown: false,
});

/** The file a path names, relative to the data dir, with numbers in names replaced by `*`. */
export function fileClass(dataDir: string, file: string): string {
  const relative = file.startsWith(`${dataDir}/`) ? file.slice(dataDir.length + 1) : file;
  return relative.replace(/[0-9a-f]{16}/g, '*').replace(/audit-[0-9]+\.log/, 'audit-*.log');
}

/** The step a mutation is: the operation and the file classes it touches. */
export function stepOf(dataDir: string, op: FsMutation, target: string): string {
  return `${op} ${target.split(' -> ').map((p) => fileClass(dataDir, p)).join(' -> ')}`;
}

export function activityOf(step: string, tasks: MemberTasks): Activity {
  if (tasks.shutdown) return 'shutdown';
  if (/ audit(\/audit-\*\.log)?$/.test(step) && !step.startsWith('mkdir')) return auditActivityOf(step, tasks);
  if (/audit-signing\.key/.test(step)) return tasks.dekRotation ? 'dekRotation' : 'steady';
  if (/mvcc\.(incoming|old)/.test(step)) return 'snapshotInstall';
  if (/keyring\.json/.test(step)) return tasks.kekRewrap ? 'kekRewrap' : 'dekRotation';
  if (/wal\/wal-\*-\*\.log\.\*\.tmp/.test(step)) return 'walReseal';
  if (/wal\/snap-/.test(step)) return tasks.walReseal ? 'walReseal' : 'walCompaction';
  if (/^rm wal\/wal-/.test(step)) return 'walCompaction';
  if (/^(write|datasync) mvcc\/LOG/.test(step)) {
    if (tasks.dekRotation) return 'dekRotation';
    if (tasks.mvccCompaction) return 'mvccCompaction';
  }
  return 'steady';
}

/** Steps on the audit directory and its files: a new file (and its directory fsync) is a rotation. */
function auditActivityOf(step: string, tasks: MemberTasks): Activity {
  if (tasks.auditRecovery || step.startsWith('truncate')) return 'auditRecovery';
  if (step.startsWith('rm')) return 'auditRetention';
  if (step.startsWith('create') || step.startsWith('fsyncDir') || tasks.auditRotation) return 'auditRotation';
  return 'auditAppend';
}

/** A crash point's name. */
export function crashPoint(activity: Activity, step: string): string {
  return `${activity}: ${step}`;
}
