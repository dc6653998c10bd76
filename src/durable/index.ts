/**
 * durable — the file plumbing every persistent part of a member shares: making a new name durable
 * (directory fsync) and group-committed appends (many records, one fdatasync).
 * Invariants: nothing here acknowledges a write before the fdatasync (and, for a new file, the
 * directory fsync) covering it returned; after any write or sync failure an appender refuses
 * everything (the page cache may hold data that never reached the disk).
 * Imports only node: modules.
 */
export { fsyncDir } from './fsync-dir.ts';
export {
  type AppendHandle, type AppendStats, GroupAppender, type GroupAppenderOptions, type OpenAppendFile, openAppendFile,
  type QueuedAppend,
} from './group-appender.ts';
