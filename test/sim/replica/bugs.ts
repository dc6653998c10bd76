/**
 * Deliberate durability bugs for the replica host's teeth (`--bug NAME`). Each re-introduces one hole
 * the production member must not have; the sweep must catch each within a bounded number of seeds.
 *
 * - renameWithoutDirSync: a directory fsync right after a rename in that directory is skipped, so
 *   renames (the store swap, the keyring, sealed files, WAL re-seals and snapshot files) can be undone
 *   by a power cut after the member relied on them. Lives in the file system the member is given.
 * - ackBeforeWalSync: an fdatasync of a WAL segment returns at once and syncs only a little later, so
 *   the member acknowledges (votes, append responses, applied writes) what a power cut can still take.
 *   Lives in the file system the member is given.
 * - auditAckBeforeSync: an fdatasync of an audit file returns at once and syncs only a little later, so
 *   the member answers requests (and hands out checkpoints) whose audit records a power cut can still
 *   take. Lives in the file system the member is given.
 * - auditRotationWithoutDirSync: the audit directory is never fsynced, so the name of a file a rotation
 *   created (and with it the chain link and every record in it) can vanish at a power cut. Lives in the
 *   file system the member is given.
 * - confStateAheadOfStore: the member persists Raft's membership in its WAL after each conf change and
 *   restarts Raft with it, while the store (not synced per batch) may be behind — Raft then replays conf
 *   changes onto a later membership. Lives in the Replica, behind ReplicaOptions.unsafeTestingFaults.
 * - auditRecordsNotReplayed: the replica hands the audit log the records of the entries it applies only
 *   while the log is attached and taking records, never again from the WAL, so a log that a crash
 *   closed, or a sink outage failed, misses the write records of those entries. Lives in the Replica,
 *   behind ReplicaOptions.unsafeTestingFaults.
 */
import path from 'node:path';
import type { SyncReadHandle, WriteHandle } from '../../../src/durable/index.ts';
import type { EventQueue } from '../event-queue.ts';
import { type AppendableFs, preallocatedOver, syncedAppendOver } from '../../support/power-loss/index.ts';
import type { Random } from '../../../src/base/index.ts';

export interface ReplicaBugs {
  renameWithoutDirSync?: boolean;
  ackBeforeWalSync?: boolean;
  auditAckBeforeSync?: boolean;
  auditRotationWithoutDirSync?: boolean;
  confStateAheadOfStore?: boolean;
  auditRecordsNotReplayed?: boolean;
}

export type ReplicaBugName = keyof ReplicaBugs;
export const replicaBugNames: ReplicaBugName[] = [
  'renameWithoutDirSync', 'ackBeforeWalSync', 'auditAckBeforeSync', 'auditRotationWithoutDirSync', 'confStateAheadOfStore',
  'auditRecordsNotReplayed',
];

/** The file system a member sees with the file-system bugs of `bugs` switched on. */
export function withFsBugs(
  fs: AppendableFs, bugs: ReplicaBugs, io: { queue: EventQueue; random: Random; alive: () => boolean },
): AppendableFs {
  const fsBugs: (keyof ReplicaBugs)[] = ['renameWithoutDirSync', 'ackBeforeWalSync', 'auditAckBeforeSync', 'auditRotationWithoutDirSync'];
  if (!fsBugs.some((bug) => bugs[bug] === true)) return fs;
  const renamedIn = new Set<string>();
  const isWal = (file: string): boolean => path.basename(path.dirname(file)) === 'wal' && /^wal-.*\.log$/.test(path.basename(file));
  const isAudit = (file: string): boolean => path.basename(path.dirname(file)) === 'audit' && /^audit-[0-9]+\.log$/.test(path.basename(file));
  const ackEarly = (file: string): boolean => (bugs.ackBeforeWalSync === true && isWal(file)) || (bugs.auditAckBeforeSync === true && isAudit(file));
  const wrap = (file: string, handle: WriteHandle): WriteHandle => {
    if (!ackEarly(file)) return handle;
    return {
      write: (buffer, offset, length) => handle.write(buffer, offset, length),
      datasync() {
        // The bug: report durable now, sync later (if the process still lives then).
        io.queue.after(io.random.int(1_000, 20_000), () => {
          if (io.alive()) void handle.datasync().catch(() => undefined);
        });
        return Promise.resolve();
      },
      close: () => handle.close(),
    };
  };
  return {
    readFile: (file) => fs.readFile(file),
    readFileSync: (file) => fs.readFileSync(file),
    openReadSync: (file): SyncReadHandle => fs.openReadSync(file),
    async openAppend(file, fromLength) {
      const opened = await fs.openAppend(file, fromLength);
      return { handle: wrap(file, opened.handle), created: opened.created };
    },
    async openSyncedAppend(file, preallocateBytes = 0) {
      // As SimFs models O_DSYNC (write, then fdatasync), over the bug's early-acknowledging fdatasync.
      const opened = await fs.openAppend(file, preallocateBytes > 0);
      return { handle: await preallocatedOver(fs, file, syncedAppendOver(wrap(file, opened.handle)), preallocateBytes), created: opened.created };
    },
    async createTemp(file, mode) {
      const temp = await fs.createTemp(file, mode);
      return { path: temp.path, handle: wrap(temp.path, temp.handle) };
    },
    readdir: (dir) => fs.readdir(dir),
    stat: (at) => fs.stat(at),
    mkdir: (dir, options) => fs.mkdir(dir, options),
    async rename(from, to) {
      await fs.rename(from, to);
      if (bugs.renameWithoutDirSync === true) renamedIn.add(path.dirname(to));
    },
    rm: (at, options) => fs.rm(at, options),
    truncateDurably: (file, length) => fs.truncateDurably(file, length),
    fsyncDir(dir) {
      // The bugs: the fsync that would make a rename, or a new audit file, durable is left out.
      if (renamedIn.delete(dir)) return Promise.resolve();
      if (bugs.auditRotationWithoutDirSync === true && path.basename(dir) === 'audit') return Promise.resolve();
      return fs.fsyncDir(dir);
    },
  };
}
