/**
 * The member's audit log: the one object the API's audit plugin talks to. `record(event)` applies the
 * policy, shapes the event (bodies per level, Secret values digested), appends it to the chain and
 * resolves once the line is durable, or rejects with AuditUnavailableError (the request then fails
 * with 503 and changes nothing: fail closed). Checkpoints are signed every N records or T ms, written
 * into the chain and handed to `onCheckpoint` for replication. Files rotate by size; the oldest beyond
 * the retention limit are deleted once the continuation record naming them is durable.
 *
 * Opening verifies the segment it will continue. A broken log does not stop the member: the break is
 * reported in status() and appending continues in a fresh segment, in a new file, that begins with a
 * restart record naming the break. The broken files are left as they are for the operator;
 * verifyAuditLog keeps reporting the break.
 *
 * Invariants: `seq`/`head` are the last record appended (not necessarily durable yet); records are
 * appended synchronously in record() call order; nothing is appended after a failure or close.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { type Clock, type TimerHandle, assert, realClock } from '../base/index.ts';
import {
  auditCheckpointEveryEvents, auditCheckpointIntervalMs, auditFileBytesTarget, auditFilesRetainedMax, auditFsyncBatchRecordsMax,
  auditRecordBytesMax,
} from '../config/index.ts';
import { sodiumReady } from '../crypto/index.ts';
import { GroupAppender, type OpenAppendFile } from '../durable/index.ts';
import { ChainVerifier } from './chain-verifier.ts';
import {
  type ChainBreak, type ChainRecord, chainApiVersion, chainRecord, checkpointSignatureValid, genesisHash, type RecordBody, type RestartBody,
  type SignedCheckpoint, signCheckpoint, type Sodium,
} from './chain.ts';
import { checkHmacKey } from './digest.ts';
import { AuditUnavailableError } from './errors.ts';
import { type AuditEventInput, shapeEvent, withoutBodies } from './event.ts';
import { auditFileName, listAuditFiles, readLines } from './files.ts';
import type { AuditKeyPair } from './keys.ts';
import { type AuditPolicy, type AuditRequestAttributes, evaluateAuditPolicy } from './policy.ts';

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
  /** Called with each checkpoint once it is durable, for replication through Raft. Must not throw. */
  onCheckpoint?: (checkpoint: SignedCheckpoint) => void | Promise<void>;
  /** The cluster's checkpoints for this member; a log that contradicts them is treated as broken. */
  replicatedCheckpoints?: readonly SignedCheckpoint[];
  checkpointEveryRecords?: number;
  checkpointIntervalMs?: number;
  fileBytesTarget?: number;
  filesRetainedMax?: number;
  /** Seam for failure tests; production opens real files. */
  openFile?: OpenAppendFile;
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
  /** Replicated checkpoints ignored at open because their signature did not verify. */
  replicatedCheckpointsRejected: number;
  retentionError: string | undefined;
  checkpointCallbackError: string | undefined;
  fsyncs: number;
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
  rejected: number;
  /** The oldest audit file present (retention deletes from here up). */
  oldestFile: number;
}

export class AuditLog {
  private seq: number;
  private head: string;
  private fileNumber: number;
  private fileBytes: number;
  private fileRecords: number;
  private recordsSinceCheckpoint: number;
  private oldestFile: number;
  private lastCheckpoint: SignedCheckpoint | undefined;
  private closed = false;
  private timer: TimerHandle | undefined;
  private retention: Promise<void> = Promise.resolve();
  private retentionError: string | undefined;
  private checkpointCallbackError: string | undefined;
  private readonly appender: GroupAppender;
  private readonly clock: Clock;
  private readonly checkpointEveryRecords: number;
  private readonly checkpointIntervalMs: number;
  private readonly fileBytesTarget: number;
  private readonly filesRetainedMax: number;

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
    this.oldestFile = opened.oldestFile;
    this.clock = options.clock ?? realClock;
    this.checkpointEveryRecords = options.checkpointEveryRecords ?? auditCheckpointEveryEvents;
    this.checkpointIntervalMs = options.checkpointIntervalMs ?? auditCheckpointIntervalMs;
    this.fileBytesTarget = options.fileBytesTarget ?? auditFileBytesTarget;
    this.filesRetainedMax = options.filesRetainedMax ?? auditFilesRetainedMax;
    assert(this.checkpointEveryRecords >= 1 && this.checkpointIntervalMs > 0, 'checkpoint cadence must be positive');
    assert(this.filesRetainedMax >= 1 && this.fileBytesTarget >= 1, 'file size target and retention must be positive');
    this.appender = new GroupAppender({
      startSeq: opened.seq,
      batchRecordsMax: auditFsyncBatchRecordsMax,
      failure: (cause) => {
        const code = (cause as NodeJS.ErrnoException).code;
        return new AuditUnavailableError(
          `audit record could not be made durable${code ? ` (${code})` : ''}; requests fail until the audit log is reopened: ${cause.message}`,
          { cause },
        );
      },
      closed: () => new AuditUnavailableError('the audit log is closed'),
      ...(options.openFile !== undefined ? { openFile: options.openFile } : {}),
    });
  }

  /** Opens (or creates) the log in options.dir; rejects with AuditUnavailableError if the directory is unusable. */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    checkHmacKey(options.hmacKey);
    const sodium = await sodiumReady();
    try {
      await fs.mkdir(options.dir, { recursive: true, mode: 0o700 });
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
    log.armTimer();
    return log;
  }

  /**
   * Records one request. Resolves when the event is durable (or when the policy says None for it);
   * rejects with AuditUnavailableError when it cannot be made durable. Records are ordered by call.
   */
  record(input: AuditEventInput): Promise<void> {
    try {
      const decision = evaluateAuditPolicy(this.options.policy, requestAttributesOf(input));
      // A request the policy does not record does not depend on the audit log being writable.
      if (decision.level === 'None' || decision.omitStages.includes(input.stage)) return Promise.resolve();
      this.checkUsable();
      const event = shapeEvent(input, decision.level, this.options.member, this.options.hmacKey, { clearConfigMapValues: decision.clearConfigMapValues });
      const seq = this.append(() => event, () => withoutBodies(event));
      if (this.recordsSinceCheckpoint >= this.checkpointEveryRecords) void this.checkpoint().catch(() => {});
      return this.appender.waitFor(seq);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Resolves when every record appended so far is durable; rejects if the log failed. */
  flushed(): Promise<void> {
    return this.appender.waitFor(this.seq);
  }

  /** Writes a signed checkpoint over everything appended so far (if anything is uncovered); resolves when durable. */
  async checkpoint(): Promise<SignedCheckpoint | undefined> {
    this.checkUsable();
    if (this.recordsSinceCheckpoint === 0) return this.lastCheckpoint;
    let signed: SignedCheckpoint | undefined;
    const seq = this.append(() => {
      const checkpoint = { member: this.options.member, seq: this.seq, head: this.head, time: this.nowIso() };
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
      failure: this.closed ? undefined : this.appender.failed?.message,
      replicatedCheckpointsRejected: this.opened.rejected,
      retentionError: this.retentionError,
      checkpointCallbackError: this.checkpointCallbackError,
      fsyncs: this.appender.stats().fsyncs,
    };
  }

  /** Writes a final checkpoint over the tail, waits for durability and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.timer?.cancel();
    // checkpoint() appends synchronously before its first await, so nothing can slip in after it.
    const final = this.appender.failed ? undefined : this.checkpoint();
    this.closed = true;
    await final?.catch(() => {});
    await this.appender.close();
    await this.retention;
  }

  // ── Appending ──────────────────────────────────────────────────────────────────────────────────

  private checkUsable(): void {
    if (this.closed) throw new AuditUnavailableError('the audit log is closed');
    const failed = this.appender.failed;
    if (failed) throw failed;
  }

  /**
   * Appends one record built by `build` (called again after a rotation, so a checkpoint signs the true
   * previous record); `shrink` builds the smaller form used when the line would exceed
   * auditRecordBytesMax. Returns its seq. Synchronous, so records keep their call order.
   */
  private append(build: () => RecordBody, shrink?: () => RecordBody): number {
    let line = this.line(build());
    if (line.bytes.length > auditRecordBytesMax && shrink) line = this.line(shrink());
    const rotate = this.fileRecords > 0 && this.fileBytes + line.bytes.length > this.fileBytesTarget;
    if (rotate || (this.fileRecords === 0 && this.fileNumber > 1)) {
      if (rotate) this.fileNumber++;
      this.appendContinuation();
      line = this.line(build());
      if (line.bytes.length > auditRecordBytesMax && shrink) line = this.line(shrink());
    }
    if (line.bytes.length > auditRecordBytesMax) {
      throw new AuditUnavailableError(`audit record of ${line.bytes.length} bytes exceeds ${auditRecordBytesMax} (auditRecordBytesMax) even without bodies`);
    }
    return this.enqueue(line);
  }

  /** The next record's line for `body`, chained after the current head. */
  private line(body: RecordBody): { record: ChainRecord; bytes: Buffer } {
    const { record, line } = chainRecord(body, this.seq + 1, this.head);
    return { record, bytes: Buffer.from(line + '\n', 'utf8') };
  }

  private appendLine(body: RecordBody): number {
    return this.enqueue(this.line(body));
  }

  private enqueue({ record, bytes }: { record: ChainRecord; bytes: Buffer }): number {
    assert(record.seq === this.seq + 1 && record.prevHash === this.head, 'a record is chained after the current head');
    this.appender.enqueue({ seq: record.seq, file: path.join(this.options.dir, auditFileName(this.fileNumber)), bytes });
    this.seq = record.seq;
    this.head = record.hash;
    this.fileBytes += bytes.length;
    this.fileRecords++;
    if (record.kind === 'Checkpoint') this.recordsSinceCheckpoint = 0;
    else this.recordsSinceCheckpoint++;
    return record.seq;
  }

  /** The first line of a new file; once durable, files beyond the retention limit are deleted. */
  private appendContinuation(): void {
    this.fileBytes = 0;
    this.fileRecords = 0;
    const firstKept = Math.max(1, this.fileNumber - this.filesRetainedMax + 1);
    const removes: string[] = [];
    for (let n = this.oldestFile; n < firstKept; n++) removes.push(auditFileName(n));
    this.oldestFile = Math.max(this.oldestFile, firstKept);
    const seq = this.appendLine({
      kind: 'Continuation', apiVersion: chainApiVersion, member: this.options.member, time: this.nowIso(),
      file: this.fileNumber, previousFile: this.fileNumber - 1, removes,
    });
    if (removes.length > 0) {
      this.retention = this.retention
        .then(() => this.appender.waitFor(seq))
        .then(() => this.removeFiles(removes))
        .catch((error: Error) => { this.retentionError = error.message; });
    }
  }

  private async removeFiles(names: string[]): Promise<void> {
    for (const name of names) await fs.rm(path.join(this.options.dir, name), { force: true });
  }

  /** Begins a fresh segment in a new file after a break; its seq is above every seq seen or replicated. */
  private async startRestartSegment(broken: ChainBreak, maxSeqSeen: number): Promise<void> {
    this.fileNumber++;
    this.fileBytes = 0;
    this.fileRecords = 0;
    this.seq = maxSeqSeen;
    this.head = genesisHash;
    this.recordsSinceCheckpoint = 0;
    const body: RestartBody = {
      kind: 'Restart', apiVersion: chainApiVersion, member: this.options.member, time: this.nowIso(), break: broken,
      lastGood: this.opened.seq > 0 ? { seq: this.opened.seq, hash: this.opened.hash } : null,
    };
    const seq = this.appendLine(body);
    await this.appender.waitFor(seq);
  }

  private armTimer(): void {
    this.timer = this.clock.setTimer(this.checkpointIntervalMs, () => {
      if (this.closed || this.appender.failed) return;
      void this.checkpoint().catch(() => {});
      this.armTimer();
    });
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
 * line of the newest file is cut off (it was never acknowledged).
 */
async function scanForOpen(options: AuditLogOptions, sodium: Sodium): Promise<OpenState> {
  const replicated = (options.replicatedCheckpoints ?? []).filter((cp) => checkpointSignatureValid(sodium, cp, options.keyPair.publicKey));
  const newVerifier = (start: 'log' | 'segment') => new ChainVerifier({
    sodium, publicKey: options.keyPair.publicKey, member: options.member, replicatedCheckpoints: replicated, start,
  });
  const files = await listAuditFiles(options.dir);
  let verifier = newVerifier('log');
  let broken: ChainBreak | undefined;
  let segmentRestartedAfter: ChainBreak | undefined;
  let maxSeqSeen = Math.max(0, ...replicated.map((cp) => cp.seq));
  let previous: number | undefined;
  let last = { number: 1, completeBytes: 0, lines: 0, partialBytes: 0, path: '' };
  for (const [i, file] of files.entries()) {
    const { lines, partialBytes, completeBytes } = await readLines(file.path);
    last = { number: file.number, completeBytes, lines: lines.length, partialBytes, path: file.path };
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
    for (const line of lines) {
      const seq = parseQuietly(line)?.seq;
      if (typeof seq === 'number' && Number.isSafeInteger(seq)) maxSeqSeen = Math.max(maxSeqSeen, seq);
      if (broken === undefined) broken = verifier.line(line);
    }
  }
  broken ??= verifier.finish();
  let tornTailBytesRemoved = 0;
  if (last.partialBytes > 0) {
    await fs.truncate(last.path, last.completeBytes);
    const handle = await fs.open(last.path, 'r+');
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
    tornTailBytesRemoved = last.partialBytes;
  }
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
    rejected: (options.replicatedCheckpoints ?? []).length - replicated.length,
    oldestFile: files[0]?.number ?? 1,
  };
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
