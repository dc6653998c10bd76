/**
 * What a normal Raft entry carries: one write operation for the MVCC store, one change to a member's
 * record (a name bound, a peer URL moved: members.ts), an alarm raised or cleared (alarms.ts), or the leader's refusal of a proposal only it
 * could decide (a learner's promotion: Replica.decideForwarded), the audit record of the request
 * that proposed a write (audit-records.ts), and the id of that request, so the proposing member can hand the result back to its caller when it applies the
 * entry. Encoded with msgpack (bytes stay bytes). An entry with empty data is the no-op a new leader
 * appends.
 */
import { CofferError, decodeMsgpack, encodeMsgpack } from '../base/index.ts';
import type { WriteOp } from '../storage/mvcc/index.ts';
import type { AlarmChange } from './alarms.ts';
import type { MemberChange } from './members.ts';

export type Command = {
  /** Unique per request across the cluster's life: `<member id>.<boot nonce>.<sequence>`. */
  requestId: string;
  /** The audit record of the request that proposed the write, travelling with it (audit-records.ts). */
  audit?: string;
} & ({ op: WriteOp; member?: never; refused?: never; alarm?: never } | { member: MemberChange; op?: never; refused?: never; alarm?: never }
  | { refused: string; op?: never; member?: never; alarm?: never } | { alarm: AlarmChange; op?: never; member?: never; refused?: never });

export function encodeCommand(command: Command): Uint8Array {
  return encodeMsgpack(command);
}

export class CommandDecodeError extends CofferError {
  readonly code = 'E_COMMAND_DECODE';
}

/**
 * Decodes an entry's command; CommandDecodeError when the data is not one (not msgpack, or not a
 * command's shape). No member makes such an entry, but a committed one is applied by every member
 * alike, as nothing (Replica: commandOf).
 */
export function decodeCommand(data: Uint8Array): Command {
  let decoded: unknown;
  try {
    decoded = decodeMsgpack(data);
  } catch (cause) {
    throw new CommandDecodeError(`entry of ${data.length} bytes is not msgpack`, { cause });
  }
  const value = decoded as { requestId?: unknown; audit?: unknown; op?: unknown; member?: unknown; refused?: unknown; alarm?: unknown } | undefined;
  const kinds = (o: typeof value) => [typeof o?.op === 'object', typeof o?.member === 'object', typeof o?.refused === 'string', typeof o?.alarm === 'object']
    .filter(Boolean).length;
  if (typeof value !== 'object' || value === null || typeof value.requestId !== 'string' || kinds(value) !== 1
    || (value.audit !== undefined && typeof value.audit !== 'string')) {
    throw new CommandDecodeError(`entry of ${data.length} bytes is not a command`);
  }
  return value as unknown as Command;
}
