/**
 * The member's audit log: the one object the API's audit plugin talks to. `record(event)` applies the
 * policy, shapes the event (bodies per level, Secret values digested, caller-controlled fields capped),
 * appends it to the chain and resolves once the line is durable, or rejects with AuditUnavailableError
 * (the request then fails with 503 and changes nothing: fail closed). Checkpoints are signed every N
 * records or T ms, written into the chain and handed to `onCheckpoint` for replication. Files rotate by
 * size; retention (retention.ts) deletes the oldest by total size and by age once the continuation
 * record naming them is durable, and reports young history before it goes. Age is judged by the
 * cluster's time (`clusterTimeMs`, which the server reads from the members' replicated checkpoints),
 * never by this member's clock alone: without it, nothing is deleted by age.
 *
 * When the sink fails (disk full, I/O error, directory gone), every record is refused from then on and
 * `events.sinkFailed` says so once. The log then tries again with backoff (auditSinkRetryMs doubling to
 * auditSinkRetryMsMax): it cuts what was never acknowledged from the files (everything after the last
 * durable record), and appends a signed Recovery record in a fresh file that continues the chain from
 * the last durable record and names the outage. Once that record is durable, records are taken again and
 * `events.sinkRecovered` says so. No restart is needed.
 *
 * The records of writes travel in their Raft entries (src/replication/audit-records.ts): `shape` makes
 * the record a write's entry carries, and the replica hands the log the record of every entry it applies
 * (`applied`, in index order; `skipped` for entries a snapshot installed). Every line carries `entry`,
 * the newest entry taken so far, so the log knows at open and after an outage where the replica must
 * hand records again (`takenThrough`), and the replica keeps the WAL behind `durableThrough`. A line
 * claiming an entry beyond the member's WAL (`entryMax`) is a break at open like any other: trusted,
 * the log would take no record of the entries up to it.
 *
 * Opening verifies the segment it will continue. A broken log does not stop the member: the break is
 * reported in status() and appending continues in a fresh segment, in a new file, that begins with a
 * restart record naming the break. The broken files are left as they are for the operator;
 * verifyAuditLog keeps reporting the break.
 *
 * Invariants: `seq`/`head` are the last record appended (not necessarily durable yet); records are
 * appended synchronously in record() call order; nothing is appended while the sink is failed or after
 * close; `marks[0]` is the last record known durable, and the rest of `marks` the records after it;
 * `entry` never decreases but at recovery, back to the last durable line's (what came after was cut).
 */
import path from 'node:path';
import { type Clock, type TimerHandle, assert, realClock } from '../base/index.ts';
import {
  auditChainFieldsBytesMax, auditCheckpointEveryEvents, auditCheckpointIntervalMs, auditDeferredFlushMs, auditEntriesUnmarkedMax, auditFileBytesTarget,
  auditClusterTimeAllowanceMs, auditFsyncBatchRecordsMax, auditRecordBytesMax,
  auditRetentionAgeMsMaxDefault, auditRetentionAgeMsMinDefault, auditRetentionBytesMaxDefault, auditSinkRetryMs, auditSinkRetryMsMax,
} from '../config/index.ts';
import { sodiumReady } from '../crypto/index.ts';
import { type DurableFs, GroupAppender, mkdirDurably, nodeFs, type OpenAppendFile } from '../durable/index.ts';
import { canonicalJson } from './canonical.ts';
import { ChainVerifier } from './chain-verifier.ts';
import {
  type ChainBreak, type ChainFields, chainApiVersion, chainRecord, checkpointSignatureValid, type ContinuationBody, genesisHash, type RecordBody,
  type RestartBody, type SignedCheckpoint, signCheckpoint, signRecord, signRecovery, type Sodium,
} from './chain.ts';
import { checkHmacKey } from './digest.ts';
import { AuditRecordRefusedError, AuditUnavailableError } from './errors.ts';
import { type AuditEvent, type AuditEventInput, shapeEvent, withoutBodies } from './event.ts';
import { auditFileName, listAuditFiles, readLines, truncateDurably } from './files.ts';
import type { AuditKeyPair } from './keys.ts';
import { type AuditPolicy, type AuditRequestAttributes, evaluateAuditPolicy } from './policy.ts';
import { agreedNowMs, planRetention, recordTimeMs, type RetainedFile, type RetentionLimits, type RetentionNow, type RetentionPlan } from './retention.ts';

/** What the log tells its owner as it happens (logs and metrics). Callbacks must not throw. */
export interface AuditLogEvents {
  /** The sink failed: every record is refused from now until it recovers. */
  sinkFailed?(failure: { reason: string; atMs: number }): void;
  /** A record was durable again; the outage is recorded in the chain at `file`, `seq`. */
  sinkRecovered?(outage: { file: string; seq: number; failedAtMs: number; reason: string; recordsCut: number; recordsRefused: number }): void;
  /** Retention is about to delete files holding records younger than the minimum retention (they go once the cut is durable). */
  youngHistoryDropped?(files: readonly { name: string; bytes: number; newestMs: number }[], keptBytes: number): void;
  /** Young history became at risk (the next size-driven deletion would drop it), or is no longer. */
  retentionAtRisk?(atRisk: boolean, detail: { keptBytes: number; oldestMs: number }): void;
  /** Retention deleted these files (the continuation naming them is durable), each with why: past the age limit, or the size limit. */
  retentionDeleted?(files: readonly { name: string; bytes: number; newestMs: number; reason: 'age' | 'size' }[]): void;
  /**
   * Retention by age keeps files the member's clock alone says are past the age limit: that clock is
   * ahead of the cluster's time by more than auditClusterTimeAllowanceMs (`clusterMs`), or the
   * cluster's time is unknown (undefined). Said at every check while it lasts (the owner rate-limits).
   */
  ageRetentionHeldBack?(detail: { files: readonly { name: string; newestMs: number }[]; localMs: number; clusterMs: number | undefined }): void;
}

export interface AuditLogOptions {
  /** The audit directory, normally auditDirOf(dataDir). Created (0700) if missing. */
  dir: string;
  /** This member's name; recorded in every event and checkpoint. */
  member: string;
  /** The member's Ed25519 audit key pair (see keys.ts); the log does not wipe it. */
  keyPair: AuditKeyPair;
  /** The per-cluster audit HMAC key for Secret value digests (>= auditHmacKeyBytesMin bytes). */
  hmacKey: Uint8Array;
  policy: AuditPolicy;
  clock?: Clock;
  /** The file system the log's files live on (default: the real one; the simulator passes its power-loss disk). */
  fs?: DurableFs;
  /** Called with each checkpoint once it is durable, for replication through Raft. Must not throw. */
  onCheckpoint?: (checkpoint: SignedCheckpoint) => void | Promise<void>;
  /** The cluster's checkpoints for this member; a log that contradicts them is treated as broken. */
  replicatedCheckpoints?: readonly SignedCheckpoint[];
  /**
   * The newest Raft entry this member holds (its WAL's last index; Replica.auditEntryMax): a log whose
   * lines claim a later one was edited and is treated as broken, so the log takes records from its last
   * line it can trust. Absent: not checked (a log with no replica).
   */
  entryMax?: number;
  checkpointEveryRecords?: number;
  checkpointIntervalMs?: number;
  fileBytesTarget?: number;
  /** Retention by size and age (defaults: auditRetention*Default in config/limits.ts). */
  retention?: Partial<RetentionLimits>;
  /**
   * The cluster's time (ms since the epoch), or undefined when unknown: retention by age judges by the
   * local clock but at most auditClusterTimeAllowanceMs past it, and deletes nothing by age without it.
   * Absent: unknown. Called at every rotation and checkpoint tick; must be cheap and must not throw.
   */
  clusterTimeMs?: () => number | undefined;
  /** First and longest wait between attempts to bring a failed sink back (defaults auditSinkRetryMs, auditSinkRetryMsMax). */
  sinkRetryMs?: number;
  sinkRetryMsMax?: number;
  events?: AuditLogEvents;
  /** Seam for failure tests; production opens real files. */
  openFile?: OpenAppendFile;
}

export interface RecordOptions {
  /** Nobody waits for this record before answering: it shares the next group commit (see record()). */
  deferred?: boolean;
}

export interface AuditLogStatus {
  member: string;
  file: string;
  /** The last record appended and its hash. */
  seq: number;
  head: string;
  durableSeq: number;
  recordsSinceCheckpoint: number;
  lastCheckpoint: SignedCheckpoint | undefined;
  /** The break found when this log was opened (a restart segment was started), if any. */
  brokenAtOpen: ChainBreak | undefined;
  /** The break named by the restart record that begins the current segment, if it began with one. */
  segmentRestartedAfter: ChainBreak | undefined;
  /** Bytes of a torn last line (an unacknowledged write cut by a crash) removed at open. */
  tornTailBytesRemoved: number;
  /** Why records are being refused (fail closed), if they are. */
  failure: string | undefined;
  /** Since when records are refused (ms since the epoch), if they are. */
  failedSinceMs: number | undefined;
  /** While records are refused: when the next attempt to bring the sink back is due, and why the last one failed. */
  sinkRetry: { nextAttemptMs: number; lastError: string | undefined } | undefined;
  /** Outages this log recovered from since it was opened. */
  recoveries: number;
  /** Replicated checkpoints ignored at open because their signature did not verify. */
  replicatedCheckpointsRejected: number;
  retentionError: string | undefined;
  checkpointCallbackError: string | undefined;
  fsyncs: number;
  /** Bytes of every kept audit file. */
  retainedBytes: number;
  /** Time of the newest record in the oldest kept file (ms since the epoch). */
  oldestFileNewestMs: number;
  /** True while the next size-driven deletion would drop records younger than the minimum retention. */
  retentionAtRisk: boolean;
  /** Files holding records younger than the minimum retention that retention deleted since open. */
  youngFilesDropped: number;
  /** True while retention by age keeps files this member's clock alone says are past the age limit (see ageRetentionHeldBack). */
  ageRetentionHeldBack: boolean;
}

interface OpenState {
  seq: number;
  hash: string;
  fileNumber: number;
  fileBytes: number;
  fileRecords: number;
  recordsSinceCheckpoint: number;
  brokenAtOpen: ChainBreak | undefined;
  segmentRestartedAfter: ChainBreak | undefined;
  tornTailBytesRemoved: number;
  maxSeqSeen: number;
  /** The newest Raft entry the verified lines say the log took. */
  lastEntry: number;
  rejected: number;
  /** Every audit file present, oldest first. */
  files: RetainedFile[];
}

/** Where a record ends: enough to continue the chain from it after a failure. */
/** A record ready to append: its chain fields, its kind and its line's bytes (newline included). */
interface ChainedLine {
  fields: ChainFields;
  kind: RecordBody['kind'];
  bytes: Buffer;
}

interface Mark {
  seq: number;
  hash: string;
  fileNumber: number;
  /** The file's length once the record is in it. */
  fileBytes: number;
  recordsSinceCheckpoint: number;
  /** The record's `entry` (0: none yet). */
  entry: number;
}

interface Outage {
  error: AuditUnavailableError;
  atMs: number;
  reason: string;
  /** Records appended after the last durable one when the sink failed (never acknowledged). */
  recordsCut: number;
  /** Records refused since. */
  refused: number;
  nextAttemptMs: number;
  lastAttemptError: string | undefined;
}

export class AuditLog {
  private seq: number;
  private head: string;
  private fileNumber: number;
  /** The path filePath made last. */
  private lastPath: { fileNumber: number; path: string } | undefined;
  private fileBytes: number;
  private fileRecords: number;
  private recordsSinceCheckpoint: number;
  private lastCheckpoint: SignedCheckpoint | undefined;
  private closed = false;
  private timer: TimerHandle | undefined;
  private retention: Promise<void> = Promise.resolve();
  private retentionError: string | undefined;
  private retentionAtRisk = false;
  private youngFilesDropped = 0;
  private ageHeldBack = false;
  private checkpointCallbackError: string | undefined;
  private appender: GroupAppender;
  private marks: Mark[];
  /** Every kept file, oldest first; the last is the one being appended to. */
  private files: RetainedFile[];
  private outage: Outage | undefined;
  private recoveryTimer: TimerHandle | undefined;
  private recovering: Promise<void> = Promise.resolve();
  private recoveries = 0;
  /** The newest Raft entry taken (applied, skipped); see takenThrough. */
  private entry: number;
  private readonly clock: Clock;
  private readonly fs: DurableFs;
  private readonly checkpointEveryRecords: number;
  private readonly checkpointIntervalMs: number;
  private readonly fileBytesTarget: number;
  private readonly limits: RetentionLimits;

  private constructor(
    private readonly options: AuditLogOptions,
    private readonly sodium: Sodium,
    private readonly opened: OpenState,
  ) {
    this.seq = opened.seq;
    this.head = opened.hash;
    this.fileNumber = opened.fileNumber;
    this.fileBytes = opened.fileBytes;
    this.fileRecords = opened.fileRecords;
    this.recordsSinceCheckpoint = opened.recordsSinceCheckpoint;
    this.entry = opened.lastEntry;
    this.files = opened.files;
    this.clock = options.clock ?? realClock;
    this.fs = options.fs ?? nodeFs;
    this.checkpointEveryRecords = options.checkpointEveryRecords ?? auditCheckpointEveryEvents;
    this.checkpointIntervalMs = options.checkpointIntervalMs ?? auditCheckpointIntervalMs;
    this.fileBytesTarget = options.fileBytesTarget ?? auditFileBytesTarget;
    this.limits = {
      bytesMax: options.retention?.bytesMax ?? auditRetentionBytesMaxDefault,
      ageMsMax: options.retention?.ageMsMax ?? auditRetentionAgeMsMaxDefault,
      ageMsMin: options.retention?.ageMsMin ?? auditRetentionAgeMsMinDefault,
    };
    assert(this.checkpointEveryRecords >= 1 && this.checkpointIntervalMs > 0, 'checkpoint cadence must be positive');
    assert(this.fileBytesTarget >= 1 && this.limits.bytesMax >= 1, 'file size target and retention must be positive');
    assert(this.limits.ageMsMin >= 0 && this.limits.ageMsMin <= this.limits.ageMsMax, 'the minimum retention age is at most the maximum');
    this.marks = [{
      seq: opened.seq, hash: opened.hash, fileNumber: opened.fileNumber, fileBytes: opened.fileBytes, recordsSinceCheckpoint: opened.recordsSinceCheckpoint,
      entry: opened.lastEntry,
    }];
    this.appender = this.newAppender(opened.seq);
  }

  /** Opens (or creates) the log in options.dir; rejects with AuditUnavailableError if the directory is unusable. */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    checkHmacKey(options.hmacKey);
    const sodium = await sodiumReady();
    try {
      // Durably: a power cut must not take the directory's name, and every record in it, away.
      await mkdirDurably(options.dir, { mode: 0o700, fs: options.fs ?? nodeFs });
    } catch (error) {
      throw new AuditUnavailableError(`audit directory ${options.dir} cannot be created: ${(error as Error).message}`, { cause: error });
    }
    let state: OpenState;
    try {
      state = await scanForOpen(options, sodium);
    } catch (error) {
      throw new AuditUnavailableError(`audit directory ${options.dir} cannot be read: ${(error as Error).message}`, { cause: error });
    }
    const log = new AuditLog(options, sodium, state);
    if (state.brokenAtOpen !== undefined) await log.startRestartSegment(state.brokenAtOpen, state.maxSeqSeen);
    log.noteRisk(planRetention(log.files, log.limits, log.retentionNow(), 1));
    log.armTimer();
    return log;
  }

  /**
   * Records one request. Resolves true when the event is durable, false when the policy does not record
   * it; rejects with AuditUnavailableError when it cannot be made durable. Records are ordered by call.
   * A `deferred` record (nobody waits for it before answering) shares the next group commit rather
   * than starting one, and is synced within auditDeferredFlushMs if none comes.
   */
  record(input: AuditEventInput, options: RecordOptions = {}): Promise<boolean> {
    try {
      const event = this.shapeRecorded(input);
      if (event === undefined) return Promise.resolve(false);
      const seq = this.append(() => event, () => withoutBodies(event), options.deferred === true);
      this.checkpointIfDue();
      return this.appender.waitFor(seq).then(() => true);
    } catch (error) {
      return Promise.reject(recordError(error));
    }
  }

  /**
   * The record of a write, shaped here to travel in the write's Raft entry (canonical JSON), or undefined
   * when the policy does not record the request. Throws AuditUnavailableError when this log refuses
   * records: the write is then not proposed (fail closed).
   */
  shape(input: AuditEventInput): string | undefined {
    try {
      const event = this.shapeRecorded(input);
      if (event === undefined) return undefined;
      const fits = (text: string) => Buffer.byteLength(text) + auditChainFieldsBytesMax <= auditRecordBytesMax;
      const whole = canonicalJson(event);
      if (fits(whole)) return whole;
      const bodiless = canonicalJson(withoutBodies(event));
      if (fits(bodiless)) return bodiless;
      throw new AuditRecordRefusedError(`audit record exceeds ${auditRecordBytesMax} bytes (auditRecordBytesMax) even without bodies`);
    } catch (error) {
      throw recordError(error);
    }
  }

  /** The newest Raft entry this log has taken: the replica hands records of later entries only. */
  takenThrough(): number {
    return this.entry;
  }

  /** The newest Raft entry through which every record this log took is durable (the WAL keeps the rest). */
  durableThrough(): number {
    const durable = this.appender.durableSeq;
    let entry = this.marks[0]!.entry;
    for (const mark of this.marks) {
      if (mark.seq > durable) break;
      entry = mark.entry;
    }
    return entry;
  }

  /**
   * The replica applied entry `index`; `record` is the audit record it carried (from `shape` on the
   * member that took the request). Appended at once, its fdatasync shared with the next group commit
   * (the entry in the WAL keeps it meanwhile). Ignored for an entry taken already, and while the log
   * refuses records (the replica hands it again after the recovery: takenThrough).
   */
  applied(index: number, record: string | undefined): void {
    if (this.closed || this.outage !== undefined || index <= this.entry) return;
    if (record === undefined) {
      this.entry = index;
      // The last line (its mark) says how far the log got; past the limit, a checkpoint says it anew.
      if (this.entry - this.marks.at(-1)!.entry >= auditEntriesUnmarkedMax) void this.checkpoint({ force: true }).catch(() => {});
      return;
    }
    const event = appliedEvent(record);
    if (event === undefined) {
      this.appendGap(index, index);
      return;
    }
    this.append(() => event, undefined, true, index);
    this.checkpointIfDue();
  }

  /** Entries `from`..`to` reached the store without passing through this log one by one: a gap record says so. */
  skipped(from: number, to: number): void {
    if (this.closed || this.outage !== undefined || to <= this.entry) return;
    this.appendGap(Math.max(from, this.entry + 1), to);
  }

  /** A gap record for entries first..last; the log has then taken entries through `last`. */
  private appendGap(first: number, last: number): void {
    this.append(() => ({ kind: 'Gap', apiVersion: chainApiVersion, member: this.options.member, time: this.nowIso(), entries: { first, last } }), undefined, true, last);
    this.checkpointIfDue();
  }

  /** The policy's decision and the shaped event; undefined when the policy does not record the request. */
  private shapeRecorded(input: AuditEventInput): AuditEvent | undefined {
    const decision = evaluateAuditPolicy(this.options.policy, requestAttributesOf(input));
    // A request the policy does not record does not depend on the audit log being writable.
    if (decision.level === 'None' || decision.omitStages.includes(input.stage)) return undefined;
    if (this.outage !== undefined) this.outage.refused++;
    this.checkUsable();
    return shapeEvent(input, decision.level, this.options.member, this.options.hmacKey, { clearConfigMapValues: decision.clearConfigMapValues });
  }

  private checkpointIfDue(): void {
    if (this.recordsSinceCheckpoint >= this.checkpointEveryRecords) void this.checkpoint().catch(() => {});
  }

  /** Resolves when every record appended so far is durable (deferred ones flushed now); rejects if the log failed. */
  flushed(): Promise<void> {
    this.appender.flush();
    return this.appender.waitFor(this.seq);
  }

  /**
   * Writes a signed checkpoint over everything appended so far (if anything is uncovered, or `force`:
   * the line records how far the log took Raft entries); resolves when durable.
   */
  async checkpoint(options: { force?: boolean } = {}): Promise<SignedCheckpoint | undefined> {
    this.checkUsable();
    if (this.recordsSinceCheckpoint === 0 && options.force !== true) return this.lastCheckpoint;
    let signed: SignedCheckpoint | undefined;
    const seq = this.append(() => {
      // The line's entry (append's default, this.entry), signed: the checkpoint's own line is the one no later head covers.
      const checkpoint = { member: this.options.member, seq: this.seq, head: this.head, time: this.nowIso(), ...(this.entry > 0 ? { entry: this.entry } : {}) };
      signed = signCheckpoint(this.sodium, checkpoint, this.options.keyPair.privateKey);
      const { signature, ...body } = signed;
      return { kind: 'Checkpoint', apiVersion: chainApiVersion, checkpoint: body, signature };
    });
    assert(signed !== undefined, 'checkpoint body was built');
    const done = signed;
    await this.appender.waitFor(seq);
    this.lastCheckpoint = done;
    try {
      await this.options.onCheckpoint?.(done);
    } catch (error) {
      this.checkpointCallbackError = (error as Error).message;
    }
    return done;
  }

  status(): AuditLogStatus {
    const oldest = this.files[0];
    return {
      member: this.options.member,
      file: auditFileName(this.fileNumber),
      seq: this.seq,
      head: this.head,
      durableSeq: this.appender.durableSeq,
      recordsSinceCheckpoint: this.recordsSinceCheckpoint,
      lastCheckpoint: this.lastCheckpoint,
      brokenAtOpen: this.opened.brokenAtOpen,
      segmentRestartedAfter: this.opened.segmentRestartedAfter,
      tornTailBytesRemoved: this.opened.tornTailBytesRemoved,
      failure: this.closed ? undefined : this.outage?.error.message,
      failedSinceMs: this.closed ? undefined : this.outage?.atMs,
      sinkRetry: this.closed || this.outage === undefined ? undefined : { nextAttemptMs: this.outage.nextAttemptMs, lastError: this.outage.lastAttemptError },
      recoveries: this.recoveries,
      replicatedCheckpointsRejected: this.opened.rejected,
      retentionError: this.retentionError,
      checkpointCallbackError: this.checkpointCallbackError,
      fsyncs: this.appender.stats().fsyncs,
      retainedBytes: this.files.reduce((sum, f) => sum + f.bytes, 0),
      oldestFileNewestMs: oldest?.newestMs ?? 0,
      retentionAtRisk: this.retentionAtRisk,
      youngFilesDropped: this.youngFilesDropped,
      ageRetentionHeldBack: this.ageHeldBack,
    };
  }

  /** Writes a final checkpoint over the tail, waits for durability and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.timer?.cancel();
    this.recoveryTimer?.cancel();
    // checkpoint() appends synchronously before its first await, so nothing can slip in after it.
    const final = this.outage !== undefined ? undefined : this.checkpoint();
    this.closed = true;
    await final?.catch(() => {});
    await this.recovering;
    await this.appender.close();
    await this.retention;
  }

  // ── Appending ──────────────────────────────────────────────────────────────────────────────────

  private newAppender(startSeq: number): GroupAppender {
    return new GroupAppender({
      startSeq,
      batchRecordsMax: auditFsyncBatchRecordsMax,
      deferredFlushMs: auditDeferredFlushMs,
      failure: (cause) => this.sinkFailed(cause),
      closed: () => new AuditUnavailableError('the audit log is closed'),
      fs: this.fs,
      clock: this.clock,
      ...(this.options.openFile !== undefined ? { openFile: this.options.openFile } : {}),
    });
  }

  private checkUsable(): void {
    if (this.closed) throw new AuditUnavailableError('the audit log is closed');
    if (this.outage !== undefined) throw this.outage.error;
  }

  /**
   * Appends one record built by `build` (called again after a rotation, so a checkpoint signs the true
   * previous record); `shrink` builds the smaller form used when the line would exceed
   * auditRecordBytesMax. `entry` is the Raft entry the record takes the log to (the record of an
   * applied entry); a continuation a rotation puts before it still carries the entry before. Returns its
   * seq. Synchronous, so records keep their call order.
   */
  private append(build: () => RecordBody, shrink?: () => RecordBody, deferred = false, entry = this.entry): number {
    let line = this.line(build(), entry);
    if (line.bytes.length > auditRecordBytesMax && shrink) line = this.line(shrink(), entry);
    const rotate = this.fileRecords > 0 && this.fileBytes + line.bytes.length > this.fileBytesTarget;
    if (rotate || (this.fileRecords === 0 && this.fileNumber > 1)) {
      if (rotate) this.fileNumber++;
      this.appendContinuation();
      line = this.line(build(), entry);
      if (line.bytes.length > auditRecordBytesMax && shrink) line = this.line(shrink(), entry);
    }
    if (line.bytes.length > auditRecordBytesMax) {
      throw new AuditRecordRefusedError(`audit record of ${line.bytes.length} bytes exceeds ${auditRecordBytesMax} (auditRecordBytesMax) even without bodies`);
    }
    const seq = this.enqueue(line, deferred);
    this.entry = entry;
    return seq;
  }

  /** The next record's line for `body`, chained after the current head. */
  private line(body: RecordBody, entry = this.entry): ChainedLine {
    const { fields, line } = chainRecord(body, this.seq + 1, this.head, entry > 0 ? entry : undefined);
    return { fields, kind: body.kind, bytes: Buffer.from(line + '\n', 'utf8') };
  }

  /** `unsigned` signed for the place appendLine gives it next: after the current head, with the current entry. */
  private signed<B extends ContinuationBody | RestartBody>(unsigned: Omit<B, 'signature'>): B {
    return signRecord<B>(this.sodium, unsigned, this.seq + 1, this.head, this.options.keyPair.privateKey, this.entry > 0 ? this.entry : undefined);
  }

  private appendLine(body: RecordBody): number {
    return this.enqueue(this.line(body));
  }

  private enqueue({ fields, kind, bytes }: ChainedLine, deferred = false): number {
    assert(fields.seq === this.seq + 1 && fields.prevHash === this.head, 'a record is chained after the current head');
    this.appender.enqueue({ seq: fields.seq, file: this.filePath(this.fileNumber), bytes }, deferred);
    this.seq = fields.seq;
    this.head = fields.hash;
    this.fileBytes += bytes.length;
    this.fileRecords++;
    if (kind === 'Checkpoint') this.recordsSinceCheckpoint = 0;
    else this.recordsSinceCheckpoint++;
    const current = this.files.at(-1);
    if (current?.number === this.fileNumber) {
      current.bytes = this.fileBytes;
      current.newestMs = this.clock.nowMs();
    } else {
      this.files.push({ number: this.fileNumber, bytes: this.fileBytes, newestMs: this.clock.nowMs() });
    }
    this.marks.push({
      seq: fields.seq, hash: fields.hash, fileNumber: this.fileNumber, fileBytes: this.fileBytes, recordsSinceCheckpoint: this.recordsSinceCheckpoint,
      entry: fields.entry ?? 0,
    });
    this.dropDurableMarks();
    return fields.seq;
  }

  /** Keeps only the last durable mark and the marks after it. */
  private dropDurableMarks(): void {
    let durable = 0;
    while (durable + 1 < this.marks.length && this.marks[durable + 1]!.seq <= this.appender.durableSeq) durable++;
    if (durable > 0) this.marks.splice(0, durable);
  }

  /**
   * The first line of a new file. Retention picks the files to delete; the continuation names them, and
   * they are deleted once it is durable. Young history in them is reported now, before it goes.
   */
  private appendContinuation(): void {
    this.fileBytes = 0;
    this.fileRecords = 0;
    // The file just closed stays: the newest full file is always kept. The file this continuation opens
    // is not among the candidates (it is in the model when a crash left it empty and it is reused).
    const closed = this.files.filter((f) => f.number !== this.fileNumber);
    const plan = planRetention(closed, this.limits, this.retentionNow(), 1);
    this.noteHeldBack(plan);
    const removes = plan.removes.map((f) => auditFileName(f.number));
    if (plan.young.length > 0) {
      this.youngFilesDropped += plan.young.length;
      this.options.events?.youngHistoryDropped?.(plan.young.map((f) => ({ name: auditFileName(f.number), bytes: f.bytes, newestMs: f.newestMs })), plan.keptBytes);
    }
    // Signed: once the files it removes are gone, it is what vouches for the start of the kept log.
    const seq = this.appendLine(this.signed<ContinuationBody>({
      kind: 'Continuation', apiVersion: chainApiVersion, member: this.options.member, time: this.nowIso(),
      file: this.fileNumber, previousFile: this.fileNumber - 1, removes,
    }));
    this.noteRisk(plan);
    if (removes.length === 0) return;
    // Out of the model now, so the next rotation does not plan them again; back in if they stay on disk.
    const leaving = new Set(plan.removes.map((f) => f.number));
    this.files = this.files.filter((f) => !leaving.has(f.number));
    const appender = this.appender;
    this.retention = this.retention
      .then(() => appender.waitFor(seq))
      .then(() => this.removeFiles(removes))
      .then(() => this.options.events?.retentionDeleted?.(plan.removes.map((f) => ({ name: auditFileName(f.number), bytes: f.bytes, newestMs: f.newestMs, reason: f.reason }))))
      .catch((error: Error) => {
        this.retentionError = error.message;
        const back = plan.removes.map(({ number, bytes, newestMs }) => ({ number, bytes, newestMs }));
        this.files = [...back, ...this.files].sort((a, b) => a.number - b.number);
      });
  }

  /** The times retention judges by: the local clock, and the cluster's agreed time (retention.ts agreedNowMs). */
  private retentionNow(): RetentionNow {
    const localMs = this.clock.nowMs();
    return { localMs, agreedMs: agreedNowMs(localMs, this.options.clusterTimeMs?.(), auditClusterTimeAllowanceMs) };
  }

  /** Says (every check while it lasts) that retention by age holds back files the local clock alone would delete. */
  private noteHeldBack(plan: RetentionPlan, now?: RetentionNow): void {
    this.ageHeldBack = plan.heldBack.length > 0;
    if (!this.ageHeldBack) return;
    const { localMs } = now ?? this.retentionNow();
    this.options.events?.ageRetentionHeldBack?.({
      files: plan.heldBack.map((f) => ({ name: auditFileName(f.number), newestMs: f.newestMs })), localMs, clusterMs: this.options.clusterTimeMs?.(),
    });
  }

  private noteRisk(plan: RetentionPlan): void {
    if (plan.atRisk === this.retentionAtRisk) return;
    this.retentionAtRisk = plan.atRisk;
    this.options.events?.retentionAtRisk?.(plan.atRisk, { keptBytes: plan.keptBytes, oldestMs: plan.oldestKeptMs });
  }

  private async removeFiles(names: string[]): Promise<void> {
    for (const name of names) await this.fs.rm(path.join(this.options.dir, name), { force: true });
  }

  /** Begins a fresh segment in a new file after a break; its seq is above every seq seen or replicated. */
  private async startRestartSegment(broken: ChainBreak, maxSeqSeen: number): Promise<void> {
    this.fileNumber++;
    this.fileBytes = 0;
    this.fileRecords = 0;
    this.seq = maxSeqSeen;
    this.head = genesisHash;
    this.recordsSinceCheckpoint = 0;
    // Signed: its prevHash is the zero hash, so nothing but the member's signature says the segment is the member's.
    const body = this.signed<RestartBody>({
      kind: 'Restart', apiVersion: chainApiVersion, member: this.options.member, time: this.nowIso(), break: broken,
      lastGood: this.opened.seq > 0 ? { seq: this.opened.seq, hash: this.opened.hash } : null,
    });
    const seq = this.appendLine(body);
    await this.appender.waitFor(seq);
  }

  // ── A failed sink and its recovery ─────────────────────────────────────────────────────────────

  /** The appender's failure hook: the first failure starts an outage (reported once) and the retries. */
  private sinkFailed(cause: Error): AuditUnavailableError {
    const code = (cause as NodeJS.ErrnoException).code;
    const error = new AuditUnavailableError(
      `audit record could not be made durable${code ? ` (${code})` : ''}; requests are refused until the audit sink takes records again: ${cause.message}`,
      { cause },
    );
    if (this.outage !== undefined || this.closed) return error;
    this.dropDurableMarks();
    this.outage = {
      error, atMs: this.clock.nowMs(), reason: cause.message, recordsCut: this.seq - this.marks[0]!.seq, refused: 0, nextAttemptMs: 0, lastAttemptError: undefined,
    };
    this.options.events?.sinkFailed?.({ reason: cause.message, atMs: this.outage.atMs });
    this.scheduleRecovery(this.options.sinkRetryMs ?? auditSinkRetryMs);
    return error;
  }

  private scheduleRecovery(delayMs: number): void {
    const outage = this.outage;
    if (outage === undefined) return;
    outage.nextAttemptMs = this.clock.nowMs() + delayMs;
    this.recoveryTimer = this.clock.setTimer(delayMs, () => {
      this.recoveryTimer = undefined;
      this.recovering = this.recover().catch((error: Error) => {
        if (this.closed) return;
        outage.lastAttemptError = error.message;
        this.scheduleRecovery(Math.min(delayMs * 2, this.options.sinkRetryMsMax ?? auditSinkRetryMsMax));
      });
    });
  }

  /**
   * One attempt to take records again: cut everything after the last durable record from the files
   * (none of it was acknowledged), then append a signed Recovery record in a fresh file and wait until
   * it is durable. Throws if any step fails; the caller tries again later.
   */
  private async recover(): Promise<void> {
    const outage = this.outage;
    if (outage === undefined || this.closed) return;
    await this.appender.close();
    this.dropDurableMarks();
    const mark = this.marks[0]!;
    await truncateDurably(this.filePath(mark.fileNumber), mark.fileBytes, this.fs);
    // A file whose durable part is empty holds nothing acknowledged: the recovery record begins it afresh.
    const next = mark.fileBytes === 0 ? mark.fileNumber : mark.fileNumber + 1;
    for (let n = next; n <= this.fileNumber; n++) await this.fs.rm(this.filePath(n), { force: true });
    await this.fs.fsyncDir(this.options.dir);
    this.seq = mark.seq;
    this.head = mark.hash;
    this.fileNumber = next;
    this.fileBytes = 0;
    this.fileRecords = 0;
    this.recordsSinceCheckpoint = mark.recordsSinceCheckpoint;
    // Records of entries after the mark's were cut: the replica hands them again (sinkRecovered).
    this.entry = mark.entry;
    this.files = this.files.filter((f) => f.number < next);
    const last = this.files.at(-1);
    if (last?.number === mark.fileNumber) last.bytes = mark.fileBytes;
    this.marks = [mark];
    this.appender = this.newAppender(mark.seq);
    const body = signRecovery(this.sodium, {
      kind: 'Recovery', apiVersion: chainApiVersion, member: this.options.member, time: this.nowIso(), file: next, previousFile: next - 1,
      failure: { time: new Date(outage.atMs).toISOString(), reason: outage.reason }, recordsCut: outage.recordsCut, recordsRefused: outage.refused,
    }, this.seq + 1, this.head, this.options.keyPair.privateKey, this.entry > 0 ? this.entry : undefined);
    const seq = this.appendLine(body);
    await this.appender.waitFor(seq);
    this.outage = undefined;
    this.recoveries++;
    this.options.events?.sinkRecovered?.({
      file: auditFileName(next), seq, failedAtMs: outage.atMs, reason: outage.reason, recordsCut: outage.recordsCut, recordsRefused: outage.refused,
    });
    void this.checkpoint().catch(() => {});
  }

  private armTimer(): void {
    this.timer = this.clock.setTimer(this.checkpointIntervalMs, () => {
      if (this.closed) return;
      if (this.outage === undefined) {
        this.rotateIfDueByAge();
        void this.checkpoint().catch(() => {});
      }
      this.armTimer();
    });
  }

  /**
   * Retention by age must not wait for the next size rotation: a file past the age limit starts a new
   * file now. An empty current file (a crash came right after a rotation created it) is that new file:
   * skipping it would leave an empty file inside the chain, which verification reports as a break.
   */
  private rotateIfDueByAge(): void {
    const oldest = this.files[0];
    if (this.files.length < 2 || oldest === undefined) return;
    const now = this.retentionNow();
    if (now.agreedMs === undefined || now.agreedMs - oldest.newestMs <= this.limits.ageMsMax) {
      // Not due by the cluster's time: say so if the local clock alone would have deleted files.
      if (now.localMs - oldest.newestMs > this.limits.ageMsMax || this.ageHeldBack) this.noteHeldBack(planRetention(this.files, this.limits, now, 1), now);
      return;
    }
    if (this.fileRecords > 0) this.fileNumber++;
    this.appendContinuation();
  }

  private filePath(fileNumber: number): string {
    // Asked for every record appended, nearly always for the current file: its path is made once.
    if (this.lastPath?.fileNumber !== fileNumber) this.lastPath = { fileNumber, path: path.join(this.options.dir, auditFileName(fileNumber)) };
    return this.lastPath.path;
  }

  private nowIso(): string {
    return new Date(this.clock.nowMs()).toISOString();
  }
}

/** What the policy looks at of an event: the parsed path (the raw URI's path only if none was given). */
export function requestAttributesOf(input: AuditEventInput): AuditRequestAttributes {
  const ref = input.objectRef;
  const attributes: AuditRequestAttributes = {
    user: input.user.username,
    groups: input.user.groups,
    verb: input.verb,
    path: input.path ?? input.requestURI.split('?')[0] ?? input.requestURI,
    decision: input.decision,
  };
  if (ref?.resource !== undefined) {
    attributes.resource = { group: ref.apiGroup ?? '', resource: ref.resource };
    if (ref.subresource !== undefined) attributes.resource.subresource = ref.subresource;
    if (ref.namespace !== undefined) attributes.resource.namespace = ref.namespace;
    if (ref.name !== undefined) attributes.resource.name = ref.name;
  }
  return attributes;
}

/**
 * Reads the directory forward once. The segment to continue starts at the last file that begins with a
 * restart record (or at the start of the log); it is verified like verifyAuditLog does. A torn last
 * line of the newest file is cut off (it was never acknowledged), the rest of that file is made durable,
 * and the directory is fsynced.
 */
async function scanForOpen(options: AuditLogOptions, sodium: Sodium): Promise<OpenState> {
  const replicated = (options.replicatedCheckpoints ?? []).filter((cp) => checkpointSignatureValid(sodium, cp, options.keyPair.publicKey));
  const newVerifier = (start: 'log' | 'segment') => new ChainVerifier({
    sodium, publicKey: options.keyPair.publicKey, member: options.member, replicatedCheckpoints: replicated, start, entryMax: options.entryMax,
  });
  const fs = options.fs ?? nodeFs;
  const files = await listAuditFiles(options.dir, fs);
  let verifier = newVerifier('log');
  let broken: ChainBreak | undefined;
  let segmentRestartedAfter: ChainBreak | undefined;
  let maxSeqSeen = Math.max(0, ...replicated.map((cp) => cp.seq));
  let previous: number | undefined;
  let last = { number: 1, completeBytes: 0, lines: 0, partialBytes: 0, path: '' };
  const retained: RetainedFile[] = [];
  for (const [i, file] of files.entries()) {
    const { lines, notUtf8, partialBytes, completeBytes } = await readLines(file.path, fs);
    last = { number: file.number, completeBytes, lines: lines.length, partialBytes, path: file.path };
    retained.push({ number: file.number, bytes: completeBytes, newestMs: recordTimeMs(parseQuietly(lines.at(-1))) });
    const firstRecord = parseQuietly(lines[0]);
    if (firstRecord?.kind === 'Restart') {
      verifier = newVerifier('segment');
      broken = undefined;
      segmentRestartedAfter = firstRecord.break as ChainBreak | undefined;
    } else if (broken === undefined && previous !== undefined && file.number !== previous + 1) {
      broken = { file: file.name, seq: verifier.totals.lastSeq + 1, reason: `files ${previous + 1}..${file.number - 1} are missing` };
    }
    previous = file.number;
    verifier.beginFile(file.number, file.name);
    const newest = i === files.length - 1;
    if (broken === undefined && !newest && (partialBytes > 0 || lines.length === 0)) {
      broken = { file: file.name, seq: verifier.totals.lastSeq + 1, reason: 'a file that is not the newest is empty or ends in a partial line' };
    }
    for (const [i, line] of lines.entries()) {
      const seq = parseQuietly(line)?.seq;
      if (typeof seq === 'number' && Number.isSafeInteger(seq)) maxSeqSeen = Math.max(maxSeqSeen, seq);
      if (broken === undefined) broken = verifier.line(line, { utf8: !notUtf8.has(i) });
    }
  }
  broken ??= verifier.finish();
  // The newest file may end in records a killed process wrote and never synced: readable now, lost in
  // a power cut. They are made durable (a torn tail cut first) before the log goes on after them —
  // perhaps in a new file, which no later fdatasync of this one would cover.
  let tornTailBytesRemoved = 0;
  if (last.path !== '') {
    await truncateDurably(last.path, last.completeBytes, fs);
    tornTailBytesRemoved = last.partialBytes;
  }
  // The log continues in the files found: their names must be durable before a record in them is
  // acknowledged (a crash may have come between a file's creation and its directory fsync).
  await fs.fsyncDir(options.dir);
  const totals = verifier.totals;
  return {
    seq: totals.lastSeq,
    hash: totals.lastHash,
    fileNumber: last.number,
    fileBytes: last.completeBytes,
    fileRecords: last.lines,
    recordsSinceCheckpoint: totals.recordsSinceCheckpoint,
    brokenAtOpen: broken,
    segmentRestartedAfter,
    tornTailBytesRemoved,
    maxSeqSeen,
    lastEntry: totals.lastEntry,
    rejected: (options.replicatedCheckpoints ?? []).length - replicated.length,
    files: retained,
  };
}

/**
 * An error making one record: the log's own refusal (closed, sink failed) or a record refused already
 * as it is; anything else came from the record's content (shaping and serialising it change nothing
 * before they succeed), so it is that record's refusal (AuditRecordRefusedError), not the log's.
 */
function recordError(error: unknown): AuditUnavailableError {
  if (error instanceof AuditUnavailableError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new AuditRecordRefusedError(`the audit record cannot be written as it is: ${message}`, { cause: error });
}

/** The event a Raft entry carried, if it is one (shape made it on the member that took the request). */
function appliedEvent(record: string): AuditEvent | undefined {
  const value = parseQuietly(record);
  return value?.kind === 'Event' && value.apiVersion === 'audit.k8s.io/v1' && !('seq' in value) && !('hash' in value) && !('entry' in value)
    ? (value as unknown as AuditEvent) : undefined;
}

function parseQuietly(line: string | undefined): Record<string, unknown> | undefined {
  if (line === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
