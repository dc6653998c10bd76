/**
 * What the audit log keeps in the replicated store, beside each member's own files:
 *
 *   \0coffer/audit/hmac-key                          the per-cluster HMAC key for Secret value digests,
 *                                                    created once by whichever member comes first
 *   \0coffer/audit/checkpoints/<member>/<seq:16>     the newest auditReplicatedCheckpointsKept signed
 *                                                    checkpoints of each member
 *
 * Reserved keys (a zero byte first), so no client can read or write them through the KV API.
 *
 * Invariants: the HMAC key is the same on every member (a create-if-absent txn, then read back what
 * won); a checkpoint is put only once it is durable in the member's file (the caller's part: AuditLog
 * hands it over from onCheckpoint), so the store never names a record the file lacks.
 */
import { randomBytes } from 'node:crypto';
import { auditHmacKeyBytes, auditReplicatedCheckpointsKept } from '../config/index.ts';
import { prefixEnd, type RangeOptions, type RangeResponse, type TxnOp, type WriteOp, type WriteResponse } from '../storage/mvcc/index.ts';
import type { SignedCheckpoint } from './chain.ts';
import { AuditUnavailableError } from './errors.ts';

/** What the audit log needs of the replicated store: reads, local or linearizable, and writes through Raft. */
export interface ReplicatedStore {
  range(key: Uint8Array, end: Uint8Array | undefined, options: RangeOptions & { linearizable: boolean }): Promise<RangeResponse>;
  propose(op: WriteOp): Promise<WriteResponse>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export const auditHmacKeyKey = encoder.encode('\0coffer/audit/hmac-key');
export const checkpointPrefix = (member: string): Uint8Array => encoder.encode(`\0coffer/audit/checkpoints/${member}/`);
const checkpointKey = (member: string, seq: number) => encoder.encode(`\0coffer/audit/checkpoints/${member}/${String(seq).padStart(16, '0')}`);

type Range = (key: Uint8Array, end: Uint8Array | undefined) => Promise<RangeResponse>;

/** The cluster's audit HMAC key, created by a create-if-absent txn if no member has made it yet. */
export async function ensureAuditHmacKey(store: ReplicatedStore): Promise<Uint8Array> {
  const read = async (linearizable: boolean) => (await store.range(auditHmacKeyKey, undefined, { linearizable })).kvs[0]?.value;
  // The key never changes once created, so a member that has applied it (any restart) needs no leader.
  const existing = await read(false) ?? await read(true);
  if (existing !== undefined) return new Uint8Array(existing);
  const fresh = new Uint8Array(randomBytes(auditHmacKeyBytes));
  try {
    await store.propose({
      type: 'txn',
      compare: [{ key: auditHmacKeyKey, target: 'createRevision', result: 'equal', value: 0 }],
      success: [{ type: 'put', key: auditHmacKeyKey, value: fresh }],
      failure: [],
    });
  } finally {
    fresh.fill(0);
  }
  // Whoever won the race, every member uses what the store holds.
  const stored = await read(true);
  if (stored === undefined) throw new AuditUnavailableError('the audit HMAC key is missing after it was created');
  return new Uint8Array(stored);
}

/** The checkpoints the store holds for `member`, oldest first; unparsable values are skipped (verify checks signatures). */
export async function readReplicatedCheckpoints(range: Range, member: string): Promise<SignedCheckpoint[]> {
  const prefix = checkpointPrefix(member);
  const { kvs } = await range(prefix, prefixEnd(prefix));
  const out: SignedCheckpoint[] = [];
  for (const kv of kvs) {
    try {
      out.push(JSON.parse(decoder.decode(kv.value)) as SignedCheckpoint);
    } catch {
      // A value that is not JSON cannot be a checkpoint; leaving it out can only weaken, never fake, a check.
    }
  }
  return out.sort((a, b) => a.seq - b.seq);
}

/**
 * The time of each member's newest checkpoint in the store (by seq), in ms, by member name: what the
 * cluster's time for retention by age is made of (src/server/cluster-time.ts). Unparsable values and
 * times are left out. Signatures are not checked: only members write these reserved keys, and one
 * member's value cannot move the lower median taken over three or more.
 */
export async function readNewestCheckpointTimes(range: Range): Promise<Map<string, number>> {
  const prefix = encoder.encode('\0coffer/audit/checkpoints/');
  const { kvs } = await range(prefix, prefixEnd(prefix));
  const newest = new Map<string, { seq: number; ms: number }>();
  for (const kv of kvs) {
    const rest = decoder.decode(kv.key).slice(prefix.length);
    const slash = rest.lastIndexOf('/');
    const member = rest.slice(0, slash);
    const seq = Number(rest.slice(slash + 1));
    let ms = NaN;
    try {
      const time = (JSON.parse(decoder.decode(kv.value)) as { time?: unknown }).time;
      ms = typeof time === 'string' ? Date.parse(time) : NaN;
    } catch {
      // Not a checkpoint: left out.
    }
    if (slash <= 0 || !Number.isSafeInteger(seq) || !Number.isFinite(ms)) continue;
    const known = newest.get(member);
    if (known === undefined || seq > known.seq) newest.set(member, { seq, ms });
  }
  return new Map([...newest].map(([member, { ms }]) => [member, ms]));
}

/** Puts a durable checkpoint and deletes this member's older ones beyond the number kept. */
export async function replicateCheckpoint(store: ReplicatedStore, checkpoint: SignedCheckpoint): Promise<void> {
  const prefix = checkpointPrefix(checkpoint.member);
  const existing = await store.range(prefix, prefixEnd(prefix), { linearizable: false, keysOnly: true });
  const key = checkpointKey(checkpoint.member, checkpoint.seq);
  const older = existing.kvs.map((kv) => kv.key).filter((k) => Buffer.compare(k, key) < 0);
  const deletes: TxnOp[] = older.slice(0, Math.max(0, older.length - (auditReplicatedCheckpointsKept - 1))).map((k) => ({ type: 'deleteRange', key: k }));
  await store.propose({ type: 'txn', compare: [], success: [{ type: 'put', key, value: encoder.encode(JSON.stringify(checkpoint)) }, ...deletes], failure: [] });
}
