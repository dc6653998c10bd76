/**
 * The keyring file: `keyring.json` in the member's data dir.
 *
 *   {"format":"coffer-keyring","version":1,"body":"<JSON text of KeyringBody>","mac":"<base64>"}
 *
 * `mac` is HMAC-SHA-512-256 (libsodium crypto_auth) over the exact bytes of `body`, keyed by the
 * keyring's authentication key, which is itself wrapped by the KEK inside the body. So reading a
 * keyring is: parse the body (untrusted), derive the KEK from its KEK record, unwrap the auth key
 * (failure = wrong KEK: "cannot unseal"), verify the MAC (failure = tampering), and only then trust
 * the DEK list, the active id and the counters.
 */
import { dekCountMax, keyringRetiredDeksKept } from '../config/index.ts';
import { KeyringError } from './errors.ts';
import type { KekRecord } from './kek.ts';
import { isRecord } from './kms-protocol.ts';

export const keyringFileName = 'keyring.json';
const fileFormat = 'coffer-keyring';
const fileVersion = 1;

export interface DekRecord {
  /** DEK ids count up from 1; Invariant: ids are unique and ascending in `deks`. */
  id: number;
  createdAtMs: number;
  /** base64 of the DEK wrapped by the KEK. */
  wrapped: string;
  /** Pages sealed with this DEK, as of the last keyring write (a lower bound after a crash). */
  pagesSealed: number;
}

/** A DEK retired (its key wiped, its record gone from `deks`): kept so status shows it after a restart. */
export interface RetiredDekRecord {
  id: number;
  retiredAtMs: number;
}

export interface KeyringBody {
  /** base64 of 16 random bytes; bound into every wrapping so wrapped keys cannot move between keyrings. */
  keyringId: string;
  createdAtMs: number;
  kek: KekRecord;
  /** base64 of the authentication key wrapped by the KEK. */
  authKey: string;
  /** Invariant: names a DEK in `deks`. */
  activeDekId: number;
  deks: DekRecord[];
  /** The latest keyringRetiredDeksKept retirements, oldest first (absent in keyrings written before it existed). */
  retired?: RetiredDekRecord[];
}

export interface KeyringFile {
  body: string;
  mac: Uint8Array;
}

export function encodeKeyringFile(body: string, mac: Uint8Array): Uint8Array {
  const text = JSON.stringify({ format: fileFormat, version: fileVersion, body, mac: Buffer.from(mac).toString('base64') });
  return Buffer.from(text + '\n', 'utf8');
}

export function decodeKeyringFile(bytes: Uint8Array, where: string): KeyringFile {
  let outer: unknown;
  try {
    outer = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new KeyringError(`keyring file ${where} is not JSON`);
  }
  if (!isRecord(outer) || outer.format !== fileFormat) throw new KeyringError(`${where} is not a Coffer keyring file`);
  if (outer.version !== fileVersion) throw new KeyringError(`keyring file ${where} has version ${String(outer.version)}, expected ${fileVersion}`);
  if (typeof outer.body !== 'string' || typeof outer.mac !== 'string') throw new KeyringError(`keyring file ${where} lacks body or mac`);
  return { body: outer.body, mac: Buffer.from(outer.mac, 'base64') };
}

/** Parses and shape-checks a body. The result is still unauthenticated until the MAC is verified. */
export function parseKeyringBody(text: string, where: string): KeyringBody {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new KeyringError(`keyring file ${where}: body is not JSON`);
  }
  const bad = (what: string): KeyringError => new KeyringError(`keyring file ${where}: ${what}`);
  if (!isRecord(body)) throw bad('body is not an object');
  if (typeof body.keyringId !== 'string' || typeof body.authKey !== 'string') throw bad('keyringId or authKey missing');
  if (!isCount(body.createdAtMs)) throw bad('createdAtMs is not a time');
  if (!isCount(body.activeDekId)) throw bad('activeDekId is not an id');
  if (!isKekRecord(body.kek)) throw bad('kek record is malformed');
  if (!Array.isArray(body.deks) || body.deks.length === 0 || body.deks.length > dekCountMax) throw bad(`deks must hold 1..${dekCountMax} entries`);
  let previous = 0;
  for (const dek of body.deks as unknown[]) {
    if (!isRecord(dek) || !isCount(dek.id) || !isCount(dek.createdAtMs) || !isCount(dek.pagesSealed) || typeof dek.wrapped !== 'string') {
      throw bad('a DEK record is malformed');
    }
    if (dek.id <= previous) throw bad(`DEK ids are not ascending at ${dek.id}`);
    previous = dek.id;
  }
  const deks = body.deks as DekRecord[];
  if (!deks.some((d) => d.id === body.activeDekId)) throw bad(`active DEK ${body.activeDekId} is not in the keyring`);
  if (body.retired !== undefined) {
    if (!Array.isArray(body.retired) || body.retired.length > keyringRetiredDeksKept) throw bad(`retired must hold at most ${keyringRetiredDeksKept} entries`);
    for (const r of body.retired as unknown[]) {
      if (!isRecord(r) || !isCount(r.id) || !isCount(r.retiredAtMs)) throw bad('a retired DEK record is malformed');
      if (deks.some((d) => d.id === r.id)) throw bad(`DEK ${r.id} is both held and retired`);
    }
  }
  return body as unknown as KeyringBody;
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isKekRecord(value: unknown): value is KekRecord {
  if (!isRecord(value)) return false;
  switch (value.source) {
    case 'passphrase':
      return typeof value.salt === 'string' && isCount(value.memoryKiB) && isCount(value.timeCost) && isCount(value.parallelism);
    case 'keyFile':
      return true;
    case 'kms':
      return typeof value.keyId === 'string' && value.keyId.length > 0;
    default:
      return false;
  }
}
