/**
 * What the registry needs from the replicated store (the member's KvBackend satisfies it): writes
 * through Raft, reads linearizable or local, and the local store's watch.
 */
import type { RangeOptions, RangeResponse, Watcher, WatchOptions, WriteOp, WriteResponse } from '../storage/mvcc/index.ts';

export interface RegistryKv {
  propose(op: WriteOp): Promise<WriteResponse>;
  range(key: Uint8Array, end: Uint8Array | undefined, options: RangeOptions & { linearizable: boolean }): Promise<RangeResponse>;
  mvcc(): {
    watch(options: WatchOptions): Watcher;
    currentRevision(): number;
    compactRevision(): number;
  };
}
