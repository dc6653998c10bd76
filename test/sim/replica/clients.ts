/**
 * Clients of the replica host: each runs one operation at a time — a linearizable read
 * (Replica.range), a write (a put) or a compare-and-set (a txn comparing the value, or the version 0
 * for "absent") — against one up member, through the production Replica API. The history they record
 * has the shape the model host's clients record (../clients.ts), so the same checker and the same
 * history rules apply.
 *
 * How an answer maps to the history: a result is a completed operation; a refused proposal
 * (E_UNAVAILABLE: never entered the log) is dropped; any other error, or no answer within the client's
 * timeout, leaves a write indeterminate (it may still commit) and a read without effect.
 */
import type { Random } from '../../../src/base/index.ts';
import { isReplicationError } from '../../../src/replication/index.ts';
import type { TxnResponse, WriteOp } from '../../../src/storage/mvcc/index.ts';
import type { KvInput, KvOutput } from '../../support/linearizability/index.ts';
import type { ClientOp } from '../clients.ts';
import type { Counters } from '../counters.ts';
import type { EventQueue } from '../event-queue.ts';
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
    if (member === undefined || replica === undefined) return this.scheduleNext();
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
    const call = input.kind === 'read'
      ? replica.range(keyBytes(input.key), undefined, { linearizable: true }).then((r): KvOutput => {
        entry.via += ` rev ${r.revision}`;
        return { kind: 'read', value: r.kvs[0] === undefined ? null : decoder.decode(r.kvs[0].value) };
      })
      : replica.propose(writeOpOf(input)).then((r): KvOutput => {
        entry.via += ` rev ${r.revision}`;
        return input.kind === 'write' ? { kind: 'write' } : { kind: 'cas', ok: (r as TxnResponse).succeeded };
      });
    call.then(
      (output) => this.answered(entry, member, incarnation, output),
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
