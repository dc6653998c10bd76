/** Expected failures of the WAL, each with a stable `code`; messages name files, offsets and indexes only. */
import { CofferError } from '../../base/index.ts';

/** A segment or snapshot file is corrupt somewhere other than a torn tail; the member must not start. */
export class WalCorruptionError extends CofferError {
  readonly code = 'E_WAL_CORRUPT';
  constructor(readonly file: string, readonly offset: number, reason: string, options?: ErrorOptions) {
    super(`WAL file ${file} is corrupt at offset ${offset}: ${reason}`, options);
  }
}

/** A write or fsync failed earlier, or the WAL was closed; nothing more may be appended. */
export class WalUnusableError extends CofferError {
  readonly code = 'E_WAL_UNUSABLE';
}

/** A record or snapshot above its size limit. */
export class WalLimitError extends CofferError {
  readonly code = 'E_WAL_LIMIT';
}

/** Mirrors raft's CompactedError when no Raft error constructors are injected (see WalOptions.raftErrors). */
export class WalCompactedError extends CofferError {
  readonly code = 'E_COMPACTED';
  constructor(readonly index: number, readonly firstIndex: number) {
    super(`WAL index ${index} is compacted (first available index is ${firstIndex})`);
  }
}

/** Mirrors raft's UnavailableError when no Raft error constructors are injected. */
export class WalUnavailableError extends CofferError {
  readonly code = 'E_UNAVAILABLE';
  constructor(readonly index: number, readonly lastIndex: number) {
    super(`WAL index ${index} is unavailable (last index is ${lastIndex})`);
  }
}
