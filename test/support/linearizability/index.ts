/**
 * test/support/linearizability — a Wing–Gong/Lowe linearizability checker in the Porcupine style, a
 * keyed register model (read / write / compare-and-set) and a mutex model (try-lock / unlock). It knows
 * nothing of Raft: the simulator and the integration tests record client histories and hand them here.
 *
 * Invariants: a history is 'ok' only if some total order of its operations, consistent with real time
 * and with the model, explains every completed operation's output; indeterminate operations
 * (return = Infinity) may be placed anywhere after their call or left out. A search that exceeds its
 * step budget says 'unknown', never 'ok'.
 */
export { type Operation, isIndeterminate } from './history.ts';
export type { Model } from './model.ts';
export { type CheckOptions, type CheckResult, type PartitionFailure, type Verdict, checkLinearizable } from './check.ts';
export { type KvInput, type KvOperation, type KvOutput, type RegisterState, applyKv, kvModel } from './kv-model.ts';
export { type MutexInput, type MutexOperation, type MutexOutput, type MutexState, mutexModel } from './mutex-model.ts';
