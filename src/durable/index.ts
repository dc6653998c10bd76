/**
 * durable — the file plumbing every persistent part of a member shares: the file-system seam
 * (DurableFs; nodeFs in production, a power-loss file system in the simulator), durable
 * write-then-rename (replace.ts) and group-committed appends (many records, one synced write).
 * Invariants: nothing here acknowledges a write before the fdatasync or synced write (and, for a new
 * name, the directory fsync) covering it returned; after any write or sync failure an appender refuses
 * everything (the page cache may hold data that never reached the disk).
 * Imports only node: modules and src/base.
 */
export {
  type DurableFs, nodeFs, readFileIfPresent, readFully, readIntoSync, type SyncedAppendHandle, type SyncReadHandle, type WriteHandle,
} from './fs.ts';
export {
  type DurableWriteOptions, type DurableWriteStep, exists, mkdirDurably, renameDurably, tempPathOf, writeFileDurably,
} from './replace.ts';
export { preallocatedAppends } from './preallocate.ts';
export {
  type AppendHandle, type AppendStats, GroupAppender, type GroupAppenderOptions, type OpenAppendFile, type QueuedAppend,
} from './group-appender.ts';
