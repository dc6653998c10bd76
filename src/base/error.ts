/**
 * The base of every expected-condition error in Coffer. `name` is the concrete class's name (so a
 * log line says which error it was without each class repeating it), `code` a stable identifier that
 * callers and the API map to a status (a string such as 'E_WAL_CORRUPT', or a number where the code
 * is an HTTP status), and `cause` the optional error underneath. Broken invariants are not
 * CofferErrors: they fail an `assert` (AssertionFailure), which nothing catches and carries on from.
 */
export abstract class CofferError extends Error {
  abstract readonly code: string | number;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
