/**
 * Alarms, as etcd raises them: NOSPACE, raised by a member whose store outgrew its quota
 * (`--quota-backend-bytes`). An alarm is replicated state: raised and cleared by Raft entries, held in
 * the store under Coffer's reserved keyspace (so snapshots and backups carry it), and while any member's
 * NOSPACE alarm stands every member refuses, when it applies them, the writes that add data — a put of a
 * client key (alone or in either branch of a transaction, nested ones too) and a lease grant — with
 * etcd's `database space exceeded`. Deletes, compaction, lease revokes and keep-alives still apply, so an
 * operator can make room, defragment and disarm, as with etcd.
 *
 * Invariant: the decision depends only on the entries applied before, so every member refuses the
 * same writes.
 */
import { prefixEnd, type TxnOp, type WriteOp } from '../storage/mvcc/index.ts';
import { isReservedKey } from './members.ts';

export type AlarmType = 'NOSPACE';

export interface Alarm {
  memberId: number;
  alarm: AlarmType;
}

export interface AlarmChange extends Alarm {
  action: 'activate' | 'deactivate';
}

/** etcd's words for a write refused while a NOSPACE alarm stands (its clients match them). */
export const noSpaceMessage = 'etcdserver: mvcc: database space exceeded';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const alarmPrefix = encoder.encode('\0coffer/alarms/');
export const alarmRange = { key: alarmPrefix, end: prefixEnd(alarmPrefix) };

export function alarmKey(alarm: Alarm): Uint8Array {
  return encoder.encode(`\0coffer/alarms/${String(alarm.memberId).padStart(12, '0')}/${alarm.alarm}`);
}

export function encodeAlarm(alarm: Alarm): Uint8Array {
  return encoder.encode(JSON.stringify({ memberId: alarm.memberId, alarm: alarm.alarm }));
}

export function decodeAlarm(value: Uint8Array): Alarm {
  return JSON.parse(decoder.decode(value)) as Alarm;
}

/** Whether a write adds data the quota counts: a client key put anywhere in it, or a lease grant. */
export function addsData(op: WriteOp | TxnOp): boolean {
  switch (op.type) {
    case 'put': return !isReservedKey(op.key);
    case 'txn': return [...op.success, ...op.failure].some(addsData);
    case 'leaseGrant': return true;
    default: return false;
  }
}
