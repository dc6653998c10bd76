import { CofferError } from '../base/index.ts';

/** A message that is not what etcd's wire contract allows: the field (or message) and what is wrong with it. */
export class WireError extends CofferError {
  readonly code = 'E_WIRE';
  constructor(readonly field: string, problem: string) {
    super(`${field}: ${problem}`);
  }
}
