/**
 * The clear-text start of a backup file: a magic line, then one JSON header line padded with spaces
 * to exactly backupHeaderBytes (so the writer can fill in the record count at the end, in place).
 * Nothing secret is here: numbers, the source cluster id, the argon2id salt and parameters, a key
 * check value and the secretstream header. The header's exact JSON bytes are the additional data of
 * the FINAL chunk, so an edited header fails authentication.
 *
 * Format 2 (written since backups sealed to a recipient are signed, signature.ts) reads as format 1
 * except that a backup sealed to a recipient ends in a signature part after its FINAL chunk. A format 1
 * backup sealed to a recipient is unsigned: anyone holding the public key could have written it, and a
 * reader opens it only when told to (openBackup's allowUnsigned). Format 1 passphrase backups open as
 * they always did: the passphrase authenticates them.
 */
import {
  argon2MemoryKiBMax, argon2MemoryKiBMin, argon2ParallelismMax, argon2TimeCostMax, backupHeaderBytes,
} from '../../config/index.ts';
import type { Argon2Params } from '../../crypto/index.ts';
import { BackupError } from './errors.ts';

export const backupMagic = new TextEncoder().encode('COFFER-BACKUP\n');
/** The format this build writes; it reads this one and the earlier ones in readableFormats. */
export const backupFormatVersion = 2;
const readableFormats: readonly unknown[] = [1, 2];
/** Bit 31 of a chunk's length word: this is the FINAL chunk (its additional data is the header). */
export const finalFlag = 0x8000_0000;
/** The kdf of a backup whose key is sealed to a backup recipient (crypto_box_seal, X25519). */
export const sealedKeyAlgorithm = 'x25519-sealed-box';

export interface BackupHeader {
  format: 1 | typeof backupFormatVersion;
  /** When the save started (ISO 8601, UTC). */
  createdAt: string;
  sourceClusterId: string;
  /** The store's revision, applied index and compact revision at the snapshot's point in time. */
  revision: number;
  appliedIndex: number;
  compactRevision: number;
  /** Snapshot records in the file, the store header record included. */
  records: number;
  /** How the key was made: argon2id over a passphrase, or random and sealed to a recipient's public key (key.ts). */
  kdf: ({ algorithm: 'argon2id'; salt: string } & Argon2Params) | { algorithm: typeof sealedKeyAlgorithm; sealedKey: string };
  /** base64 of a 16-byte value derived from the key: tells a wrong passphrase from a damaged file. */
  keyCheck: string;
  /** base64 of libsodium's secretstream header (24 bytes). */
  streamHeader: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The header line's JSON (the FINAL chunk's additional data) and the padded line written to the file. */
export function encodeHeader(header: BackupHeader): { json: Uint8Array; line: Uint8Array } {
  const json = encoder.encode(JSON.stringify(header));
  if (json.length > backupHeaderBytes - 1) throw new RangeError(`backup header of ${json.length} bytes exceeds backupHeaderBytes (${backupHeaderBytes})`);
  const line = new Uint8Array(backupHeaderBytes).fill(0x20);
  line.set(json, 0);
  line[backupHeaderBytes - 1] = 0x0a;
  return { json, line };
}

/** A placeholder line of the header's size, written first and overwritten once the save is complete. */
export function placeholderHeaderLine(): Uint8Array {
  const line = new Uint8Array(backupHeaderBytes).fill(0x20);
  line[backupHeaderBytes - 1] = 0x0a;
  return line;
}

/** Parses a header line; `json` is the exact bytes the FINAL chunk authenticates. */
export function decodeHeader(line: Uint8Array, file: string): { header: BackupHeader; json: Uint8Array } {
  const corrupt = (what: string) => new BackupError('E_BACKUP_CORRUPT', `backup ${file}: the header ${what}`);
  if (line.length !== backupHeaderBytes || line[backupHeaderBytes - 1] !== 0x0a) throw corrupt('line is damaged');
  let end = backupHeaderBytes - 1;
  while (end > 0 && line[end - 1] === 0x20) end--;
  const json = line.slice(0, end);
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(json));
  } catch {
    throw corrupt(end === 0 ? 'is empty (the save did not finish)' : 'is not valid JSON');
  }
  if (typeof value !== 'object' || value === null) throw corrupt('is not an object');
  const h = value as Record<string, unknown>;
  if (!readableFormats.includes(h.format)) {
    throw new BackupError('E_BACKUP_FORMAT', `backup ${file}: format ${JSON.stringify(h.format)} is not one this build reads (${readableFormats.join(', ')})`);
  }
  const count = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const text = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= 256;
  const kdf = h.kdf as Record<string, unknown> | undefined;
  const ok = text(h.createdAt) && typeof h.sourceClusterId === 'string' && h.sourceClusterId.length <= 256
    && [h.revision, h.appliedIndex, h.compactRevision, h.records].every(count)
    && text(h.keyCheck) && text(h.streamHeader)
    && typeof kdf === 'object' && kdf !== null
    && ((kdf.algorithm === 'argon2id' && text(kdf.salt) && kdfParamsOk(kdf)) || (kdf.algorithm === sealedKeyAlgorithm && text(kdf.sealedKey)));
  if (!ok) throw corrupt('has missing or out-of-range fields');
  return { header: value as BackupHeader, json };
}

/** Whether the backup's key is sealed to a backup recipient (rather than derived from a passphrase). */
export function isSealed(header: BackupHeader): boolean {
  return header.kdf.algorithm === sealedKeyAlgorithm;
}

/** Whether the backup ends in a signature part: sealed to a recipient and of format 2 or later. */
export function isSigned(header: BackupHeader): boolean {
  return isSealed(header) && header.format >= 2;
}

/** argon2id parameters within the bounds a reader accepts (a tampered header must not exhaust memory). */
export function kdfParamsOk(params: Partial<Record<keyof Argon2Params, unknown>>): boolean {
  return inRange(params.memoryKiB, argon2MemoryKiBMin, argon2MemoryKiBMax) && inRange(params.timeCost, 1, argon2TimeCostMax)
    && inRange(params.parallelism, 1, argon2ParallelismMax);
}

function inRange(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max;
}
