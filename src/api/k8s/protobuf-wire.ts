/**
 * Protobuf's wire format, as far as Kubernetes request bodies need it: a message split into its fields
 * (wire types 0, 1, 2 and 5), the last or every length-delimited field of a number, strings as strict
 * UTF-8. Anything malformed is RegistryError BadRequest.
 */
import { RegistryError } from '../../registry/index.ts';

export type Json = Record<string, unknown>;
export type Field = { number: number; wire: number; varint?: bigint; bytes?: Uint8Array };

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function one(message: Field[], n: number): Uint8Array | undefined {
  return message.filter((f) => f.number === n && f.wire === 2).at(-1)?.bytes;
}

export function all(message: Field[], n: number): Uint8Array[] {
  return message.filter((f) => f.number === n && f.wire === 2).map((f) => f.bytes!);
}

export function str(bytes: Uint8Array | undefined): string {
  if (bytes === undefined) return '';
  try {
    return utf8.decode(bytes);
  } catch {
    throw bad('a protobuf string field is not valid UTF-8');
  }
}

/** Splits one message into its fields (wire types 0, 1, 2 and 5). */
export function fields(bytes: Uint8Array): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (pos >= bytes.length) throw bad('truncated protobuf varint');
      const b = bytes[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
    }
    throw bad('protobuf varint too long');
  };
  while (pos < bytes.length) {
    const tag = varint();
    const number = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (number === 0) throw bad('protobuf field number 0');
    switch (wire) {
      case 0: out.push({ number, wire, varint: varint() }); break;
      case 1: pos += 8; break;
      case 5: pos += 4; break;
      case 2: {
        const length = Number(varint());
        if (length > bytes.length - pos) throw bad('truncated protobuf field');
        out.push({ number, wire, bytes: bytes.subarray(pos, pos + length) });
        pos += length;
        break;
      }
      default: throw bad(`unsupported protobuf wire type ${wire}`);
    }
    if (pos > bytes.length) throw bad('truncated protobuf field');
  }
  return out;
}

export function bad(message: string): RegistryError {
  return new RegistryError('BadRequest', message);
}
