/**
 * The hash chain (pure). Every line of an audit file is one record: an event, a signed checkpoint, a
 * continuation (first line of every file after the first), a restart (first line of a fresh chain
 * segment after a break) or a recovery (first line of a file after the audit sink failed and took
 * records again: it continues the chain and names the outage). Each record carries
 *
 *   seq       1, 2, 3, … across files (a restart continues above every seq seen)
 *   prevHash  the previous record's hash (64 zeros for the first record of the log or of a segment)
 *   hash      hex SHA-256 of the canonical JSON (canonical.ts) of the record without `hash`
 *   entry     (on a member's log) the newest Raft entry whose audit record the chain holds at or
 *             before this line: the records of writes travel in their entries, and each member
 *             appends them as it applies (src/replication/audit-records.ts); never decreases
 *
 * and the line is the canonical JSON of the whole record. A checkpoint covers the record before it:
 * {member, seq, head, time, entry} with head = that record's hash and entry its own line's, signed with
 * the member's Ed25519 audit key (libsodium crypto_sign_detached over a domain tag and the canonical JSON). Recovery, continuation and
 * restart records carry a signature of their own over their content and place in the chain (signRecord):
 * they begin files, and once older files are gone nothing else vouches for where the chain starts.
 *
 * Invariants: records are appended with consecutive seq and prevHash = the previous hash; a checkpoint's
 * (seq, head) equals its own (seq - 1, prevHash).
 */
import { hash as hashOnce } from 'node:crypto';
import type { sodiumReady } from '../crypto/index.ts';
import { assert } from '../base/index.ts';
import { canonicalAround, canonicalJson, joinAround } from './canonical.ts';
import type { AuditEvent } from './event.ts';

export type Sodium = Awaited<ReturnType<typeof sodiumReady>>;

export const genesisHash = '0'.repeat(64);
export const chainApiVersion = 'audit.coffer.dev/v1';

export interface ChainFields {
  seq: number;
  prevHash: string;
  hash: string;
  /** The newest Raft entry whose record the chain holds at or before this line (absent before any). */
  entry?: number;
}

/** What a member signs: the chain up to and including `seq` ends in `head`. */
export interface Checkpoint {
  member: string;
  seq: number;
  head: string;
  /** RFC 3339, UTC. */
  time: string;
  /**
   * The `entry` of the checkpoint's own line (the newest Raft entry the log took), which `head` does not
   * cover: signed so that the last line of a cleanly closed log cannot be made to claim other entries.
   * Absent in checkpoints signed before it was, and while the log took no entry.
   */
  entry?: number;
}

/** A checkpoint with its Ed25519 signature (base64); what onCheckpoint hands to replication. */
export interface SignedCheckpoint extends Checkpoint {
  signature: string;
}

export interface CheckpointBody {
  kind: 'Checkpoint';
  apiVersion: typeof chainApiVersion;
  checkpoint: Checkpoint;
  signature: string;
}

/**
 * First line of every file after the first: the chain continues from the previous file. Signed by the
 * member like a recovery record (signContinuation), so a cut it names, and the chain it anchors once
 * the files before it are gone, are the member's word: verification accepts missing oldest files only
 * when a kept, signed-over continuation names them. Continuations written before signing began have no
 * signature; only a later checkpoint vouches for those.
 */
export interface ContinuationBody {
  kind: 'Continuation';
  apiVersion: typeof chainApiVersion;
  member: string;
  time: string;
  file: number;
  previousFile: number;
  /** Files this rotation deletes for retention, once this record is durable (the recorded cut). */
  removes: string[];
  /** Ed25519 (base64) over a domain tag and the canonical JSON of the record without hash and signature. */
  signature?: string;
}

/** Where a verification found the chain broken. */
export interface ChainBreak {
  file: string;
  seq: number;
  reason: string;
}

/** First line of a fresh chain segment, written by the opener after it found a break. */
export interface RestartBody {
  kind: 'Restart';
  apiVersion: typeof chainApiVersion;
  member: string;
  time: string;
  break: ChainBreak;
  /** The last record that verified before the break, if any. */
  lastGood: { seq: number; hash: string } | null;
  /**
   * Ed25519 (base64) over a domain tag and the canonical JSON of the record without hash and signature:
   * a segment's start is the member's word (its prevHash is the zero hash, so nothing else anchors it).
   * Absent in restarts written before signing began.
   */
  signature?: string;
}

/**
 * First line of a file after the audit sink failed (disk full, I/O error) and a record could be made
 * durable again. The records appended after the last durable one were never acknowledged (their
 * requests got 503) and were cut from the files, so the chain continues from the last durable record:
 * this record's prevHash is that record's hash. Signed by the member (recordSignatureValid), so only the
 * member can explain a gap this way; verification reports it as an outage, not as tampering.
 */
export interface RecoveryBody {
  kind: 'Recovery';
  apiVersion: typeof chainApiVersion;
  member: string;
  /** When records could be made durable again (RFC 3339, UTC). */
  time: string;
  file: number;
  previousFile: number;
  /** When the sink failed and the error it failed with (e.g. "ENOSPC: no space left on device, write"). */
  failure: { time: string; reason: string };
  /** Records appended after the last durable one when the sink failed: never acknowledged, cut from the file. */
  recordsCut: number;
  /** Records refused while the sink was failed (each one's request was answered 503). */
  recordsRefused: number;
  /** Ed25519 (base64) over a domain tag and the canonical JSON of the record without hash and signature. */
  signature: string;
}

/**
 * Raft entries whose records this log does not hold: the member's store reached them through a snapshot
 * from the leader (or they left the WAL before the log took them), not one by one. Their records are in
 * the logs of the members that applied them.
 */
export interface GapBody {
  kind: 'Gap';
  apiVersion: typeof chainApiVersion;
  member: string;
  time: string;
  entries: { first: number; last: number };
}

export type RecordBody = AuditEvent | CheckpointBody | ContinuationBody | RestartBody | RecoveryBody | GapBody;
export type ChainRecord = RecordBody & ChainFields;

export function hashOf(recordWithoutHash: object): string {
  return sha256Hex(canonicalJson(recordWithoutHash));
}

function sha256Hex(text: string): string {
  return hashOnce('sha256', text, 'hex');
}

/**
 * The chain fields of a body's record and its line (without the newline): hash over the canonical JSON
 * of the body and the other chain fields, and the line: that JSON with the hash in its place. No merged copy of
 * the record is made, and its values are serialised once (two object copies and a serialisation per
 * member were most of an appended record's CPU).
 */
export function chainRecord(body: RecordBody, seq: number, prevHash: string, entry?: number): { fields: ChainFields; line: string } {
  assert(Number.isSafeInteger(seq) && seq >= 1, `audit seq ${seq} is not a safe integer >= 1`);
  assert(/^[0-9a-f]{64}$/.test(prevHash), 'prevHash is not a hex SHA-256');
  assert(!('hash' in body) && !('seq' in body) && !('entry' in body), 'a record body carries no chain fields');
  assert(entry === undefined || (Number.isSafeInteger(entry) && entry >= 1), `audit entry ${entry} is not a safe integer >= 1`);
  const chained: Record<string, unknown> = entry !== undefined ? { seq, prevHash, entry } : { seq, prevHash };
  const around = canonicalAround(body, chained, 'hash');
  const hash = sha256Hex(joinAround(around));
  return { fields: { seq, prevHash, hash, ...(entry !== undefined ? { entry } : {}) }, line: joinAround(around, `"hash":"${hash}"`) };
}

const checkpointTag = new TextEncoder().encode('coffer/audit-checkpoint/v1\n');

/** A domain tag followed by the canonical JSON of `value`: what a member signs. */
function taggedMessage(tag: Uint8Array, value: object): Uint8Array {
  const body = new TextEncoder().encode(canonicalJson(value));
  const out = new Uint8Array(tag.length + body.length);
  out.set(tag, 0);
  out.set(body, tag.length);
  return out;
}

/**
 * A checkpoint without `entry` signs what checkpoints signed before they carried it, so those still
 * verify; one with it signs a different message, so `entry` cannot be stripped to pass for an old one.
 */
function checkpointMessage(checkpoint: Checkpoint): Uint8Array {
  const { member, seq, head, time, entry } = checkpoint;
  return taggedMessage(checkpointTag, entry !== undefined ? { member, seq, head, time, entry } : { member, seq, head, time });
}

export function signCheckpoint(sodium: Sodium, checkpoint: Checkpoint, privateKey: Uint8Array): SignedCheckpoint {
  const signature = sodium.crypto_sign_detached(checkpointMessage(checkpoint), privateKey);
  return { ...checkpoint, signature: Buffer.from(signature).toString('base64') };
}

/** True only for a well-formed checkpoint whose signature verifies under `publicKey`. */
export function checkpointSignatureValid(sodium: Sodium, checkpoint: SignedCheckpoint, publicKey: Uint8Array): boolean {
  if (typeof checkpoint.signature !== 'string') return false;
  const signature = Buffer.from(checkpoint.signature, 'base64');
  if (signature.length !== sodium.crypto_sign_BYTES) return false;
  if (publicKey.length !== sodium.crypto_sign_PUBLICKEYBYTES) return false;
  if (typeof checkpoint.member !== 'string' || !Number.isSafeInteger(checkpoint.seq) || typeof checkpoint.head !== 'string' || typeof checkpoint.time !== 'string') {
    return false;
  }
  if (checkpoint.entry !== undefined && !Number.isSafeInteger(checkpoint.entry)) return false;
  return sodium.crypto_sign_verify_detached(signature, checkpointMessage(checkpoint), publicKey);
}

/** The records a member signs beside checkpoints, each under its own domain tag. */
export type SignedRecordBody = RecoveryBody | ContinuationBody | RestartBody;

const recordTags: Record<SignedRecordBody['kind'], Uint8Array> = {
  Recovery: new TextEncoder().encode('coffer/audit-recovery/v1\n'),
  Continuation: new TextEncoder().encode('coffer/audit-continuation/v1\n'),
  Restart: new TextEncoder().encode('coffer/audit-restart/v1\n'),
};

type Unsigned<B extends SignedRecordBody> = Omit<B, 'signature'>;

/** What a signed record's signature covers: its content and its place in the chain (seq, prevHash, entry). */
function recordMessage(unsigned: Unsigned<SignedRecordBody> & { seq: number; prevHash: string; entry?: number }): Uint8Array {
  return taggedMessage(recordTags[unsigned.kind], unsigned);
}

/** The body with its signature, for the record that will sit at `seq` after `prevHash` (and carry `entry`). */
export function signRecord<B extends SignedRecordBody>(
  sodium: Sodium, unsigned: Unsigned<B>, seq: number, prevHash: string, privateKey: Uint8Array, entry?: number,
): B {
  const signature = sodium.crypto_sign_detached(recordMessage({ ...unsigned, seq, prevHash, ...(entry !== undefined ? { entry } : {}) }), privateKey);
  return { ...unsigned, signature: Buffer.from(signature).toString('base64') } as B;
}

/** The recovery body with its signature (signRecord). */
export function signRecovery(
  sodium: Sodium, unsigned: Omit<RecoveryBody, 'signature'>, seq: number, prevHash: string, privateKey: Uint8Array, entry?: number,
): RecoveryBody {
  return signRecord<RecoveryBody>(sodium, unsigned, seq, prevHash, privateKey, entry);
}

/** True only when a signed record read from a file carries a signature that verifies under `publicKey`. */
export function recordSignatureValid(sodium: Sodium, record: SignedRecordBody & ChainFields, publicKey: Uint8Array): boolean {
  const { hash: _hash, signature, ...unsigned } = record;
  if (typeof signature !== 'string' || !Object.hasOwn(recordTags, unsigned.kind)) return false;
  const bytes = Buffer.from(signature, 'base64');
  if (bytes.length !== sodium.crypto_sign_BYTES || publicKey.length !== sodium.crypto_sign_PUBLICKEYBYTES) return false;
  return sodium.crypto_sign_verify_detached(bytes, recordMessage(unsigned), publicKey);
}

/** True only when a recovery record read from a file carries a signature that verifies under `publicKey`. */
export function recoverySignatureValid(sodium: Sodium, record: RecoveryBody & ChainFields, publicKey: Uint8Array): boolean {
  return recordSignatureValid(sodium, record, publicKey);
}
