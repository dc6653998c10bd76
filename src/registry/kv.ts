/**
 * What the registry needs from the replicated store (the member's KvBackend satisfies it): writes
 * through Raft, reads linearizable or local, and the local store's watch.
 */
import type { RangeOptions, RangeResponse, ReadAccount, Watcher, WatchOptions, WriteOp, WriteResponse } from '../storage/mvcc/index.ts';

export interface RegistryKv {
  propose(op: WriteOp): Promise<WriteResponse>;
  /** `account`: where a client's read charges what it holds (storage/mvcc/read-budget.ts). */
  range(key: Uint8Array, end: Uint8Array | undefined, options: RangeOptions & { linearizable: boolean; account?: ReadAccount }): Promise<RangeResponse>;
  mvcc(): {
    watch(options: WatchOptions): Watcher;
    currentRevision(): number;
    compactRevision(): number;
  };
}
