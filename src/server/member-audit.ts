/**
 * A member's audit log, wired: the member's Ed25519 audit key pair in a sealed file in its data dir,
 * the cluster's audit HMAC key and every member's checkpoints in the replicated store (audit's
 * replicated.ts), and the ApiAudit the client API records through.
 *
 * The log opens once the HMAC key can be read: from the member's own store after any restart, through a
 * leader on a member's first start. Until then a request the audit policy records is refused with 503
 * (fail closed); probes the policy leaves out (/healthz…) are served.
 *
 * What the operator sees (docs/operations.md): `refusal()` feeds /readyz and the coffer_audit_refusing
 * gauge; one log line when the sink fails and one when it takes records again (the log retries on its
 * own), one when young history becomes at risk and one before retention deletes young history, one
 * per file retention deletes (by size or by age), and at most one per auditClockAheadLogWindowMs while
 * this member's clock runs ahead of the cluster's time and retention by age holds files back for it.
 *
 * Retention by age judges by the cluster's time (cluster-time.ts: the lower median of the members'
 * newest replicated checkpoint times, reread every auditCheckpointIntervalMs from the local store), so
 * a member whose clock runs far ahead cannot delete its history on its own say.
 *
 * Invariant: one AuditLog per member data dir.
 */
import type { ConnectionOptions } from 'node:tls';
import type { ApiAudit, KvBackend, MemberAuditVerification } from '../api/index.ts';
import {
  AuditLog, type AuditLogEvents, type AuditLogOptions, type AuditEventInput, type AuditKeyPair, type AuditPolicy, type AuditQuery, type AuditQueryResult,
  AuditUnavailableError, auditDirOf, auditKeyStoreId, ensureAuditHmacKey, evaluateAuditPolicy, loadOrCreateAuditKeyFile, queryAuditLog, type RecordOptions,
  readNewestCheckpointTimes, readReplicatedCheckpoints, replicateCheckpoint, requestAttributesOf, verifyAuditLog, wipeAuditKeyPair,
} from '../audit/index.ts';
import { realClock, type TimerHandle } from '../base/index.ts';
import { HttpsTransport } from '../client/index.ts';
import {
  auditCheckpointIntervalMs, auditClockAheadLogWindowMs, auditOpenRetryMs, auditStopReplicationWaitMs, auditOpenRetryMsMax, auditPeerRequestTimeoutMs,
  auditPeerResponseBytesMax,
} from '../config/index.ts';
import type { Sealer } from '../crypto/index.ts';
import type { AppliedAuditSink } from '../replication/index.ts';
import { ClusterTime } from './cluster-time.ts';
import { SampledLog } from './sampled-log.ts';

export interface MemberAuditOptions {
  dataDir: string;
  member: string;
  sealer: Sealer;
  backend: KvBackend;
  /** Already passed through withOneEventPerRequest. */
  policy: AuditPolicy;
  /** TLS options for a GET to another member's client port, the server checked to be `expectedMember`. */
  tlsClientOptions: (expectedMember: string) => ConnectionOptions;
  metrics?: MemberAuditMetrics;
  /**
   * The replica, which hands the log the records of the entries it applies once the log is open, and
   * says how far its WAL goes, beyond which no line of the log can be trusted (auditEntryMax).
   */
  appliedRecords?: { attachAudit(sink: AppliedAuditSink): void; replayAudit(): void; auditEntryMax(): number };
  log?: { info: (fields: object, message: string) => void; warn: (fields: object, message: string) => void; error: (fields: object, message: string) => void };
  /**
   * Settings of the AuditLog: retention from the member's config; cadence, file size, sink retries,
   * clock and file opening only as test seams (production uses the limits in config/limits.ts).
   */
  logOptions?: Pick<AuditLogOptions, 'retention' | 'checkpointEveryRecords' | 'checkpointIntervalMs' | 'fileBytesTarget' | 'openFile' | 'sinkRetryMs' | 'sinkRetryMsMax' | 'clock'>;
}

/** The counters the member's audit feeds (src/metrics implements them). */
export interface MemberAuditMetrics {
  /** One per record the log took ('written') or refused ('failed'); requests the policy does not record count as neither. */
  audit(outcome: 'written' | 'failed'): void;
  auditSinkFailed(): void;
  auditYoungFilesDropped(files: number): void;
}

/** What the member's gauges show of its audit log. */
export interface MemberAuditGauges {
  /** Records are being refused (not open yet, or the sink failed). */
  refusing: boolean;
  retentionAtRisk: boolean;
  retainedBytes: number;
  /** Retention by age holds back files this member's clock alone says are past the age limit (its clock runs ahead of the cluster's). */
  ageRetentionHeldBack: boolean;
}

export class MemberAudit implements ApiAudit {
  readonly member: string;
  private log: AuditLog | undefined;
  private hmacKey: Uint8Array | undefined;
  private timer: TimerHandle | undefined;
  private stopped = false;
  /** Why the last checkpoint could not be put in the store, if it could not. */
  replicationError: string | undefined;
  private replicating: Promise<void> = Promise.resolve();
  private opening: Promise<void> | undefined;
  readonly dir: string;
  private readonly clusterTime: ClusterTime;
  private readonly heldBackLog: SampledLog;

  private constructor(private readonly options: MemberAuditOptions, private readonly keyPair: AuditKeyPair) {
    this.member = options.member;
    this.dir = auditDirOf(options.dataDir);
    const backend = options.backend;
    this.clusterTime = new ClusterTime({
      read: () => readNewestCheckpointTimes((k, e) => backend.range(k, e, { linearizable: false })),
      members: () => backend.memberList().filter((m) => !m.removed && m.name !== '').map((m) => m.name),
      clock: options.logOptions?.clock ?? realClock, intervalMs: options.logOptions?.checkpointIntervalMs ?? auditCheckpointIntervalMs,
      onError: () => {}, // the time last read stays; the next interval reads again
    });
    this.heldBackLog = new SampledLog({
      write: (fields, message) => options.log?.warn(fields, message), linesMax: 1, windowMs: auditClockAheadLogWindowMs,
      message: 'audit retention by age keeps files this member\'s clock says are past the age limit: the clock runs ahead of the cluster\'s time '
        + '(the lower median of the members\' newest audit checkpoints), or that time is unknown; check this member\'s clock (NTP)',
    });
  }

  /** Loads (or creates) the member's sealed audit key pair; the log itself opens with start(). */
  static async create(options: MemberAuditOptions): Promise<MemberAudit> {
    const keyPair = await loadOrCreateAuditKeyFile(options.dataDir, options.sealer, auditKeyStoreId(options.member));
    return new MemberAudit(options, keyPair);
  }

  get publicKey(): Uint8Array {
    return this.keyPair.publicKey;
  }

  /** Opens the log as soon as the HMAC key can be read, retrying (with backoff) until it opens or stop(). */
  start(): void {
    let delayMs = auditOpenRetryMs;
    const attempt = () => {
      this.timer = undefined;
      if (this.stopped || !this.options.backend.isServing()) return;
      this.opening = this.open().catch((error: Error) => {
        if (this.stopped || !this.options.backend.isServing()) return;
        if (!/leader|unavailable/i.test(error.message)) this.options.log?.warn({ reason: error.message }, 'the audit log cannot be opened yet; requests are refused (503) until it can');
        this.timer = realClock.setTimer(delayMs, attempt);
        delayMs = Math.min(delayMs * 2, auditOpenRetryMsMax);
      });
    };
    attempt();
  }

  /** Resolves once the log is open (tests and the member's start use it). */
  async opened(): Promise<void> {
    while (this.log === undefined && !this.stopped) {
      await (this.opening ?? Promise.resolve());
      if (this.log === undefined) await new Promise<void>((resolve) => { realClock.setTimer(auditOpenRetryMs, resolve); });
    }
  }

  private async open(): Promise<void> {
    const backend = this.options.backend;
    const hmacKey = await ensureAuditHmacKey(backend);
    try {
      // The cluster's time before the first rotation judges age by it; unknown (nothing goes by age) if it cannot be read.
      await this.clusterTime.refresh().catch(() => {});
      // The local copy: possibly a little behind the cluster, which only means fewer checkpoints checked at open.
      const replicated = await readReplicatedCheckpoints((k, e) => backend.range(k, e, { linearizable: false }), this.member);
      const log = await AuditLog.open({
        ...this.options.logOptions,
        events: this.events(),
        dir: this.dir, member: this.member, keyPair: this.keyPair, hmacKey, policy: this.options.policy, replicatedCheckpoints: replicated,
        // A log claiming entries beyond the WAL was edited: it opens broken and takes records from its last trusted line.
        entryMax: this.options.appliedRecords?.auditEntryMax(),
        clusterTimeMs: () => this.clusterTime.nowMs(),
        // Not awaited: a checkpoint is durable in the file already, and replication must not hold up the
        // log (or a member's shutdown) while there is no leader; the next checkpoint supersedes a lost one.
        onCheckpoint: (checkpoint) => {
          this.replicating = replicateCheckpoint(backend, checkpoint).catch((error: Error) => { this.replicationError = error.message; });
        },
      });
      if (this.stopped) {
        await log.close();
        hmacKey.fill(0);
        return;
      }
      this.log = log;
      this.hmacKey = hmacKey;
      this.clusterTime.start();
      // The records of entries applied while the log was closed (or before it opened) come first.
      this.options.appliedRecords?.attachAudit(log);
      const broken = log.status().brokenAtOpen;
      if (broken) this.options.log?.warn({ file: broken.file, seq: broken.seq, reason: broken.reason }, 'the audit log is broken; appending continues in a fresh segment');
    } catch (error) {
      hmacKey.fill(0);
      throw error;
    }
  }

  /** The log's events as log lines and counters. */
  private events(): AuditLogEvents {
    const { log, metrics } = this.options;
    return {
      sinkFailed: ({ reason }) => {
        metrics?.auditSinkFailed();
        log?.error({ reason }, 'the audit sink failed: every request the audit policy records is refused (503) until a record can be made durable again; the member retries on its own');
      },
      sinkRecovered: (outage) => {
        // Records of applied entries cut or refused during the outage: the replica hands them again.
        this.options.appliedRecords?.replayAudit();
        log?.info({
        file: outage.file, seq: outage.seq, failedAt: new Date(outage.failedAtMs).toISOString(), reason: outage.reason,
        recordsRefused: outage.recordsRefused, recordsCut: outage.recordsCut,
        }, 'the audit sink takes records again; the outage is recorded and signed in the audit chain');
      },
      youngHistoryDropped: (files, keptBytes) => {
        metrics?.auditYoungFilesDropped(files.length);
        log?.warn({
          files: files.map((f) => f.name), newestRecord: new Date(Math.max(...files.map((f) => f.newestMs))).toISOString(), keptBytes,
        }, 'audit retention deletes files holding records younger than the minimum retention: the audit log reached its size limit');
      },
      retentionDeleted: (files) => {
        for (const f of files) {
          log?.info({ file: f.name, newestRecord: new Date(f.newestMs).toISOString(), bytes: f.bytes, reason: f.reason },
            f.reason === 'age' ? 'audit retention deleted a file past the age limit' : 'audit retention deleted a file: the audit log reached its size limit');
        }
      },
      ageRetentionHeldBack: ({ files, localMs, clusterMs }) => {
        this.heldBackLog.line({
          files: files.map((f) => f.name), localTime: new Date(localMs).toISOString(), clusterTime: clusterMs === undefined ? 'unknown' : new Date(clusterMs).toISOString(),
        });
      },
      retentionAtRisk: (atRisk, { keptBytes, oldestMs }) => {
        if (atRisk) {
          log?.warn({ keptBytes, oldestFileNewestRecord: new Date(oldestMs).toISOString() },
            'audit history younger than the minimum retention is at risk: the audit log nears its size limit; raise the size limit or find what floods it');
        } else log?.info({ keptBytes }, 'audit history younger than the minimum retention is no longer at risk');
      },
    };
  }

  record(input: AuditEventInput, options: RecordOptions = {}): Promise<void> {
    const log = this.log;
    if (log === undefined) return Promise.resolve().then(() => this.refuseUnlessNone(input));
    return log.record(input, options).then(
      (written) => {
        if (written) this.options.metrics?.audit('written');
      },
      (error: unknown) => {
        this.options.metrics?.audit('failed');
        throw error;
      },
    );
  }

  /** The record of a write, to travel in its Raft entry (AuditLog.shape); throws while records are refused. */
  shape(input: AuditEventInput): string | undefined {
    const log = this.log;
    if (log === undefined) {
      this.refuseUnlessNone(input);
      return undefined;
    }
    try {
      const record = log.shape(input);
      if (record !== undefined) this.options.metrics?.audit('written');
      return record;
    } catch (error) {
      this.options.metrics?.audit('failed');
      throw error;
    }
  }

  /** Before the log is open: nothing to do for a request the policy does not record; a refusal for any other. */
  private refuseUnlessNone(input: AuditEventInput): void {
    if (evaluateAuditPolicy(this.options.policy, requestAttributesOf(input)).level === 'None') return;
    this.options.metrics?.audit('failed');
    throw new AuditUnavailableError(notOpenYet);
  }

  /** Why records are refused right now (readiness fails with it), or undefined while they are taken. */
  refusal(): string | undefined {
    if (this.stopped) return 'the audit log is closed';
    const log = this.log;
    if (log === undefined) return notOpenYet;
    return log.status().failure;
  }

  gauges(): MemberAuditGauges {
    const status = this.log?.status();
    return {
      refusing: this.refusal() !== undefined, retentionAtRisk: status?.retentionAtRisk ?? false, retainedBytes: status?.retainedBytes ?? 0,
      ageRetentionHeldBack: status?.ageRetentionHeldBack ?? false,
    };
  }

  /** Resolves when every record taken so far is durable (records the API did not wait for included). */
  flushed(): Promise<void> {
    return this.log?.flushed() ?? Promise.resolve();
  }

  /** Events of this member's log, newest first; every record taken before the query is in it. */
  async queryLocal(query: AuditQuery): Promise<AuditQueryResult> {
    // Completion records are taken without waiting for their fdatasync: let them reach the file.
    await this.flushed().catch(() => undefined);
    return queryAuditLog(this.dir, query);
  }

  async verifyLocal(): Promise<MemberAuditVerification> {
    const backend = this.options.backend;
    const replicated = await readReplicatedCheckpoints((k, e) => backend.range(k, e, { linearizable: false }), this.member);
    const result = await verifyAuditLog(this.dir, { publicKey: this.keyPair.publicKey, replicatedCheckpoints: replicated, member: this.member });
    const status = this.log?.status();
    const broken = status?.brokenAtOpen ?? status?.segmentRestartedAfter;
    return {
      ...result, member: this.member,
      ...(broken ? { brokenAtOpen: { file: broken.file, seq: broken.seq, reason: broken.reason } } : {}),
      ...(status?.failure !== undefined ? { failure: status.failure } : {}),
    };
  }

  /** Whether the log was found broken (at this open or an earlier one whose fresh segment it continues). */
  broken(): boolean {
    const status = this.log?.status();
    return status?.brokenAtOpen !== undefined || status?.segmentRestartedAfter !== undefined;
  }

  problems(): string[] {
    const status = this.log?.status();
    if (status === undefined) return this.stopped ? [] : ['audit: the log is not open yet; requests are refused'];
    const out: string[] = [];
    const broken = status.brokenAtOpen ?? status.segmentRestartedAfter;
    if (broken) out.push(`audit: log broken at ${broken.file} seq ${broken.seq}: ${broken.reason}`);
    if (status.failure !== undefined) out.push(`audit: records are refused: ${status.failure}`);
    return out;
  }

  async askMember(member: { name: string; clientUrl: string }, pathAndQuery: string): Promise<unknown> {
    // One connection, checked to be that member's certificate, closed once answered.
    const transport = new HttpsTransport({
      endpoints: [member.clientUrl], tls: this.options.tlsClientOptions(member.name),
      requestTimeoutMs: auditPeerRequestTimeoutMs, responseBytesMax: auditPeerResponseBytesMax,
    });
    try {
      return await transport.get(pathAndQuery);
    } catch (error) {
      throw new Error(`${member.name}: ${(error as Error).message}`, { cause: error });
    } finally {
      transport.close();
    }
  }

  /** Closes the log (a final checkpoint) and wipes the keys. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.opening?.catch(() => {});
    await this.clusterTime.stop();
    await this.log?.close();
    this.log = undefined;
    // The final checkpoint is worth replicating (it is what shows a later cut of the tail), but a
    // member without a leader must still stop: wait a bounded time.
    let timer: TimerHandle | undefined;
    await Promise.race([this.replicating, new Promise<void>((resolve) => { timer = realClock.setTimer(auditStopReplicationWaitMs, resolve); })]);
    timer?.cancel();
    this.hmacKey?.fill(0);
    wipeAuditKeyPair(this.keyPair);
  }
}

const notOpenYet = 'the audit log is not open yet (it needs the cluster\'s audit key, which needs a leader)';
