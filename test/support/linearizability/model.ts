/**
 * The sequential specification a history is checked against.
 *
 * Invariant: `key(state)` is injective — two states with the same key are equal — because the search
 * prunes on (set of linearized operations, state key) and an unsound key would hide a bad history.
 */
import type { Operation } from './history.ts';

export interface Model<S, I, O> {
  /** The state before any operation. */
  init(): S;
  /**
   * Applies `input` to `state`. `output` is undefined for an indeterminate operation, which must then be
   * accepted with whatever effect the input has. Returns whether the observed output is what the model
   * would produce, and the state after.
   */
  step(state: S, input: I, output: O | undefined): [ok: boolean, next: S];
  /** A canonical string for a state (see the invariant above). */
  key(state: S): string;
  /**
   * Splits a history into independent sub-histories (for example one per key) that are checked
   * separately; a history is linearizable iff every part is. Defaults to the whole history.
   */
  partition?(history: readonly Operation<I, O>[]): Operation<I, O>[][];
  /** A short text for an operation, used in failure reports. */
  describe?(op: Operation<I, O>): string;
}
