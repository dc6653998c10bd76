/**
 * One member of the replica host: the production Replica (with its Wal and MvccStore), Keyring,
 * MemberKeys and AuditLog, over a power-loss disk that outlives every incarnation. start() opens them
 * as `coffer server` does (keyring, replica, key rotation, then the audit key file and log); crash()
 * ends the incarnation at once — every operation and timer it has pending is dropped, so the crash
 * falls at whatever await it was in — and, for a power cut, the disk loses what was not durable.
 *
 * The KEK: a member holds its current key and, during a KEK rotation, the one before it; a restart
 * tries the current one first. Exactly one of them opens the keyring (the rotation's rename decides
 * which), so a keyring that opens with neither is a member that refuses to start.
 */
import {
  AuditLog, type AuditLogEvents, auditDirOf, auditKeySealedFile, auditKeyStoreId, loadOrCreateAuditKeyFile, type SignedCheckpoint,
} from '../../../src/audit/index.ts';
import type { Random } from '../../../src/base/index.ts';
import { type Keyring, keyContentKek, openKeyring, SealedError } from '../../../src/crypto/index.ts';
import type { DurableFs } from '../../../src/durable/index.ts';
import type { Config, Message } from '../../../src/raft/index.ts';
import { type MemberInfo, Replica, type ReplicaObserver } from '../../../src/replication/index.ts';
import { MemberKeys } from '../../../src/storage/barrier/index.ts';
import type { EventQueue } from '../event-queue.ts';
import {
  type FsMutation, type InjectedError, PowerLossDisk, PowerLossLevel, type PowerLossReport, SimFs,
} from '../../support/power-loss/index.ts';
import { randomBytesOf, seededAuditKeyPair, type SimAuditSettings, simAuditPolicy } from './audit.ts';
import { type ReplicaBugs, withFsBugs } from './bugs.ts';
import { SimClock } from './sim-clock.ts';

export const dataDirOf = (name: string): string => `/${name}/data`;

export interface MemberEnv {
  queue: EventQueue;
  random: Random;
  raft: Partial<Omit<Config, 'id' | 'applied'>>;
  tickMs: number;
  proposalTimeoutMs: number;
  compaction: { everyEntries: number; catchUpEntries: number };
  bugs: ReplicaBugs;
  audit: SimAuditSettings & { hmacKey: Uint8Array };
  /** The checkpoints the cluster holds for a member (its replicated store's copy). */
  auditCheckpoints(member: SimMember): SignedCheckpoint[];
  /** A durable checkpoint of this member's audit log, for the cluster to keep. */
  onAuditCheckpoint(member: SimMember, checkpoint: SignedCheckpoint): void;
  /** What the audit log of this incarnation tells its owner. */
  auditEvents(member: SimMember): AuditLogEvents;
  /** Hands a message to the network. */
  send(from: SimMember, incarnation: number, message: Message): void;
  /** A mutation of this member's disk is about to take effect, or just took effect. */
  onMutation(member: SimMember, op: FsMutation, path: string, phase: 'before' | 'after'): void;
  fault(member: SimMember, op: 'write' | 'datasync', path: string): InjectedError | undefined;
  /** The replica of this incarnation stopped on an error. */
  onFatal(member: SimMember, error: Error): void;
  /** An incarnation could not start (the error is the member's refusal). */
  onStartFailed(member: SimMember, error: Error): void;
  /** An incarnation started (keyring, replica, key rotation and audit log open). */
  onStarted(member: SimMember): void;
  /** A WAL re-seal began (true) or ended (false). */
  resealing(member: SimMember, running: boolean): void;
  observer(member: SimMember): ReplicaObserver;
  /** The member's key rotation logged something (`message` as MemberKeys logs it). */
  keysLog(member: SimMember, message: string, fields: object): void;
  trace(line: string): void;
}

export type MemberState = 'down' | 'starting' | 'up' | 'stopping' | 'stopped';

export class SimMember {
  readonly disk = new PowerLossDisk();
  state: MemberState = 'down';
  incarnation = 0;
  replica: Replica | undefined;
  keyring: Keyring | undefined;
  keys: MemberKeys | undefined;
  audit: AuditLog | undefined;
  /** The clock of the current incarnation (the audit records' times). */
  clock: SimClock | undefined;
  /** The audit public key, once the member opened its audit log. */
  auditPublicKey: Uint8Array | undefined;
  /** The KEK in use, then (during and after a KEK rotation) the one it replaced. */
  keks: Uint8Array[];
  private readonly clockRate: number;
  private readonly clockOffsetMs: number;
  private readonly auditKeySeed: Uint8Array;

  constructor(
    readonly id: number,
    readonly name: string,
    private readonly env: MemberEnv,
    /** For the initial members of a new cluster; a joining member starts without. */
    private readonly initialMembers: MemberInfo[] | undefined,
    skew: boolean,
  ) {
    this.keks = [randomBytesOf(env.random, 32)];
    this.clockRate = skew ? env.random.int(80, 120) / 100 : 1;
    // A plausible wall clock (the keyring records times), a few seconds apart from member to member.
    this.clockOffsetMs = Date.UTC(2025, 0, 1) + env.random.int(0, 10_000);
    this.auditKeySeed = randomBytesOf(env.random, 32);
  }

  get up(): boolean {
    return this.state === 'up';
  }

  /** Opens the keyring and the replica; a refusal to start is reported through env.onStartFailed. */
  async start(): Promise<void> {
    if (this.state === 'starting' || this.state === 'up' || this.state === 'stopped') return;
    const incarnation = ++this.incarnation;
    this.state = 'starting';
    const alive = (): boolean => this.incarnation === incarnation && (this.state === 'starting' || this.state === 'up' || this.state === 'stopping');
    const { env } = this;
    const fs = withFsBugs(new SimFs(this.disk, {
      after: (delayUs, run) => env.queue.after(delayUs, () => {
        if (alive()) run();
      }),
      alive,
      random: env.random,
      fault: (op, path) => env.fault(this, op, path),
      onMutation: (op, path, phase) => env.onMutation(this, op, path, phase),
    }), env.bugs, { queue: env.queue, random: env.random, alive });
    const clock = new SimClock(env.queue, this.clockRate, this.clockOffsetMs, alive);
    const dataDir = dataDirOf(this.name);
    try {
      const keyring = await this.openKeyring(fs, clock, dataDir);
      if (!alive()) return;
      this.keyring = keyring;
      const replica = await Replica.open({
        dataDir,
        awaitsAuditLog: true,
        memberId: this.id,
        memberName: this.name,
        sealer: keyring,
        clock,
        random: env.random,
        fs,
        openLevel: (dir) => new PowerLossLevel(fs, dir),
        send: (message) => env.send(this, incarnation, message),
        ...(this.initialMembers ? { initialMembers: this.initialMembers } : {}),
        raft: env.raft,
        tickMs: env.tickMs,
        proposalTimeoutMs: env.proposalTimeoutMs,
        compaction: env.compaction,
        onFatal: (error) => {
          if (alive()) env.onFatal(this, error);
        },
        observer: env.observer(this),
        unsafeTestingFaults: { confStateAheadOfStore: env.bugs.confStateAheadOfStore === true, auditRecordsNotReplayed: env.bugs.auditRecordsNotReplayed === true },
      });
      if (!alive()) return;
      this.replica = replica;
      this.keys = new MemberKeys({
        member: this.name, dataDir, keyring, store: () => replica.mvcc(), storeArriving: () => replica.installingSnapshot(), clock, fs, sealedFiles: [auditKeySealedFile(dataDir, keyring, this.name, fs)],
        resealWal: () => {
          env.resealing(this, true);
          return replica.resealWal().finally(() => {
            if (alive()) env.resealing(this, false);
          });
        },
        log: { info: (fields, message) => env.keysLog(this, message, fields), warn: (fields, message) => env.keysLog(this, message, fields) },
        // Small batches, so a crash lands between them.
        batchPagesMax: 8, pagesPerSecondMax: 2_000,
      });
      this.keys.start();
      const keyPair = await loadOrCreateAuditKeyFile(dataDir, keyring, auditKeyStoreId(this.name), {
        fs, generate: () => seededAuditKeyPair(this.auditKeySeed),
      });
      if (!alive()) return;
      const { hmacKey, ...settings } = env.audit;
      const audit = await AuditLog.open({
        // One clock for every simulated member: the cluster's time is the member's own.
        ...settings, dir: auditDirOf(dataDir), member: this.name, keyPair, hmacKey, policy: simAuditPolicy, clock, fs, clusterTimeMs: () => clock.nowMs(),
        replicatedCheckpoints: env.auditCheckpoints(this), entryMax: replica.auditEntryMax(),
        onCheckpoint: (checkpoint) => {
          if (alive()) env.onAuditCheckpoint(this, checkpoint);
        },
        events: this.auditEvents(),
      });
      if (!alive()) return;
      // As the member's wiring does (src/server/member-audit.ts): the replica hands the log the records of applied entries.
      replica.attachAudit(audit);
      this.audit = audit;
      this.auditPublicKey = keyPair.publicKey;
      this.clock = clock;
      this.state = 'up';
      env.onStarted(this);
      env.trace(`${this.name} started (incarnation ${incarnation}): applied ${replica.status().appliedIndex}, term ${replica.status().term}`);
    } catch (error) {
      if (!alive()) return;
      this.state = 'down';
      env.onStartFailed(this, error as Error);
    }
  }

  /** The host's audit events, and after an outage the records of applied entries handed again. */
  private auditEvents(): AuditLogEvents {
    const events = this.env.auditEvents(this);
    return {
      ...events,
      sinkRecovered: (outage) => {
        events.sinkRecovered?.(outage);
        this.replica?.replayAudit();
      },
    };
  }

  /**
   * A graceful stop, in the order of the server's teardown (src/server/member.ts): key work, the audit
   * log, the replica (its store writes the index checkpoint as it closes), the keyring. A close that
   * fails ends the stop as an error during the server's teardown does; the caller then ends the
   * process (crash). False if a crash landed in the middle.
   */
  async shutdown(): Promise<boolean> {
    if (this.state !== 'up') return false;
    const incarnation = this.incarnation;
    this.state = 'stopping';
    try {
      for (const part of [this.keys, this.audit, this.replica, this.keyring]) {
        await part?.close();
        if (this.incarnation !== incarnation) return false;
      }
    } catch (error) {
      if (this.incarnation !== incarnation) return false;
      this.env.trace(`${this.name} stop failed: ${(error as Error).message}`);
    }
    return true;
  }

  /** The process dies at once; with `power`, the disk also loses what was not durable. */
  crash(power: boolean): PowerLossReport | undefined {
    if (this.state === 'down' || this.state === 'stopped') return undefined;
    this.state = 'down';
    this.incarnation++;
    this.replica = undefined;
    this.keyring = undefined;
    this.keys = undefined;
    this.audit = undefined;
    this.clock = undefined;
    return power ? this.disk.powerLoss(this.env.random) : undefined;
  }

  /** Removed from the cluster: the process ends for good. */
  stop(): void {
    this.crash(false);
    this.state = 'stopped';
  }

  /** Rotates the KEK: the new key is tried first at the next start, the old one kept until it is not needed. */
  async rotateKek(): Promise<void> {
    const keys = this.keys;
    if (keys === undefined) return;
    const next = randomBytesOf(this.env.random, 32);
    this.keks = [next, this.keks[0]!];
    await keys.rotateKek({ unsealKey: next });
  }

  private async openKeyring(fs: DurableFs, clock: SimClock, dataDir: string): Promise<Keyring> {
    let sealed: Error | undefined;
    for (const [i, key] of this.keks.entries()) {
      try {
        const keyring = await openKeyring({ dir: dataDir, kek: keyContentKek(key, `${this.name} KEK ${i}`), fs, clock });
        // Whichever key opened the keyring is the only one it needs from now on.
        this.keks = [key];
        return keyring;
      } catch (error) {
        if (!(error instanceof SealedError)) throw error;
        sealed = error;
      }
    }
    throw sealed ?? new Error('no KEK to try');
  }
}
