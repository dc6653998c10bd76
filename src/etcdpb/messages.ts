/**
 * Encoding and decoding of the etcd messages (etcd-proto.ts) with protobufjs. Decoded messages are
 * plain objects with every field present at its default; 64-bit integers arrive as decimal strings and
 * are turned into numbers by `int64`, which refuses what a JavaScript number cannot hold exactly.
 */
import protobuf from 'protobufjs';
import { WireError } from './errors.ts';
import { etcdProto } from './etcd-proto.ts';

const root = protobuf.parse(etcdProto, { keepCase: true }).root;

export type Message = Record<string, unknown>;

/** A message type of package etcdserverpb, by name. */
export function messageType(name: string): protobuf.Type {
  return root.lookupType(`etcdserverpb.${name}`);
}

export function decode(type: protobuf.Type, bytes: Uint8Array): Message {
  let message: protobuf.Message;
  try {
    message = type.decode(bytes);
  } catch {
    throw new WireError(type.name, 'is not a valid protobuf message');
  }
  return type.toObject(message, { longs: String, enums: String, bytes: Uint8Array, defaults: true, oneofs: true });
}

export function encode(type: protobuf.Type, message: Message): Uint8Array {
  return type.encode(type.fromObject(message)).finish();
}

/** A decoded int64 field as a number: non-negative and exactly representable, or WireError. */
export function int64(message: Message, field: string): number {
  const value = Number(message[field] ?? 0);
  if (!Number.isSafeInteger(value) || value < 0) throw new WireError(field, 'must be a non-negative integer below 2^53');
  return value;
}

/**
 * An ID no Coffer member or lease can have: what a 64-bit ID beyond 2^53 (or below 0) decodes to, so it
 * is looked up — and not found — as etcd looks up an ID it does not hold, rather than refused.
 */
export const unheldId = -1;

/** A decoded 64-bit ID field (a lease's, a member's): its value, or unheldId for one no member can hold. */
export function idField(message: Message, field: string): number {
  const value = Number(message[field] ?? 0);
  return Number.isSafeInteger(value) && value >= 0 ? value : unheldId;
}

export function bytesField(message: Message, field: string): Uint8Array {
  const value = message[field];
  return value instanceof Uint8Array ? value : new Uint8Array(0);
}

export function boolField(message: Message, field: string): boolean {
  return message[field] === true;
}

export function stringField(message: Message, field: string): string {
  return typeof message[field] === 'string' ? message[field] : '';
}
