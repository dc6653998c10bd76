/**
 * How a store is opened (MvccStore.open, importSnapshot, peekAppliedIndex): where it lies, how its
 * records are sealed, and what its owner is told.
 */
import type { Clock } from '../../base/index.ts';
import type { Sealer } from '../../crypto/index.ts';
import type { MvccError } from './errors.ts';
import type { OpenLevel } from './level.ts';

export interface MvccStoreOptions {
  /** The LevelDB directory (created if missing). */
  dir: string;
  /** Seals and opens every record; the member's keyring. */
  sealer: Sealer;
  /** Bound into every page's position, so pages of another store do not open here. */
  storeId: string;
  /** Time for watch progress notifications, and the yields of background work (default: the real clock). */
  clock?: Clock;
  /** The database engine (default: classic-level, i.e. LevelDB). */
  openLevel?: OpenLevel;
  /**
   * fsync every batch (default false). The Raft WAL is the durable record; after a power loss the
   * store may be behind, never torn, and its applied index says where the replication layer resumes.
   */
  sync?: boolean;
  /** Pages an open after a crash would replay before a running store writes its index checkpoint again (default: indexCheckpointReplayPagesMin). */
  indexCheckpointReplayPagesMin?: number;
  /** Told the duration of every batch written to LevelDB, in seconds (metrics). */
  onCommit?: (seconds: number) => void;
  /** Told, once, that the store failed (E_FAILED or E_INTEGRITY) and refuses every use until reopened. */
  onFailure?: (error: MvccError) => void;
}
