/**
 * The audit log of the replica host's members. Each member runs the production AuditLog (src/audit)
 * over its power-loss disk, with its audit key file sealed by its keyring (re-sealed by its DEK
 * rotations), a key pair and the cluster's HMAC key derived from the seed, and small files and tight
 * retention so that rotation (a new file whose first record links the chain to the previous file),
 * retention and age-driven rotation happen in every run. The sim clients record their operations the
 * way the client API does (src/api/audit-plugin.ts): a write's RequestReceived record travels in its
 * Raft entry and each member's log takes it as the member applies the write (the replica hands the
 * records again after a crash or a sink outage), and a refused record means no change; a read's
 * RequestReceived record, written beside its ReadIndex round, is durable before the answer.
 *
 * The host keeps each member's signed checkpoints as the cluster's replicated store does (the newest
 * auditReplicatedCheckpointsKept), hands them to the log at open and to the verifier, so a cut tail
 * shows. After a run, every member that ever opened its log is checked (checkAuditLogs):
 * - the chain verifies with the production verifier (verifyAuditLog);
 * - every operation a member answered has its record in that member's kept files, unless retention
 *   removed the file it was in (its time is not after the first record of the oldest kept file); a
 *   write's record travels in its Raft entry and reaches the answering member's log at apply, with the
 *   log's next group commit, so a member killed in between and never started again (removed from the
 *   cluster) may lack it: that record must then be in another member's log;
 * - every member live at the end holds the record of every write any member's log holds, at the same
 *   entry, unless a gap record of its log names the entry or retention removed it; and a gap record
 *   must be explained by a snapshot the member received (the WAL keeps what the log has not made durable).
 */
import {
  type AuditEventInput, type AuditKeyPair, type AuditPolicy, type AuditStage, auditDirOf, type SignedCheckpoint, verifyAuditLog,
} from '../../../src/audit/index.ts';
import { listAuditFiles, readLines } from '../../../src/audit/files.ts';
import type { Random } from '../../../src/base/index.ts';
import { auditHmacKeyBytes, auditReplicatedCheckpointsKept } from '../../../src/config/index.ts';
import { sodiumReady } from '../../../src/crypto/index.ts';
import type { DurableFs } from '../../../src/durable/index.ts';
import type { KvInput } from '../../support/linearizability/index.ts';
import { Violation } from '../invariants.ts';

/** Every request recorded at Metadata, in the one stage Coffer records it in. */
export const simAuditPolicy: AuditPolicy = {
  omitStages: [],
  rules: [{
    level: 'Metadata', users: [], userGroups: [], verbs: [], resources: [], namespaces: [], nonResourceURLs: [], omitStages: [],
    clearConfigMapValues: false,
  }],
};

/** The log's settings for one run: small files and tight limits, so rotation and retention happen. */
export interface SimAuditSettings {
  fileBytesTarget: number;
  checkpointEveryRecords: number;
  checkpointIntervalMs: number;
  retention: { bytesMax: number; ageMsMax: number; ageMsMin: number };
}

export function simAuditSettings(random: Random): SimAuditSettings {
  const fileBytesTarget = [4 * 1024, 16 * 1024, 64 * 1024][random.int(0, 2)]!;
  const ageMsMax = random.int(1_500, 6_000);
  return {
    fileBytesTarget,
    checkpointEveryRecords: random.int(10, 200),
    checkpointIntervalMs: random.int(100, 1_000),
    retention: { bytesMax: fileBytesTarget * random.int(3, 8), ageMsMax, ageMsMin: random.int(0, ageMsMax) },
  };
}

/** A key pair from 32 seed bytes drawn from the run's random (the same seed makes the same keys). */
export async function seededAuditKeyPair(seed: Uint8Array): Promise<AuditKeyPair> {
  const sodium = await sodiumReady();
  const { publicKey, privateKey } = sodium.crypto_sign_seed_keypair(seed);
  return { publicKey, privateKey };
}

export function randomBytesOf(random: Random, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = random.int(0, 255);
  return bytes;
}

export const simAuditHmacKey = (random: Random): Uint8Array => randomBytesOf(random, auditHmacKeyBytes);

/** The audit event of a sim client's operation, as the client API would record it. */
export function simAuditInput(auditID: string, clientId: number, input: KvInput, stage: AuditStage, nowMs: number): AuditEventInput {
  const call = input.kind === 'read' ? 'range' : input.kind === 'write' ? 'put' : 'txn';
  const at = new Date(nowMs);
  return {
    auditID, stage, requestURI: `/v3/kv/${call}`, path: `/v3/kv/${call}`, verb: 'post',
    user: { username: `sim-client-${clientId}`, groups: ['system:authenticated'] }, sourceIPs: [`10.0.0.${clientId}`],
    decision: 'allow', decisionReason: 'RBAC: allowed by the simulator', requestReceivedTimestamp: at, stageTimestamp: at,
    ...(stage === 'ResponseComplete' ? { responseStatus: { code: 200 } } : {}),
  };
}

/** The checkpoints the cluster holds for each member (the newest auditReplicatedCheckpointsKept). */
export class ReplicatedCheckpoints {
  private readonly byMember = new Map<string, SignedCheckpoint[]>();

  of(member: string): SignedCheckpoint[] {
    return [...(this.byMember.get(member) ?? [])];
  }

  add(checkpoint: SignedCheckpoint): void {
    const kept = [...(this.byMember.get(checkpoint.member) ?? []).filter((c) => c.seq !== checkpoint.seq), checkpoint];
    kept.sort((a, b) => a.seq - b.seq);
    this.byMember.set(checkpoint.member, kept.slice(-auditReplicatedCheckpointsKept));
  }
}

/** One member's audit log as the end check sees it. */
export interface AuditedMember {
  name: string;
  dataDir: string;
  publicKey: Uint8Array;
  /** A file system over the member's disk, for reading it after the run. */
  fs: DurableFs;
  /** The operations this member answered, by audit ID, with the time of the record it awaited. */
  answered: Map<string, number>;
  /** Of those, the writes (their record travelled in the Raft entry), each with an index its entry is at or below. */
  answeredWrites: ReadonlyMap<string, number>;
  /** True if the member ended for good (removed): a record it was handed but had not synced is not replayed. */
  endedForGood: boolean;
  /** The index of every snapshot delivered to the member: a gap record must end at or before one of them. */
  snapshotsReceivedAt: readonly number[];
}

/** What one member's log holds of the records that travel in Raft entries. */
interface EntryRecords {
  /** The auditID of each write record, by the entry it came in. */
  writes: Map<string, number>;
  gaps: { first: number; last: number }[];
  /** The `entry` of the first line of the oldest kept file: retention may have removed records of entries up to it. */
  retainedAfterEntry: number;
}

/**
 * Verifies every member's chain and finds every answered operation's record (a write's may instead be
 * named in a gap record of the member's log, when another member's log holds it: a member that lost
 * its log's unsynced tail in a power cut and then caught up through a snapshot); then, since a write's
 * record travels in its Raft entry, checks that each member in `converged` (all applied the same index)
 * holds the record of every write any member's log holds, unless its log names the entry in a gap
 * record or retention removed it. Returns the events seen.
 */
export async function checkAuditLogs(
  members: AuditedMember[], checkpoints: ReplicatedCheckpoints, converged: ReadonlySet<string>,
): Promise<{ events: number; agedOut: number; writeRecordsChecked: number }> {
  let events = 0;
  let agedOut = 0;
  const held = new Map<string, EntryRecords>();
  /** Writes answered by a member that ended for good before its log synced their record: auditID → who, and the entry bound. */
  const writesOnlyElsewhere = new Map<string, { name: string; entryAtMost: number }>();
  /** Writes answered by a member whose log holds no record of them but names entries in gap records: auditID → who, and those gaps. */
  const writesInOwnGap = new Map<string, { name: string; gaps: readonly { first: number; last: number }[] }>();
  for (const m of members) {
    const entries: EntryRecords = { writes: new Map(), gaps: [], retainedAfterEntry: 0 };
    held.set(m.name, entries);
    const dir = auditDirOf(m.dataDir);
    const verdict = await verifyAuditLog(dir, { publicKey: m.publicKey, member: m.name, replicatedCheckpoints: checkpoints.of(m.name), fs: m.fs });
    if (!verdict.ok) throw new Violation('audit chain broken', `${m.name}: ${verdict.file} seq ${verdict.seq}: ${verdict.reason}`);
    events += verdict.events;
    const recorded = new Set<string>();
    let oldestKeptMs = -Infinity;
    for (const [i, file] of (await listAuditFiles(dir, m.fs)).entries()) {
      const { lines } = await readLines(file.path, m.fs);
      for (const [j, line] of lines.entries()) {
        const record = JSON.parse(line) as {
          kind: string; auditID?: string; time?: string; stage?: string; requestURI?: string; entry?: number; entries?: { first: number; last: number };
        };
        // Retention removed the files before the oldest kept one: its first record (a continuation or a
        // recovery) was written after every record they held.
        if (i === 0 && j === 0 && file.number > 1) {
          oldestKeptMs = Date.parse(record.time ?? '');
          entries.retainedAfterEntry = record.entry ?? 0;
        }
        if (record.kind === 'Event' && record.auditID !== undefined) recorded.add(record.auditID);
        const isWrite = record.kind === 'Event' && record.stage === 'RequestReceived' && record.requestURI !== '/v3/kv/range';
        if (isWrite && record.auditID !== undefined && record.entry !== undefined) entries.writes.set(record.auditID, record.entry);
        if (record.kind === 'Gap' && record.entries !== undefined) {
          const gap = record.entries;
          // Only a snapshot from the leader lets entries reach a member's store without their records.
          if (!m.snapshotsReceivedAt.some((index) => gap.last <= index)) {
            throw new Violation('unexplained audit gap', `${m.name}'s log names entries ${gap.first}..${gap.last} as skipped, but it received no snapshot reaching them`);
          }
          entries.gaps.push(gap);
        }
      }
    }
    for (const [auditID, atMs] of m.answered) {
      if (recorded.has(auditID)) continue;
      if (atMs <= oldestKeptMs) {
        agedOut++;
        continue;
      }
      const entryAtMost = m.answeredWrites.get(auditID);
      if (m.endedForGood && entryAtMost !== undefined) {
        writesOnlyElsewhere.set(auditID, { name: m.name, entryAtMost });
        continue;
      }
      if (entryAtMost !== undefined && entries.gaps.length > 0) {
        // The member lost its log's unsynced tail and its forgotten commit index with it (a power cut),
        // then caught up through a snapshot: its log may name the write's entry in a gap record, if
        // another member's log holds the record at that entry (checked below).
        writesInOwnGap.set(auditID, { name: m.name, gaps: entries.gaps });
        continue;
      }
      throw new Violation('audit record lost', `${m.name} answered ${auditID} after its audit record was durable, but the record is not in its audit files`);
    }
  }
  const everyWrite = new Map<string, number>();
  for (const entries of held.values()) for (const [auditID, entry] of entries.writes) everyWrite.set(auditID, entry);
  for (const [auditID, { name, entryAtMost }] of writesOnlyElsewhere) {
    if (everyWrite.has(auditID)) continue;
    // Every other log's retention removed the records of entries up to that bound or beyond: aged out everywhere.
    const others = [...held].filter(([other]) => other !== name).map(([, entries]) => entries);
    if (others.length > 0 && others.every((entries) => entries.retainedAfterEntry >= entryAtMost)) {
      agedOut++;
      continue;
    }
    throw new Violation('audit record lost', `${name} answered write ${auditID} and ended for good; no member's log holds its record`);
  }
  for (const [auditID, { name, gaps }] of writesInOwnGap) {
    const entry = everyWrite.get(auditID);
    if (entry === undefined) throw new Violation('audit record lost', `${name} answered write ${auditID}; no member's log holds its record`);
    if (gaps.some((g) => g.first <= entry && entry <= g.last)) continue;
    throw new Violation('audit record lost', `${name} answered write ${auditID} (entry ${entry}), but its log holds neither the record nor a gap record naming the entry`);
  }
  let writeRecordsChecked = 0;
  for (const name of converged) {
    const entries = held.get(name);
    if (entries === undefined) continue;
    for (const [auditID, entry] of everyWrite) {
      writeRecordsChecked++;
      const own = entries.writes.get(auditID);
      if (own !== undefined) {
        if (own !== entry) throw new Violation('write record at another entry', `${name} holds ${auditID} at entry ${own}, another member at ${entry}`);
        continue;
      }
      if (entries.gaps.some((g) => g.first <= entry && entry <= g.last) || entry <= entries.retainedAfterEntry) continue;
      throw new Violation('write record missing', `${name} applied entry ${entry} (${auditID}) but its log holds neither its record nor a gap record naming it`);
    }
  }
  return { events, agedOut, writeRecordsChecked };
}
