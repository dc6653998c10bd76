/**
 * A write's audit record travelling in its Raft entry (src/replication/audit-records.ts), from the audit
 * step to the proposal. For a request whose record travels (audit-plugin.ts, `recordTravels`), the
 * audit step shapes the record and runs the handler inside an AsyncLocalStorage scope holding it; the
 * backend every API plugin is given (`withRequestAudit`) puts it into the first proposal the handler
 * makes, so the write and its record become durable in the same WAL fdatasync on a quorum.
 *
 * Invariants (fail closed): a change a handler makes through the backend happens only with its
 * request's record durable — the first proposal carries it; a later one waits until the first was
 * applied, or, if the first failed, until the record is durable in the member's own log; any other
 * change (members, alarms, defragment) waits for the record in the member's own log; no answer leaves
 * before the record is durable (`durable`, awaited by the audit step): in the applied entry of the
 * first proposal, or — when the handler proposed nothing, or its first proposal failed — in the
 * member's own log. A transaction that writes nothing (served as a read: `readTxn`) starts making its
 * record durable in the member's own log as it reads, as a read's record is. A record is carried by at most one proposal (a proposal that failed by timeout may
 * still commit: the record is then in the log twice, under one auditID, which queries show once).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { KvBackend } from './kv/backend.ts';

export class TravellingRecord {
  private state: 'waiting' | 'travelling' | 'local' = 'waiting';
  private first: Promise<unknown> | undefined;
  private local: Promise<void> | undefined;

  /** `record` as shaped for the entry; `recordLocally` makes it durable in this member's log instead. */
  constructor(private readonly record: string, private readonly recordLocally: () => Promise<void>) {}

  /** Whether the request proposed anything (its record then travelled, or tried to): it may have changed the store. */
  get proposed(): boolean {
    return this.first !== undefined;
  }

  /** Runs the request's handler with this record in scope. */
  around<T>(handler: () => T): T {
    return scope.run(this, handler);
  }

  /** A proposal of the request: the first carries the record, a later one waits for it to be durable. */
  async propose<R>(send: (record: string | undefined) => Promise<R>): Promise<R> {
    if (this.state === 'waiting') {
      this.state = 'travelling';
      const first = send(this.record);
      this.first = first;
      return first;
    }
    await this.durable();
    return send(undefined);
  }

  /**
   * Resolves once the record is durable: in the applied entry of the first proposal, or in the member's
   * own log (nothing proposed it, or its proposal failed). Rejects if the member's log refuses it.
   */
  async durable(): Promise<void> {
    if (this.state === 'travelling') {
      try {
        await this.first;
        return;
      } catch {
        // The entry may never be committed: the record goes into the member's own log.
      }
    }
    this.state = 'local';
    this.local ??= this.recordLocally();
    await this.local;
  }
}

const scope = new AsyncLocalStorage<TravellingRecord>();

/** The backend as the API plugins use it: changes go with (or after) the record of the request making them. */
export function withRequestAudit(backend: KvBackend): KvBackend {
  const afterRecord = <A extends unknown[], R>(change: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
    await scope.getStore()?.durable();
    return change(...args);
  };
  return {
    ...backend,
    propose: (op) => {
      const travelling = scope.getStore();
      return travelling === undefined ? backend.propose(op) : travelling.propose((record) => backend.propose(op, record));
    },
    readTxn: (op, options) => {
      // A transaction that writes nothing proposes nothing: its record goes into this member's log, its
      // fdatasync beside the read as a read's is; the answer waits for it (`durable`, in the audit step).
      void scope.getStore()?.durable().catch(() => undefined);
      return backend.readTxn(op, options);
    },
    addMember: afterRecord(backend.addMember.bind(backend)),
    promoteMember: afterRecord(backend.promoteMember.bind(backend)),
    removeMember: afterRecord(backend.removeMember.bind(backend)),
    updateMemberPeerUrl: afterRecord(backend.updateMemberPeerUrl.bind(backend)),
    changeAlarm: afterRecord(backend.changeAlarm.bind(backend)),
    defragment: afterRecord(backend.defragment.bind(backend)),
  };
}
