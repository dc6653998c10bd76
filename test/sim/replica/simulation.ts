/**
 * One run of the replica host: the production members (Replica, Wal, MvccStore, Keyring, MemberKeys,
 * AuditLog) of a seeded cluster over simulated disks with power-loss semantics, the simulated network, clients,
 * and a nemesis, all on one event queue. Same seed, same options → same run.
 *
 * Asynchrony: production code awaits; here every await ends in the event queue (a file operation, a
 * timer, deferred work, a message), and after each event every promise job it caused runs before the
 * next event (EventQueue.runUntilSettled), so the order of everything is the seed's.
 *
 * Phases as in the model host: faults (the nemesis acts while clients run), healing (network healed,
 * disk faults cleared, every member restarted; a leader must commit a write within `livenessMsMax`),
 * serving, drain; then the members must converge and the checks run:
 * - every member starts after every crash (a refusal is a violation: nothing here corrupts a disk on
 *   purpose, so every refusal is a durability bug);
 * - no member stops on an error unless an I/O error was injected into its incarnation, and a member
 *   that got one never answers an operation issued after it (fail-stop);
 * - no acknowledged write lost: every acknowledged write is in the converged history;
 * - no member loses Raft entries it acknowledged (the core's assertion when a leader commits past a
 *   follower's log is reported as that, not as an exception);
 * - the client history is linearizable;
 * - after healing, every member holds the same store (equal HashKV at the same revision);
 * - every member's membership at its applied index is the cluster's membership at that index;
 * - every member's audit chain verifies (at every open, and with the production verifier at the end),
 *   and every operation a member answered has its audit record there (audit.ts).
 */
import type { AuditLogEvents } from '../../../src/audit/index.ts';
import { AssertionFailure, type Random, seededRandom } from '../../../src/base/index.ts';
import { sodiumReady } from '../../../src/crypto/index.ts';
import { type ConfState, type Message, raftConfigDefaults } from '../../../src/raft/index.ts';
import { type MemberInfo, type MembershipEvent, type ReplicaObserver, sameMembership } from '../../../src/replication/index.ts';
import { checkLinearizable, kvModel } from '../../support/linearizability/index.ts';
import { type ClientOp, historyOf } from '../clients.ts';
import { Counters } from '../counters.ts';
import { Violation } from '../invariants.ts';
import type { RunResult } from '../result.ts';
import { EventQueue } from '../event-queue.ts';
import { type NetworkParams, SimNetwork } from '../network.ts';
import { type FsMutation, type InjectedError, processOn } from '../../support/power-loss/index.ts';
import type { ReplicaBugs } from './bugs.ts';
import { keyBytes, ReplicaClient, simKeyRange } from './clients.ts';
import { type AuditedMember, checkAuditLogs, ReplicatedCheckpoints, simAuditHmacKey, simAuditSettings } from './audit.ts';
import { type Activity, activityOf, crashPoint, idleTasks, type MemberTasks, stepOf } from './crash-points.ts';
import { dataDirOf, type MemberEnv, SimMember } from './member.ts';
import { ReplicaNemesis } from './nemesis.ts';
import { usPerMs } from './sim-clock.ts';

/** The Raft core's assertion that a follower's log holds what the leader commits on it. */
const lostAcknowledgedEntries = /^invariant violated: commit \d+ is beyond last index \d+$/;

export interface ReplicaSimOptions {
  seed: number;
  nodes: number;
  bugs?: ReplicaBugs;
  /** Simulated milliseconds of the fault phase. */
  faultMs?: number;
  /** Simulated milliseconds clients keep going after the liveness probe committed. */
  healMs?: number;
  clients?: number;
  trace?: (line: string) => void;
}

export interface ReplicaSimResult extends RunResult {
  /** Simulated milliseconds from the end of the fault phase until a probe write committed. */
  livenessMs?: number;
  /** Crash points seen (every mutation's activity and step) and crash points a crash fell at. */
  stepsSeen: Set<string>;
  crashPoints: Set<string>;
}

const tickMs = 10;
const livenessMsMax = 6_000;
const convergeMsMax = 10_000;
/** The longest the end check waits for the live members' audit logs to flush what they took. */
const auditFlushMsMax = 1_000;
const linearizabilityStepsMax = 5_000_000;
/** A member that got an injected I/O error is taken down (and later restarted) this long after. */
const faultedRestartMs: [number, number] = [100, 800];

/** Per member, what the host knows beyond the member itself. */
interface MemberBook {
  tasks: MemberTasks;
  /**
   * The incarnation an I/O error was injected into, the client stamp at that moment, and whether it hit
   * a WAL segment or the store's log (after which the member must stop); an error in another file (a
   * temporary of a re-seal or a snapshot file) must only leave nothing half done.
   */
  faulted?: { incarnation: number; stamp: number; critical: boolean; failedSync: boolean };
  /** An armed crash: at the `remaining`-th mutation of `activity` (before or after it takes effect). */
  trigger?: { activity: Activity; remaining: number; phase: 'before' | 'after'; power: boolean };
  /** An armed disk fault: the next matching operation fails. */
  fault?: { op: 'write' | 'datasync'; area: DiskArea; error: InjectedError };
  lastStep?: string;
  /** Operations the member answered after their audit record was durable: audit ID → the record's time. */
  answered: Map<string, number>;
  /** Of those, the writes, each with the member's applied index when it answered (its entry is at or below). */
  answeredWrites: Map<string, number>;
  /**
   * The index of every snapshot delivered to the member (what may explain a gap record in its audit
   * log: its install may also complete at the next open, after a crash).
   */
  snapshotsReceivedAt: number[];
}

/** Where a disk fault can be injected: the WAL, the store, the audit log. */
export type DiskArea = 'wal' | 'mvcc' | 'audit';

export async function runReplicaSimulation(options: ReplicaSimOptions): Promise<ReplicaSimResult> {
  return new ReplicaSimulation(options).run();
}

export class ReplicaSimulation {
  readonly queue = new EventQueue();
  readonly random: Random;
  readonly counters = new Counters();
  readonly network: SimNetwork;
  readonly members = new Map<number, SimMember>();
  readonly books = new Map<SimMember, MemberBook>();
  readonly stepsSeen = new Set<string>();
  readonly crashPoints = new Set<string>();
  /** Values in the history of the client keys, read from a member before each compaction and at the end. */
  readonly appliedValues = new Set<string>();
  scannedRevision = 0;
  faultPhase = true;
  readonly initialSize: number;
  private violation: Violation | undefined;
  private readonly env: MemberEnv;
  private readonly ops: ClientOp[] = [];
  private readonly clients: ReplicaClient[] = [];
  private stamp = 0;
  private readonly clockSkew: boolean;
  /** The membership of the cluster after each conf change, by log index (first member to apply it wins). */
  private readonly memberships: { index: number; confState: ConfState }[] = [];
  private readonly auditCheckpoints = new ReplicatedCheckpoints();

  constructor(private readonly options: ReplicaSimOptions) {
    this.random = seededRandom(options.seed);
    this.initialSize = options.nodes;
    const r = this.random;
    this.clockSkew = r.chance(0.5);
    // Members talk over TCP links that never resend a frame (transport/peer-link.ts), so messages are
    // lost, delayed and reordered (across links and reconnections) but never duplicated: a duplicated
    // forwarded proposal would be a second log entry, which the model host's state machine tolerates
    // and the store, like etcd's, does not.
    const params: NetworkParams = {
      dropProbability: [0, 0.01, 0.05][r.int(0, 2)]!,
      duplicateProbability: 0,
      delayMin: 50,
      delayMax: [500, 2_000, 8_000][r.int(0, 2)]!,
      longDelayProbability: 0.01,
      longDelayMax: 100 * usPerMs,
    };
    this.network = new SimNetwork(this.queue, r, params, this.counters, (m) => this.deliver(m));
    const bugs = options.bugs ?? {};
    this.env = {
      queue: this.queue,
      random: r,
      raft: {
        ...raftConfigDefaults,
        electionTicks: 10,
        heartbeatTicks: 1,
        maxMsgBytes: [4096, 64 * 1024][r.int(0, 1)]!,
        maxInflightMsgs: r.int(1, 8),
        preVote: r.chance(0.75),
        checkQuorum: r.chance(0.75),
      },
      tickMs,
      proposalTimeoutMs: 1_500,
      compaction: { everyEntries: r.int(10, 60), catchUpEntries: r.int(0, 20) },
      bugs,
      audit: { ...simAuditSettings(r), hmacKey: simAuditHmacKey(r) },
      auditCheckpoints: (member) => this.auditCheckpoints.of(member.name),
      onAuditCheckpoint: (_member, checkpoint) => {
        this.counters.add('audit:checkpoints');
        this.auditCheckpoints.add(checkpoint);
      },
      auditEvents: (member) => this.auditEvents(member),
      send: (from, incarnation, m) => this.send(from, incarnation, m),
      onMutation: (member, op, path, phase) => this.onMutation(member, op, path, phase),
      fault: (member, op, path) => this.fault(member, op, path),
      onFatal: (member, error) => this.onFatal(member, error),
      onStartFailed: (member, error) => this.fail('member refused to start', `${member.name}: ${error.message}`),
      onStarted: (member) => this.onStarted(member),
      resealing: (member, running) => {
        this.book(member).tasks.walReseal = running;
      },
      observer: (member) => this.observer(member),
      keysLog: (member, message, fields) => {
        if (message.startsWith('DEK retired')) this.counters.add('keysRetired');
        this.trace(`${member.name}: ${message} ${JSON.stringify(fields)}`);
      },
      trace: (line) => this.trace(line),
    };
    this.trace(`run: seed ${options.seed}, ${options.nodes} nodes, raft ${JSON.stringify({ ...this.env.raft })}, network ${JSON.stringify(params)}, ` +
      `compaction ${JSON.stringify(this.env.compaction)}, clockSkew ${this.clockSkew}, audit ${JSON.stringify({ ...this.env.audit, hmacKey: undefined })}`);
    const initial: MemberInfo[] = Array.from({ length: options.nodes }, (_, i) => ({
      // The simulated network needs no URLs; the table holds them as a started member's (members.ts checkAllStarted).
      id: i + 1, name: `m${i + 1}`, peerUrl: `sim://m${i + 1}`, clientUrl: '', learner: false, removed: false,
    }));
    for (const info of initial) this.addMember(info.id, initial);
  }

  // ── The run ────────────────────────────────────────────────────────────────────────────────────

  async run(): Promise<ReplicaSimResult> {
    const result: ReplicaSimResult = {
      seed: this.options.seed, nodes: this.options.nodes, counters: this.counters, stepsSeen: this.stepsSeen, crashPoints: this.crashPoints,
    };
    try {
      // libsodium initialises once per process, in real time: before the simulated clock starts.
      await sodiumReady();
      for (const member of this.members.values()) void member.start();
      this.startClients();
      const nemesis = new ReplicaNemesis(this);
      const step = (): void => {
        if (!this.faultPhase) return;
        nemesis.act();
        this.queue.after(this.random.int(30, 300) * usPerMs, step);
      };
      this.queue.after(500 * usPerMs, step);
      const faultEnd = (this.options.faultMs ?? 4_000) * usPerMs;
      await this.runUntil(faultEnd);
      const livenessAt = await this.heal(faultEnd);
      result.livenessMs = (livenessAt - faultEnd) / usPerMs;
      await this.runUntil(livenessAt + (this.options.healMs ?? 1_500) * usPerMs);
      for (const c of this.clients) c.active = false;
      const drainEnd = this.queue.now + 4_000 * usPerMs;
      await this.runUntil(drainEnd, () => this.clients.every((c) => c.idle));
      await this.converge();
      await this.checkAudit();
      this.checkLinearizable();
    } catch (error) {
      const v = error instanceof Violation ? error : undefined;
      result.violation = v ? { kind: v.kind, message: v.message } : { kind: 'exception', message: (error as Error).stack ?? String(error) };
      this.trace(`VIOLATION ${result.violation.message}`);
      for (const m of this.members.values()) this.trace(`  ${this.describe(m)}`);
    }
    return result;
  }

  /** Runs events until `until` (or `stop`), stopping at the first violation. */
  async runUntil(until: number, stop: () => boolean = () => false): Promise<void> {
    await this.queue.runUntilSettled(until, () => this.violation !== undefined || stop());
    if (this.violation) throw this.violation;
  }

  fail(kind: string, detail: string): void {
    if (this.violation) return;
    this.violation = new Violation(kind, detail);
  }

  trace(line: string): void {
    this.options.trace?.(`[t=${(this.queue.now / usPerMs).toFixed(3)}ms] ${line}`);
  }

  // ── Members ────────────────────────────────────────────────────────────────────────────────────

  addMember(id: number, initial: MemberInfo[] | undefined): SimMember {
    const member = new SimMember(id, `m${id}`, this.env, initial, this.clockSkew);
    this.members.set(id, member);
    this.books.set(member, { tasks: idleTasks(), answered: new Map(), answeredWrites: new Map(), snapshotsReceivedAt: [] });
    return member;
  }

  book(member: SimMember): MemberBook {
    return this.books.get(member)!;
  }

  /** Members neither stopped nor removed. */
  live(): SimMember[] {
    return [...this.members.values()].filter((m) => m.state !== 'stopped');
  }

  up(): SimMember[] {
    return [...this.members.values()].filter((m) => m.up);
  }

  leader(): SimMember | undefined {
    let best: SimMember | undefined;
    let bestTerm = -1;
    for (const m of this.up()) {
      if (m.replica?.isServing() !== true) continue;
      const status = m.replica.status();
      if (status.role === 'leader' && status.term > bestTerm) {
        best = m;
        bestTerm = status.term;
      }
    }
    return best;
  }

  /** Marks `task` as running on `member` until `work` settles (or the incarnation ends). */
  whileRunning(member: SimMember, task: 'dekRotation' | 'kekRewrap', work: Promise<unknown>): void {
    const tasks = this.book(member).tasks;
    const incarnation = member.incarnation;
    tasks[task] = true;
    work.then(() => undefined, (error: Error) => this.trace(`${member.name}: ${task} failed: ${error.message}`)).finally(() => {
      if (member.incarnation === incarnation) tasks[task] = false;
    });
  }

  /** Marks a store compaction at `revision` as running on `member` until its physical deletion is done. */
  watchCompaction(member: SimMember, revision: number): void {
    const tasks = this.book(member).tasks;
    const incarnation = member.incarnation;
    tasks.mvccCompaction = true;
    const check = (): void => {
      const store = member.replica?.mvcc();
      if (member.incarnation !== incarnation || store === undefined) return;
      if (store.compactRevision() < revision) {
        this.queue.after(tickMs * usPerMs, check);
        return;
      }
      void store.whenCompacted().catch(() => undefined).finally(() => {
        if (member.incarnation === incarnation) tasks.mvccCompaction = false;
      });
    };
    check();
  }

  /**
   * A restarted member resumes an unfinished DEK rotation and an unfinished store compaction. Its audit
   * chain must have verified at open: nothing here corrupts a disk on purpose, so a break is a bug.
   */
  private onStarted(member: SimMember): void {
    const audit = member.audit?.status();
    if (audit?.brokenAtOpen !== undefined) {
      const { file, seq, reason } = audit.brokenAtOpen;
      this.fail('audit chain broken', `${member.name} found its audit chain broken at open: ${file} seq ${seq}: ${reason}`);
    }
    if ((audit?.tornTailBytesRemoved ?? 0) > 0) this.counters.add('audit:tornTailsCut');
    const keys = member.keys;
    if (keys !== undefined && (member.keyring?.status().deks.length ?? 0) > 1) this.whileRunning(member, 'dekRotation', keys.whenReencrypted());
    const store = member.replica?.mvcc();
    if (store?.openedFrom().from === 'checkpoint') this.counters.add('store:openedFromCheckpoint');
    if (store !== undefined && store.compactRevision() > 0) this.watchCompaction(member, store.compactRevision());
  }

  /**
   * Crashes a member; a power cut also loses what its disk had not made durable. An incarnation whose
   * fdatasync failed always ends in a power cut (the operator power-cycles it, docs/reliability.md): its
   * page cache holds data that never reached the disk, which a mere restart would read and trust.
   */
  crash(member: SimMember, requestedPower: boolean, why: string): void {
    const book = this.book(member);
    const power = requestedPower || this.fdatasyncFailed(member);
    const point = book.lastStep;
    const report = member.crash(power);
    book.trigger = undefined;
    book.tasks = idleTasks();
    this.counters.add(power ? 'crashes:power' : 'crashes:process');
    if (point !== undefined) this.crashPoints.add(point);
    if (report) {
      this.counters.add('disk:fileOpsLost', report.fileOpsLost);
      this.counters.add('disk:writesTorn', report.writesTorn);
      this.counters.add('disk:filesReordered', report.filesReordered);
      this.counters.add('disk:dirOpsLost', report.dirOpsLost);
    }
    this.trace(`${member.name} ${power ? 'power cut' : 'killed'} (${why}) at ${point ?? 'start'}` +
      (report ? `: lost ${report.fileOpsLost} file ops (${report.writesTorn} torn, ${report.filesReordered} reordered), ${report.dirOpsLost} dir ops` : ''));
  }

  private fdatasyncFailed(member: SimMember): boolean {
    const faulted = this.book(member).faulted;
    return faulted?.failedSync === true && faulted.incarnation === member.incarnation;
  }

  /**
   * Stops a member gracefully (SimMember.shutdown); a crash may be armed for the stop's disk steps.
   * Then its process ends, and, as after any crash, an incarnation whose fdatasync failed is
   * power-cycled. It is down once the stop ends.
   */
  async stopGracefully(member: SimMember): Promise<void> {
    if (member.state !== 'up') return;
    const book = this.book(member);
    book.tasks.shutdown = true;
    if (!(await member.shutdown())) return; // crashed meanwhile: crash() reset the book
    const power = this.fdatasyncFailed(member);
    const report = member.crash(power);
    book.trigger = undefined;
    book.tasks = idleTasks();
    this.trace(`${member.name} stopped gracefully after ${book.lastStep ?? 'start'}` +
      (power ? `, then power-cycled (its fdatasync had failed): lost ${report?.fileOpsLost ?? 0} file ops` : ''));
  }

  /** Restarts a down member; the start itself takes simulated time and may be crashed too. */
  restart(member: SimMember): void {
    if (member.state !== 'down') return;
    void member.start();
  }

  private onMutation(member: SimMember, op: FsMutation, path: string, phase: 'before' | 'after'): void {
    const book = this.book(member);
    const step = stepOf(dataDirOf(member.name), op, path);
    const activity = activityOf(step, book.tasks);
    const point = crashPoint(activity, step);
    if (phase === 'before') this.stepsSeen.add(point);
    else {
      book.lastStep = point;
      this.noteAuditStep(member, book, op, step);
    }
    // A snapshot install cannot be started on purpose: arm a crash in half of those that begin.
    if (phase === 'before' && step === 'rm mvcc.incoming' && this.faultPhase && book.trigger === undefined && this.random.chance(0.5)) {
      book.trigger = { activity: 'snapshotInstall', remaining: this.random.int(1, 24), phase: this.random.chance(0.5) ? 'before' : 'after', power: this.random.chance(0.7) };
    }
    const trigger = book.trigger;
    if (trigger === undefined || trigger.activity !== activity || trigger.phase !== phase) return;
    if (--trigger.remaining > 0) return;
    this.counters.add(`fault:crashDuring:${activity}`);
    this.crash(member, trigger.power, `armed for ${activity}`);
    this.crashPoints.add(point);
    this.queue.after(this.random.int(50, 600) * usPerMs, () => this.restart(member));
  }

  /** Follows the audit log's rotations through its disk steps (crash points), and counts them. */
  private noteAuditStep(member: SimMember, book: MemberBook, op: FsMutation, step: string): void {
    if (!step.endsWith(' audit/audit-*.log')) return;
    if (op === 'create') {
      this.counters.add('audit:filesCreated');
      if (!book.tasks.auditRecovery) book.tasks.auditRotation = true;
    }
    if (op === 'datasync') book.tasks.auditRotation = false;
    if (op === 'rm' && !book.tasks.auditRecovery) this.counters.add('audit:filesRemovedByRetention');
  }

  /** The audit log's failures and recoveries: the member refuses requests in between. */
  private auditEvents(member: SimMember): AuditLogEvents {
    const incarnation = member.incarnation;
    const tasks = (): MemberTasks | undefined => (member.incarnation === incarnation ? this.book(member).tasks : undefined);
    return {
      sinkFailed: ({ reason }) => {
        this.counters.add('audit:sinkFailed');
        const t = tasks();
        if (t !== undefined) t.auditRecovery = true;
        this.trace(`${member.name}: audit sink failed, refusing requests: ${reason}`);
      },
      sinkRecovered: ({ file, seq, recordsCut, recordsRefused }) => {
        this.counters.add('audit:sinkRecovered');
        const t = tasks();
        if (t !== undefined) t.auditRecovery = false;
        this.trace(`${member.name}: audit sink takes records again (${file} seq ${seq}; ${recordsCut} cut, ${recordsRefused} refused)`);
      },
    };
  }

  private fault(member: SimMember, op: 'write' | 'datasync', path: string): InjectedError | undefined {
    const book = this.book(member);
    const armed = book.fault;
    if (armed === undefined || armed.op !== op) return undefined;
    const area = path.slice(dataDirOf(member.name).length + 1).split('/')[0];
    if (area !== armed.area) return undefined;
    book.fault = undefined;
    const critical = /\/wal\/wal-[^/]*\.log$|\/mvcc[^/]*\/LOG$/.test(path);
    // The audit log fails closed and takes records again on its own: half the time nobody restarts it.
    const supervised = armed.area !== 'audit' || this.random.chance(0.5);
    book.faulted = { incarnation: member.incarnation, stamp: ++this.stamp, critical, failedSync: armed.error === 'EIO' && op === 'datasync' };
    this.counters.add(`diskErrors:${armed.error}`);
    this.counters.add(`fault:${armed.error}:${armed.area}:${op}`);
    this.trace(`${member.name}: injected ${armed.error} on ${op} of ${path}`);
    // The operator (a supervisor) takes the member down and brings it back once the disk is back; a
    // failed fdatasync may have lost data the process still sees, so that restart is after a power cut.
    const incarnation = member.incarnation;
    const power = armed.error === 'EIO' && op === 'datasync' ? true : this.random.chance(0.5);
    this.queue.after(this.random.int(...faultedRestartMs) * usPerMs, () => {
      if (member.incarnation !== incarnation || !supervised) return;
      this.crash(member, power, `after ${armed.error}`);
      this.queue.after(this.random.int(100, 800) * usPerMs, () => this.restart(member));
    });
    return armed.error;
  }

  private onFatal(member: SimMember, error: Error): void {
    const faulted = this.book(member).faulted;
    if (faulted?.incarnation === member.incarnation) {
      this.counters.add('failStops');
      this.trace(`${member.name} stopped after an injected I/O error: ${error.message}`);
      return;
    }
    this.fail('member stopped on an error', `${member.name}: ${error.stack ?? error.message}`);
  }

  private observer(member: SimMember): ReplicaObserver {
    return {
      membership: (event) => {
        if (event.cause === 'snapshot') this.counters.add('snapshotsInstalled');
        this.onMembership(member, event);
      },
    };
  }

  /**
   * Every member's membership as of its applied index must be the cluster's as of that index. The first
   * member to apply a conf change says what the membership after it is; at every other report (the
   * same change applied elsewhere, a restart, a snapshot installed) the member must agree.
   */
  private onMembership(member: SimMember, event: MembershipEvent): void {
    const { index, confState, cause } = event;
    const at = this.memberships.findIndex((m) => m.index >= index);
    if (cause === 'confChange' && (at === -1 || this.memberships[at]!.index !== index)) {
      const before = this.memberships.at(-1)?.confState;
      this.memberships.splice(at === -1 ? this.memberships.length : at, 0, { index, confState: structuredClone(confState) });
      if (at === -1 && before !== undefined) this.stopRemoved(before, confState);
      return;
    }
    const known = this.membershipAt(index);
    const expected = known?.confState ?? { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
    if (!sameMembership(expected, confState)) {
      this.fail('membership diverged', `${member.name} (${cause}) at index ${index} has voters ${confState.voters.join(',')} learners ${confState.learners.join(',')}; ` +
        `the cluster had voters ${expected.voters.join(',')} learners ${expected.learners.join(',')} (since index ${known?.index ?? 0})`);
    }
  }

  /**
   * A member the latest conf change took out was removed: it shuts down, as etcd's members do (the
   * call that removed it may never have answered, so the membership decides).
   */
  private stopRemoved(before: ConfState, after: ConfState): void {
    const kept = new Set([...after.voters, ...after.learners]);
    for (const id of [...before.voters, ...before.learners]) {
      const m = this.members.get(id);
      if (m === undefined || kept.has(id) || m.state === 'stopped') continue;
      this.trace(`membership: ${m.name} is no longer a member; it stops`);
      this.queue.after(0, () => m.stop());
    }
  }

  private membershipAt(index: number): { index: number; confState: ConfState } | undefined {
    let found: { index: number; confState: ConfState } | undefined;
    for (const m of this.memberships) {
      if (m.index <= index) found = m;
      else break;
    }
    return found;
  }

  // ── Network ────────────────────────────────────────────────────────────────────────────────────

  private send(from: SimMember, incarnation: number, m: Message): void {
    this.network.send(m, (outcome) => {
      if (from.incarnation !== incarnation || !from.up) return;
      if (outcome === 'cut' || (outcome === 'dropped' && m.type === 'snap')) from.replica?.reportUnreachable(m.to, m);
    });
  }

  private deliver(m: Message): void {
    const to = this.members.get(m.to);
    if (!to?.up) return;
    if (m.type === 'snap' && m.snapshot !== undefined) this.book(to).snapshotsReceivedAt.push(m.snapshot.metadata.index);
    try {
      to.replica?.receive(m);
    } catch (error) {
      // The Raft core's check that a leader never commits past a follower's log (etcd: "tocommit is
      // out of range ... Was the raft log corrupted, truncated, or lost?"): the follower lost entries
      // it had acknowledged. Any other exception is a bug the run reports as such.
      if (!(error instanceof AssertionFailure) || !lostAcknowledgedEntries.test(error.message)) throw error;
      this.fail('acknowledged entries lost', `${to.name}: ${error.message} (from m${m.from}'s ${m.type})`);
    }
  }

  // ── Clients and history ────────────────────────────────────────────────────────────────────────

  private startClients(): void {
    const count = this.options.clients ?? 4;
    for (let i = 1; i <= count; i++) {
      const client = new ReplicaClient(i, {
        queue: this.queue,
        random: this.random,
        counters: this.counters,
        stamp: () => ++this.stamp,
        targets: () => this.up(),
        timeoutUs: 2_500 * usPerMs,
        thinkUs: [0, 30 * usPerMs],
        onAudited: (member, auditID, atMs, write) => {
          this.book(member).answered.set(auditID, atMs);
          if (write) this.book(member).answeredWrites.set(auditID, member.replica?.status().appliedIndex ?? Number.MAX_SAFE_INTEGER);
          this.counters.add('audit:answeredAfterRecord');
        },
        onAnswer: (member, incarnation, op) => {
          const faulted = this.book(member).faulted;
          if (faulted?.critical === true && faulted.incarnation === incarnation && op.op.call > faulted.stamp) {
            this.fail('answered after an I/O error', `${member.name} answered ${kvModel.describe?.(op.op) ?? op.opId} after an injected I/O error`);
          }
        },
      }, this.ops);
      this.clients.push(client);
      client.start();
    }
  }

  /** Reads the values written at revisions (scannedRevision, upTo] from `member`'s store. */
  async scanHistory(member: SimMember, upTo: number): Promise<void> {
    const store = member.replica?.mvcc();
    if (store === undefined) return;
    for (let revision = Math.max(this.scannedRevision + 1, store.compactRevision() + 1); revision <= upTo; revision++) {
      const { kvs } = await store.range(simKeyRange.key, simKeyRange.end, { revision });
      for (const kv of kvs) if (kv.modRevision === revision) this.appliedValues.add(new TextDecoder().decode(kv.value));
    }
    this.scannedRevision = Math.max(this.scannedRevision, upTo);
  }

  // ── Healing and the end checks ─────────────────────────────────────────────────────────────────

  /** Heals everything and waits for a leader to commit a write; returns when it did. */
  private async heal(faultEnd: number): Promise<number> {
    this.faultPhase = false;
    this.network.heal();
    this.network.lossy = false;
    for (const m of this.live()) {
      const book = this.book(m);
      book.trigger = undefined;
      book.fault = undefined;
      this.restart(m);
    }
    this.trace('healing: network healed, disk faults cleared, members restarted');
    let committedAt: number | undefined;
    /**
     * The member and incarnation the pending probe went to. A process that dies never settles its
     * proposals (a crash is not a rejection), so a probe whose incarnation ended is given up: once,
     * a leader power-cycled right after healing kept the only probe pending for good (seed 331).
     */
    let probing: { member: SimMember; incarnation: number } | undefined;
    let probes = 0;
    const probe = (): void => {
      if (committedAt !== undefined) return;
      if (probing !== undefined && probing.member.incarnation !== probing.incarnation) probing = undefined;
      const leader = this.leader();
      if (leader?.replica && probing === undefined) {
        const sent = { member: leader, incarnation: leader.incarnation };
        probing = sent;
        leader.replica.propose({ type: 'put', key: keyBytes('probe'), value: new TextEncoder().encode(`probe${++probes}`) }).then(
          () => {
            committedAt ??= this.queue.now;
          },
          () => {
            if (probing === sent) probing = undefined;
          },
        );
      }
      this.queue.after(tickMs * usPerMs, probe);
    };
    probe();
    await this.runUntil(faultEnd + livenessMsMax * usPerMs, () => committedAt !== undefined);
    if (committedAt === undefined) throw new Violation('liveness', `no leader committed a write within ${livenessMsMax} ms of healing`);
    return committedAt;
  }

  /** Waits until every live member applied the same index, then compares their stores and histories. */
  private async converge(): Promise<void> {
    const live = this.live();
    const deadline = this.queue.now + convergeMsMax * usPerMs;
    const converged = (): boolean => {
      if (!live.every((m) => m.up)) return false;
      const statuses = live.map((m) => m.replica!.status());
      const applied = statuses[0]!.appliedIndex;
      return statuses.every((s) => s.appliedIndex === applied && s.commitIndex === applied && s.revision === statuses[0]!.revision);
    };
    await this.runUntil(deadline, converged);
    if (!converged()) {
      throw new Violation('no convergence', `members did not reach the same applied index within ${convergeMsMax} ms: ` +
        live.map((m) => this.describe(m)).join('; '));
    }
    const revision = live[0]!.replica!.status().revision;
    const hashes = new Map<string, string[]>();
    for (const m of live) {
      const { hash } = await m.replica!.mvcc().hash(revision);
      hashes.set(hash, [...(hashes.get(hash) ?? []), m.name]);
    }
    if (hashes.size > 1) {
      throw new Violation('stores differ', `HashKV at revision ${revision}: ${[...hashes].map(([h, names]) => `${names.join(',')}=${h.slice(0, 12)}`).join(' ')}`);
    }
    this.counters.add('hashChecks', live.length);
    await this.scanHistory(live[0]!, revision);
    for (const o of this.ops) {
      const input = o.op.input;
      if (o.status !== 'done' || input.kind === 'read') continue;
      const took = input.kind === 'write' || (o.op.output?.kind === 'cas' && o.op.output.ok);
      if (took && !this.appliedValues.has(input.value)) {
        throw new Violation('acknowledged write lost', `${kvModel.describe?.(o.op) ?? o.opId} was acknowledged but is not in the history`);
      }
    }
  }

  /** Every member that ever opened its audit log: the chain verifies and holds every answered operation. */
  private async checkAudit(): Promise<void> {
    // The records of applied writes are appended without waiting for their fdatasync (their entries in
    // the WAL keep them meanwhile): let every live log reach its files, as a query does.
    let flushing = 0;
    for (const m of this.live()) {
      if (m.audit === undefined) continue;
      flushing++;
      void m.audit.flushed().catch(() => undefined).finally(() => flushing--);
    }
    await this.runUntil(this.queue.now + auditFlushMsMax * usPerMs, () => flushing === 0);
    const audited: AuditedMember[] = [];
    for (const m of this.members.values()) {
      if (m.auditPublicKey === undefined) continue;
      audited.push({ name: m.name, dataDir: dataDirOf(m.name), publicKey: m.auditPublicKey, fs: processOn(m.disk).fs, answered: this.book(m).answered,
        answeredWrites: this.book(m).answeredWrites, endedForGood: m.state === 'stopped',
        snapshotsReceivedAt: this.book(m).snapshotsReceivedAt });
    }
    const converged = new Set(this.live().filter((m) => m.audit !== undefined).map((m) => m.name));
    const { events, agedOut, writeRecordsChecked } = await checkAuditLogs(audited, this.auditCheckpoints, converged);
    this.counters.add('audit:writeRecordsChecked', writeRecordsChecked);
    this.counters.add('audit:chainsVerified', audited.length);
    this.counters.add('audit:eventsVerified', events);
    this.counters.add('audit:answeredAgedOut', agedOut);
  }

  private checkLinearizable(): void {
    const applied = new Set([...this.appliedValues].map((v) => ReplicaClient.opIdOf(v)));
    const history = historyOf(this.ops, applied);
    this.counters.add('historyOps', history.length);
    const result = checkLinearizable(kvModel, history, { stepsMax: linearizabilityStepsMax });
    this.counters.add('linearizabilitySteps', result.steps);
    if (result.verdict === 'unknown') this.counters.add('linearizabilityUnknown');
    if (result.verdict === 'illegal') {
      const f = result.failure;
      const via = new Map(this.ops.map((o) => [o.op, o.via ?? '']));
      const ops = f ? f.ops.map((o) => `${kvModel.describe?.(o) ?? ''} via ${via.get(o) ?? '?'}`).join('\n    ') : '';
      throw new Violation('linearizability', `history of key ${f?.ops[0]?.input.key ?? '?'} is not linearizable\n  operations:\n    ${ops}`);
    }
  }

  describe(m: SimMember): string {
    const s = m.replica?.status();
    if (s === undefined) return `${m.name}: ${m.state} (incarnation ${m.incarnation})`;
    return `${m.name}: ${m.state} ${s.role} term ${s.term} leader ${s.leader} commit ${s.commitIndex} applied ${s.appliedIndex} ` +
      `revision ${s.revision} snapshot ${s.snapshotIndex} raft ${s.raftIndex}${s.removed ? ' removed' : ''}`;
  }
}
