/**
 * storage/wal — the durable Raft log of one member: entries, hard state + membership, and snapshot
 * markers as sealed, checksummed records in segment files, written with group commit (one fdatasync per
 * batch), with sealed snapshot files beside them. Wal implements raft's Storage interface.
 *
 * Invariants: nothing reaches disk unsealed (only framing, record types, log indexes and DEK ids are in
 * the clear); an append resolves only once its record is durable; recovery truncates only a torn tail
 * of the last segment and refuses (WalCorruptionError with file and offset) every other damage; a
 * failed write or fsync makes the WAL unusable until restart; after a DEK rotation,
 * Wal.resealToActiveDek() moves every record and snapshot file onto the active DEK in place (same
 * positions and sizes, each file replaced atomically), so the old DEK can be retired at once.
 */
export { Wal, type WalOptions, type WalResealResult, type WalStats, type RaftStorageErrors } from './wal.ts';
export { WalCorruptionError, WalUnusableError, WalLimitError, WalCompactedError, WalUnavailableError } from './errors.ts';
export { walDekUsage } from './dek-usage.ts';
