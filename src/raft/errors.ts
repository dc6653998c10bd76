/**
 * Expected conditions of the Raft core, as typed errors with a stable `code`. Broken invariants are not
 * here: they fail an `assert` from src/base.
 */
import { CofferError } from '../base/index.ts';

export abstract class RaftError extends CofferError {
  abstract override readonly code: string;
}

/**
 * A proposal (or read, or conf change) was not accepted: no leader known, a leadership transfer is in
 * progress, the uncommitted-bytes limit is reached, a conf change is already pending, or this node is not
 * a member. The caller may retry, typically after the next leader change.
 */
export class ProposalDroppedError extends RaftError {
  readonly code = 'E_PROPOSAL_DROPPED';
  constructor(readonly reason: string) {
    super(`raft proposal dropped: ${reason}`);
  }
}

/** The requested log index is at or below the storage's compaction point (it is in a snapshot). */
export class CompactedError extends RaftError {
  readonly code = 'E_COMPACTED';
  constructor(readonly index: number, readonly firstIndex: number) {
    super(`raft log index ${index} is compacted (first available index is ${firstIndex})`);
  }
}

/** The requested log index is beyond the last index in storage. */
export class UnavailableError extends RaftError {
  readonly code = 'E_UNAVAILABLE';
  constructor(readonly index: number, readonly lastIndex: number) {
    super(`raft log index ${index} is unavailable (last index is ${lastIndex})`);
  }
}

/** A snapshot is being produced and cannot be returned yet; the leader retries later. */
export class SnapshotTemporarilyUnavailableError extends RaftError {
  readonly code = 'E_SNAPSHOT_TEMPORARILY_UNAVAILABLE';
  constructor() {
    super('raft snapshot temporarily unavailable');
  }
}

/** A snapshot older than the one storage already holds was offered. */
export class SnapshotOutOfDateError extends RaftError {
  readonly code = 'E_SNAPSHOT_OUT_OF_DATE';
  constructor(readonly index: number, readonly currentIndex: number) {
    super(`raft snapshot at index ${index} is older than the stored snapshot at index ${currentIndex}`);
  }
}

/** A Config field is invalid; `field` names it and the message states the bad value and the rule. */
export class ConfigError extends RaftError {
  readonly code = 'E_RAFT_CONFIG';
  constructor(readonly field: string, message: string) {
    super(`raft config ${field}: ${message}`);
  }
}

/** A membership change that cannot apply to the current membership (e.g. removing the last voter). */
export class ConfChangeError extends RaftError {
  readonly code = 'E_CONF_CHANGE_INVALID';
  constructor(message: string) {
    super(`raft conf change invalid: ${message}`);
  }
}

/** Conf change entry data that does not decode. */
export class ConfChangeDecodeError extends RaftError {
  readonly code = 'E_CONF_CHANGE_DECODE';
  constructor(message: string) {
    super(`raft conf change data does not decode: ${message}`);
  }
}
