/**
 * storage/wal — the durable Raft log of one member: entries, hard state + membership, and snapshot
 * markers as sealed, checksummed records in segment files, written with group commit (one fdatasync per
 * batch), with sealed snapshot files beside them. Wal implements raft's Storage interface.
 *
 * Invariants: nothing reaches disk unsealed (only framing, record types, log indexes and DEK ids are in
 * the clear); an append resolves only once its record is durable; recovery truncates only a torn tail
 * of the last segment and refuses (WalCorruptionError with file and offset) every other damage; a
 * failed write or fsync makes the WAL unusable until restart.
 */
export { Wal, type WalOptions, type WalStats, type RaftStorageErrors } from './wal.ts';
export { WalCorruptionError, WalUnusableError, WalLimitError, WalCompactedError, WalUnavailableError } from './errors.ts';
export { walDekUsage } from './dek-usage.ts';
