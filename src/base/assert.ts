/**
 * Invariant checks. A failed assertion is a bug in Coffer, never an expected condition: it throws an
 * AssertionFailure that callers must not catch and carry on from. Expected conditions are typed errors
 * declared by the layer that owns them.
 */
export class AssertionFailure extends Error {
  override readonly name = 'AssertionFailure';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionFailure(`invariant violated: ${message}`);
}

/** For the default branch of an exhaustive switch: the compiler proves it unreachable. */
export function unreachable(value: never, what: string): never {
  throw new AssertionFailure(`invariant violated: unexpected ${what}: ${String(value)}`);
}
