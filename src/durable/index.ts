/**
 * durable — the file plumbing every persistent part of a member shares: the file-system seam
 * (DurableFs; nodeFs in production, a power-loss file system in the simulator), durable
 * write-then-rename (replace.ts, through temporaries no other local user can predict or plant:
 * temp-file.ts), group-committed appends (many records, one synced write), and whether another local
 * user could have put a file where a name leads (other-users.ts).
 * Invariants: nothing here acknowledges a write before the fdatasync or synced write (and, for a new
 * name, the directory fsync) covering it returned; after any write or sync failure an appender refuses
 * everything (the page cache may hold data that never reached the disk); a whole-file write never
 * opens a file that existed before it.
 * Imports only node: modules, src/base and src/config.
 */
export {
  type DurableFs, nodeFs, readFileIfPresent, readFully, readIntoSync, type SyncedAppendHandle, type SyncReadHandle, type WriteHandle,
} from './fs.ts';
export {
  type DurableWriteOptions, type DurableWriteStep, exists, mkdirDurably, removeTempsOf, renameDurably, writeFileDurably,
} from './replace.ts';
export { tempPathOf } from './temp-file.ts';
export { foreignOwner, othersMayReplace, othersMayWrite } from './other-users.ts';
export { preallocatedAppends } from './preallocate.ts';
export {
  type AppendHandle, type AppendStats, GroupAppender, type GroupAppenderOptions, type OpenAppendFile, type QueuedAppend,
} from './group-appender.ts';
