/**
 * Clients of the replica host: each runs one operation at a time — a linearizable read
 * (Replica.range), a write (a put) or a compare-and-set (a txn comparing the value, or the version 0
 * for "absent") — against one up member, through the production Replica API. The history they record
 * has the shape the model host's clients record (../clients.ts), so the same checker and the same
 * history rules apply.
 *
 * Each operation is audited on the member it goes to, as the client API does it (src/api/audit-plugin.ts):
 * a write's RequestReceived record is shaped by that member and travels in the write's Raft entry
 * (src/replication/audit-records.ts), so every member's log takes it as it applies the write, and its
 * ResponseComplete record is appended with the answer, without waiting; a read's RequestReceived record
 * is appended before its ReadIndex round and must be durable before the answer (its ResponseComplete
 * record follows without waiting; the client API defers that record to the next group commit, here it
 * is synced at once, so crashes cut audit lines mid-write often enough on the sweep's seeds for the torn
 * tail path to run — the records the end check demands, those an answer waited for, are the same either
 * way). A refused record (the audit log fails closed) means a 503: the
 * write is never proposed, the read never answered.
 *
 * How an answer maps to the history: a result is a completed operation; a refused proposal
 * (E_UNAVAILABLE: never entered the log) or a refused audit record is dropped; any other error, or no
 * answer within the client's timeout, leaves a write indeterminate (it may still commit) and a read
 * without effect.
 */
import { AuditUnavailableError } from '../../../src/audit/index.ts';
import type { Random } from '../../../src/base/index.ts';
import { isReplicationError } from '../../../src/replication/index.ts';
import type { TxnResponse, WriteOp } from '../../../src/storage/mvcc/index.ts';
import type { KvInput, KvOutput } from '../../support/linearizability/index.ts';
import type { ClientOp } from '../clients.ts';
import type { Counters } from '../counters.ts';
import type { EventQueue } from '../event-queue.ts';
import { simAuditInput } from './audit.ts';
import type { SimMember } from './member.ts';

export const clientKeys = ['x', 'y', 'z'];
const keyPrefix = 'sim/';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const keyBytes = (key: string): Uint8Array => encoder.encode(`${keyPrefix}${key}`);
export const simKeyRange = { key: encoder.encode(keyPrefix), end: encoder.encode('sim0') };

export interface ReplicaClientEnv {
  queue: EventQueue;
  random: Random;
  counters: Counters;
  stamp(): number;
  /** Members a client may talk to (up). */
  targets(): SimMember[];
  /** How long a client waits for an answer, in simulated microseconds. */
  timeoutUs: number;
  /** Think time between operations: [min, max] microseconds. */
  thinkUs: [number, number];
  /** Told of every completed operation and who answered it (fail-stop check). */
  onAnswer(member: SimMember, incarnation: number, op: ClientOp): void;
  /** Told of every answered operation whose audit record was durable first, with the record's time, and whether it was a write. */
  onAudited(member: SimMember, auditID: string, atMs: number, write: boolean): void;
}

export class ReplicaClient {
  private seq = 0;
  private target: SimMember | undefined;
  private readonly lastSeen = new Map<string, string | null>();
  active = true;
  idle = true;

  constructor(readonly id: number, private readonly env: ReplicaClientEnv, private readonly ops: ClientOp[]) {}

  start(): void {
    this.scheduleNext();
  }

  /** The op id a written value belongs to (values are unique per operation). */
  static opIdOf(value: string): string {
    return value.replace('.', '#');
  }

  private scheduleNext(): void {
    this.idle = true;
    if (!this.active) return;
    this.env.queue.after(this.env.random.int(...this.env.thinkUs), () => this.issue());
  }

  private pickTarget(): SimMember | undefined {
    const targets = this.env.targets();
    if (this.target && targets.includes(this.target) && this.env.random.chance(0.7)) return this.target;
    if (targets.length === 0) return undefined;
    return targets[this.env.random.int(0, targets.length - 1)];
  }

  private makeInput(): KvInput {
    const r = this.env.random;
    const key = clientKeys[r.int(0, clientKeys.length - 1)]!;
    const value = `c${this.id}.${this.seq}`;
    const roll = r.int(0, 99);
    if (roll < 40) return { kind: 'read', key };
    if (roll < 75) return { kind: 'write', key, value };
    const expected = r.chance(0.2) ? null : (this.lastSeen.get(key) ?? null);
    return { kind: 'cas', key, expected, value };
  }

  private issue(): void {
    if (!this.active) return;
    const member = this.pickTarget();
    const replica = member?.replica;
    const audit = member?.audit;
    const clock = member?.clock;
    if (member === undefined || replica === undefined || audit === undefined || clock === undefined) return this.scheduleNext();
    this.idle = false;
    this.target = member;
    this.seq++;
    const input = this.makeInput();
    const entry: ClientOp = {
      opId: `c${this.id}#${this.seq}`,
      op: { clientId: this.id, input, output: undefined, call: this.env.stamp(), return: Infinity },
      status: 'pending',
    };
    this.ops.push(entry);
    this.env.counters.add('ops');
    const incarnation = member.incarnation;
    entry.via = `${member.name}#${incarnation}`;
    const record = (stage: 'RequestReceived' | 'ResponseComplete'): { atMs: number; durable: Promise<boolean> } => {
      const atMs = clock.nowMs();
      return { atMs, durable: audit.record(simAuditInput(entry.opId, this.id, input, stage, atMs)) };
    };
    let auditedAtMs = 0;
    const call = input.kind === 'read'
      ? (async (): Promise<KvOutput> => {
        // The record's fdatasync runs beside the ReadIndex round; the answer waits for both.
        const received = record('RequestReceived');
        received.durable.catch(() => undefined);
        const r = await replica.range(keyBytes(input.key), undefined, { linearizable: true });
        entry.via += ` rev ${r.revision}`;
        await received.durable;
        auditedAtMs = received.atMs;
        void record('ResponseComplete').durable.catch(() => undefined);
        return { kind: 'read', value: r.kvs[0] === undefined ? null : decoder.decode(r.kvs[0].value) };
      })()
      : (async (): Promise<KvOutput> => {
        // The record travels in the write's entry: durable with it, taken by every member's log as it applies.
        const atMs = clock.nowMs();
        const shaped = audit.shape(simAuditInput(entry.opId, this.id, input, 'RequestReceived', atMs));
        auditedAtMs = atMs;
        const r = await replica.propose(writeOpOf(input), shaped);
        entry.via += ` rev ${r.revision}`;
        void record('ResponseComplete').durable.catch(() => undefined);
        return input.kind === 'write' ? { kind: 'write' } : { kind: 'cas', ok: (r as TxnResponse).succeeded };
      })();
    call.then(
      (output) => {
        if (entry.status === 'pending') this.env.onAudited(member, entry.opId, auditedAtMs, input.kind !== 'read');
        this.answered(entry, member, incarnation, output);
      },
      (error: unknown) => this.failed(entry, error),
    );
    this.env.queue.after(this.env.timeoutUs, () => {
      if (entry.status !== 'pending') return;
      entry.status = 'timedOut';
      this.env.counters.add('opsTimedOut');
      this.target = undefined;
      this.scheduleNext();
    });
  }

  private answered(entry: ClientOp, member: SimMember, incarnation: number, output: KvOutput): void {
    if (entry.status !== 'pending') return;
    entry.status = 'done';
    entry.op.output = output;
    entry.op.return = this.env.stamp();
    this.env.counters.add('opsDone');
    this.env.onAnswer(member, incarnation, entry);
    const input = entry.op.input;
    if (output.kind === 'read') this.lastSeen.set(input.key, output.value);
    else if (input.kind !== 'read' && (output.kind === 'write' || (output.kind === 'cas' && output.ok))) this.lastSeen.set(input.key, input.value);
    else this.lastSeen.delete(input.key);
    this.scheduleNext();
  }

  private failed(entry: ClientOp, error: unknown): void {
    if (entry.status !== 'pending') return;
    if (isReplicationError(error, 'E_UNAVAILABLE')) {
      entry.status = 'dropped';
      this.env.counters.add('opsDropped');
    } else if (error instanceof AuditUnavailableError) {
      // Answered 503: a write was never proposed, a read never answered.
      entry.status = 'dropped';
      this.env.counters.add('opsRefusedByAudit');
    } else {
      // The outcome is unknown: the write may still commit. A read without an answer observed nothing.
      entry.status = 'timedOut';
      this.env.counters.add('opsFailed');
    }
    this.target = undefined;
    this.scheduleNext();
  }
}

function writeOpOf(input: Exclude<KvInput, { kind: 'read' }>): WriteOp {
  const put = { type: 'put' as const, key: keyBytes(input.key), value: encoder.encode(input.value) };
  if (input.kind === 'write') return put;
  const compare = input.expected === null
    ? { key: keyBytes(input.key), target: 'version' as const, result: 'equal' as const, value: 0 }
    : { key: keyBytes(input.key), target: 'value' as const, result: 'equal' as const, value: encoder.encode(input.expected) };
  return { type: 'txn', compare: [compare], success: [put], failure: [] };
}
