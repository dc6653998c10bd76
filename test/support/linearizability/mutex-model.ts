/**
 * A mutex as etcd's lock recipe gives one (a key created only if absent, attached to the holder's
 * lease; released by revoking the lease): `tryLock` takes the lock if it is free and says whether it
 * did; `unlock` frees it if its caller holds it and is a no-op otherwise (revoking a lease that holds
 * nothing), so an unlock is always accepted. A history of tryLocks and unlocks is linearizable exactly
 * when, in some order consistent with real time, no tryLock succeeded while another client held the
 * lock and none failed while it was free. The lock's owner is named in the input (`holder`), not
 * taken from the operation's client id, which a client renews after an indeterminate operation.
 */
import type { Operation } from './history.ts';
import type { Model } from './model.ts';

export type MutexInput = { kind: 'tryLock'; holder: string } | { kind: 'unlock'; holder: string };
export type MutexOutput = { kind: 'tryLock'; acquired: boolean } | { kind: 'unlock' };
export type MutexOperation = Operation<MutexInput, MutexOutput>;

/** Who holds the lock, or null when it is free. */
export type MutexState = string | null;

export const mutexModel: Model<MutexState, MutexInput, MutexOutput> = {
  init: () => null,
  step(holder, input, output) {
    if (input.kind === 'unlock') return [true, holder === input.holder ? null : holder];
    const acquired = holder === null;
    // An indeterminate tryLock is accepted with its effect (it took the lock if the lock was free).
    const matches = output === undefined || (output.kind === 'tryLock' && output.acquired === acquired);
    return [matches, acquired ? input.holder : holder];
  },
  key: (holder) => JSON.stringify(holder),
  describe(op) {
    const what = op.input.kind === 'unlock' ? 'unlock' : `tryLock → ${op.output?.kind === 'tryLock' ? String(op.output.acquired) : '?'}`;
    return `${op.input.holder} ${what} [${op.call.toFixed(1)}, ${op.return === Infinity ? '∞' : op.return.toFixed(1)}]`;
  },
};
