/**
 * A client history: each operation with the real-time interval in which it was in flight.
 *
 * Invariant: call < return for a completed operation. An operation whose outcome the client never
 * learned (it timed out, or its node crashed) is indeterminate: `return` is Infinity and `output` is
 * undefined. It may have taken effect at any point after its call, or never.
 */
export interface Operation<I, O> {
  /** The client that issued it; a client issues one operation at a time. */
  clientId: number;
  input: I;
  /** What the client observed; undefined exactly when the operation is indeterminate. */
  output: O | undefined;
  /** When the call was issued, on the history's clock. */
  call: number;
  /** When the reply arrived, or Infinity when none did. */
  return: number;
}

export function isIndeterminate<I, O>(op: Operation<I, O>): boolean {
  return op.return === Infinity;
}
