/**
 * Config: every knob of one Raft node, one documented field each, with its unit. Validated once, at
 * RawNode construction, by validateConfig; a bad field raises ConfigError naming the field and value.
 */
import { ConfigError } from './errors.ts';
import type { NodeId } from './types.ts';

/**
 * Deliberate bugs for the simulator's "teeth" tests: each switch breaks one safety rule so a test can
 * show the checkers catch it. Never set outside tests.
 */
export interface UnsafeTestingFaults {
  /** Leader commits an entry of an earlier term by counting replicas (the Figure 8 bug). */
  commitPreviousTermByCounting?: boolean;
  /** A new leader may propose a conf change before committing an entry of its term (Ongaro's 2015 bug). */
  skipConfChangeGuard?: boolean;
}

export interface Config {
  /** This node's id. Invariant: > 0 and unique in the cluster. */
  id: NodeId;
  /**
   * Ticks a follower waits without hearing from a leader before it campaigns. The actual timeout is
   * drawn from the injected Random in [electionTicks, 2 * electionTicks) after every reset.
   * Invariant: electionTicks > heartbeatTicks.
   */
  electionTicks: number;
  /** Ticks between the leader's heartbeats. Invariant: >= 1. */
  heartbeatTicks: number;
  /**
   * Bytes of entries (payload plus a fixed per-entry overhead) in one append message, and in one Ready's
   * committedEntries. At least one entry is always sent, so an entry larger than this still moves.
   */
  maxMsgBytes: number;
  /** Append messages in flight to one follower in replicate state before the leader pauses. */
  maxInflightMsgs: number;
  /** Bytes of entries in flight to one follower before the leader pauses. Invariant: >= maxMsgBytes. */
  maxInflightBytes: number;
  /**
   * Payload bytes of entries the leader holds appended but not yet committed; proposals beyond it are
   * dropped (ProposalDroppedError) — backpressure. A proposal is always accepted when nothing is
   * uncommitted, so one entry larger than the limit can still go through.
   */
  maxUncommittedBytes: number;
  /** Run a pre-election before raising the term, so a rejoining partitioned node does not disrupt. */
  preVote: boolean;
  /**
   * The leader steps down when it has not heard from a quorum within an election timeout, and a
   * follower that heard from a leader within the election timeout ignores vote requests (leader lease).
   */
  checkQuorum: boolean;
  /**
   * The index the host has already applied (on restart). 0 means the first index of the log minus one
   * (the snapshot index). Invariant: applied <= commit of the stored HardState.
   */
  applied: number;
  /** Testing only; see UnsafeTestingFaults. */
  unsafeTestingFaults?: UnsafeTestingFaults;
}

/** Reasonable defaults; callers spread them and set `id` (and anything else). */
export const raftConfigDefaults: Omit<Config, 'id'> = {
  electionTicks: 10,
  heartbeatTicks: 1,
  maxMsgBytes: 1024 * 1024,
  maxInflightMsgs: 256,
  maxInflightBytes: 32 * 1024 * 1024,
  maxUncommittedBytes: 64 * 1024 * 1024,
  preVote: true,
  checkQuorum: true,
  applied: 0,
};

function positiveInteger(field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConfigError(field, `${String(value)} is not a positive integer`);
  }
}

/** Throws ConfigError on the first invalid field. */
export function validateConfig(c: Config): void {
  positiveInteger('id', c.id);
  positiveInteger('heartbeatTicks', c.heartbeatTicks);
  positiveInteger('electionTicks', c.electionTicks);
  if (c.electionTicks <= c.heartbeatTicks) {
    throw new ConfigError('electionTicks', `${c.electionTicks} must be greater than heartbeatTicks (${c.heartbeatTicks})`);
  }
  positiveInteger('maxMsgBytes', c.maxMsgBytes);
  positiveInteger('maxInflightMsgs', c.maxInflightMsgs);
  positiveInteger('maxInflightBytes', c.maxInflightBytes);
  if (c.maxInflightBytes < c.maxMsgBytes) {
    throw new ConfigError('maxInflightBytes', `${c.maxInflightBytes} must be at least maxMsgBytes (${c.maxMsgBytes})`);
  }
  positiveInteger('maxUncommittedBytes', c.maxUncommittedBytes);
  if (typeof c.preVote !== 'boolean') throw new ConfigError('preVote', `${String(c.preVote)} is not a boolean`);
  if (typeof c.checkQuorum !== 'boolean') throw new ConfigError('checkQuorum', `${String(c.checkQuorum)} is not a boolean`);
  if (!Number.isSafeInteger(c.applied) || c.applied < 0) {
    throw new ConfigError('applied', `${String(c.applied)} is not a non-negative integer`);
  }
}
