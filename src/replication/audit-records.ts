/**
 * The audit records that travel in Raft entries. A write's RequestReceived record, shaped by the member
 * that took the request (policy applied, Secret values digested), rides in the entry of its change, so
 * one WAL fdatasync on a quorum makes the change and its record durable together (fail closed by
 * construction: no committed change without its record). Every member hands the record of each entry
 * it applies to its audit log, so the write trail is in every member's chain (docs/security.md).
 *
 * Invariants: the sink sees entry indexes in increasing order and takes each at most once (it ignores
 * an index at or below the newest it took); the WAL keeps every entry whose record the sink has not
 * made durable (WAL compaction waits for `durableThrough`), so a crash or a failed audit sink loses
 * nothing the replica cannot hand again (`Replica.replayAudit`); entries that reach the store by a
 * snapshot rather than one by one are named to the sink as skipped, never lost silently.
 */

/** What the replica hands applied entries' audit records to (the member's audit log). */
export interface AppliedAuditSink {
  /** The newest entry index the sink has taken (its record, if it carried one, is in the log). */
  takenThrough(): number;
  /** The newest entry index through which every record the sink took is durable. */
  durableThrough(): number;
  /** Entry `index` was applied; `record` is the audit record it carried, if any. Must not throw. */
  applied(index: number, record: string | undefined): void;
  /** Entries `from`..`to` reached the store through a snapshot, not one by one: their records are not here. */
  skipped(from: number, to: number): void;
}
