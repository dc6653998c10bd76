/**
 * Keys and values travel as base64 in etcd's JSON; callers hand the client strings (UTF-8) or bytes.
 */
export type Bytes = Uint8Array | string;

const utf8 = new TextDecoder('utf-8', { fatal: false });

export function toBytes(value: Bytes): Uint8Array {
  return typeof value === 'string' ? new TextEncoder().encode(value) : value;
}

export function toBase64(value: Bytes): string {
  const bytes = toBytes(value);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export function fromBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'));
}

/** Bytes shown as UTF-8 text (for keys and values the caller knows to be text). */
export function text(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

/**
 * The range end that selects every key starting with `prefix` (etcd's clientv3.GetPrefixRangeEnd):
 * the prefix with its last byte below 0xff incremented and what follows dropped; "\0" (the whole
 * key space from the prefix on) when every byte is 0xff.
 */
export function prefixEnd(prefix: Bytes): Uint8Array {
  const bytes = toBytes(prefix);
  for (let i = bytes.length - 1; i >= 0; i--) {
    const byte = bytes[i] as number;
    if (byte < 0xff) {
      const end = bytes.slice(0, i + 1);
      end[i] = byte + 1;
      return end;
    }
  }
  return new Uint8Array([0]);
}

const byteUnits: readonly [number, string][] = [[1024 ** 3, 'GiB'], [1024 ** 2, 'MiB'], [1024, 'KiB']];

/** A size as people say it — `1 MiB`, `1.5 KiB`, `300 bytes` — for messages that name a limit. */
export function bytesInWords(bytes: number): string {
  for (const [unit, name] of byteUnits) {
    if (bytes >= unit) return `${Number((bytes / unit).toFixed(1))} ${name}`;
  }
  return `${bytes} bytes`;
}
