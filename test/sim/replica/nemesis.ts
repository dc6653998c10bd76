/**
 * The replica host's nemesis. At random intervals during the fault phase it: cuts a member's power or
 * kills its process (any member, or the leader) at whatever await it is in; stops a member gracefully
 * (a crash armed for the stop's disk steps half the time); restarts down members;
 * partitions the network (halves, the leader alone, one way, a bridge) and heals it; changes the
 * membership through the leader's Replica (add a learner, which a new member then joins as; promote;
 * remove); moves leadership; rotates a member's DEK (re-encryption, WAL re-seal and retirement follow)
 * or its KEK; compacts the store; injects ENOSPC or EIO into the next write or fdatasync of a
 * member's WAL, store or audit log; and arms a crash at the k-th step of an activity of one member (a
 * snapshot install, a DEK rotation, a KEK rotation, a WAL re-seal, a WAL or store compaction, an audit
 * append, rotation, retention deletion or recovery from a failed audit sink). Every action is counted
 * under `fault:<name>`.
 */
import type { SimMember } from './member.ts';
import type { Activity } from './crash-points.ts';
import { usPerMs } from './sim-clock.ts';
import type { DiskArea, ReplicaSimulation } from './simulation.ts';

type Action = 'powerCut' | 'kill' | 'crashLeader' | 'stop' | 'restart' | 'partition' | 'isolateLeader' | 'partitionOneWay' | 'partitionBridge' | 'heal'
  | 'membership' | 'transferLeader' | 'rotateDek' | 'rotateKek' | 'compact' | 'diskFault' | 'crashDuring' | 'crashDuringAudit';

const weights: [Action, number][] = [
  ['powerCut', 2], ['kill', 1], ['crashLeader', 2], ['stop', 2], ['restart', 4],
  ['partition', 1], ['isolateLeader', 1], ['partitionOneWay', 1], ['partitionBridge', 1], ['heal', 2],
  ['membership', 3], ['transferLeader', 1],
  ['rotateDek', 2], ['rotateKek', 1], ['compact', 2], ['diskFault', 1], ['crashDuring', 4], ['crashDuringAudit', 2],
];

/** Activities a crash can be armed for, with how many disk mutations one of them takes, roughly. */
const armedActivities: [Activity, number][] = [
  ['snapshotInstall', 24], ['dekRotation', 30], ['kekRewrap', 5], ['walReseal', 14], ['walCompaction', 10], ['mvccCompaction', 3],
];
const armedAuditActivities: [Activity, number][] = [['auditAppend', 20], ['auditRotation', 4], ['auditRetention', 2], ['auditRecovery', 6]];
const diskAreas: DiskArea[] = ['wal', 'mvcc', 'audit'];

export class ReplicaNemesis {
  constructor(private readonly sim: ReplicaSimulation) {}

  act(): void {
    const { random } = this.sim;
    const total = weights.reduce((s, [, w]) => s + w, 0);
    let roll = random.int(1, total);
    for (const [action, weight] of weights) {
      roll -= weight;
      if (roll <= 0) {
        this[action]();
        return;
      }
    }
  }

  private pick<T>(xs: readonly T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[this.sim.random.int(0, xs.length - 1)];
  }

  private fired(name: string, detail: string): void {
    this.sim.counters.add(`fault:${name}`);
    this.sim.trace(`nemesis ${name} ${detail}`);
  }

  /** Crashed members come back after a while (the restart action also brings them back earlier). */
  private crashAndLater(member: SimMember, power: boolean, why: string): void {
    this.sim.crash(member, power, why);
    this.sim.queue.after(this.sim.random.int(100, 2_000) * usPerMs, () => {
      if (this.sim.faultPhase) this.sim.restart(member);
    });
  }

  private powerCut(): void {
    this.crashAny(true);
  }

  private kill(): void {
    this.crashAny(false);
  }

  private crashAny(power: boolean): void {
    const victim = this.pick(this.sim.live().filter((m) => m.state === 'up' || m.state === 'starting' || m.state === 'stopping'));
    if (!victim) return;
    this.fired(power ? 'powerCut' : 'kill', victim.name);
    this.crashAndLater(victim, power, 'nemesis');
  }

  private crashLeader(): void {
    const leader = this.sim.leader();
    if (!leader) return;
    const power = this.sim.random.chance(0.5);
    this.fired('crashLeader', `${leader.name} (${power ? 'power cut' : 'killed'})`);
    this.crashAndLater(leader, power, 'nemesis, leader');
  }

  /** A graceful stop (a rolling restart's), with a crash armed for its disk steps half the time; the member comes back later. */
  private stop(): void {
    const member = this.pick(this.sim.up());
    if (!member) return;
    const { random } = this.sim;
    const book = this.sim.book(member);
    if (book.trigger === undefined && random.chance(0.5)) {
      book.trigger = { activity: 'shutdown', remaining: random.int(1, 4), phase: random.chance(0.5) ? 'before' : 'after', power: random.chance(0.7) };
    }
    this.fired('stop', `${member.name}${book.trigger?.activity === 'shutdown' ? `, a crash armed at step ${book.trigger.remaining}` : ''}`);
    // Back after a while; a stop that ends after the fault phase missed the healing restarts: at once.
    void this.sim.stopGracefully(member).then(() => {
      if (!this.sim.faultPhase) this.sim.restart(member);
      else this.sim.queue.after(random.int(100, 2_000) * usPerMs, () => this.sim.restart(member));
    });
  }

  private restart(): void {
    const member = this.pick(this.sim.live().filter((m) => m.state === 'down'));
    if (!member) return;
    this.fired('restart', member.name);
    this.sim.restart(member);
  }

  private ids(): number[] {
    const ids = this.sim.live().map((m) => m.id);
    for (let i = ids.length - 1; i > 0; i--) {
      const j = this.sim.random.int(0, i);
      [ids[i], ids[j]] = [ids[j]!, ids[i]!];
    }
    return ids;
  }

  private partition(): void {
    const ids = this.ids();
    const cut = this.sim.random.int(1, Math.max(1, ids.length - 1));
    const [a, b] = [ids.slice(0, cut), ids.slice(cut)];
    this.sim.network.heal();
    this.sim.network.partition(a, b);
    this.fired('partition', `${a.join(',')} | ${b.join(',')}`);
  }

  private isolateLeader(): void {
    const leader = this.sim.leader();
    if (!leader) return;
    const rest = this.sim.live().map((m) => m.id).filter((id) => id !== leader.id);
    this.sim.network.heal();
    this.sim.network.partition([leader.id], rest);
    this.fired('isolateLeader', `${leader.id} | ${rest.join(',')}`);
  }

  private partitionOneWay(): void {
    const ids = this.ids();
    const cut = this.sim.random.int(1, Math.max(1, ids.length - 1));
    const [a, b] = [ids.slice(0, cut), ids.slice(cut)];
    this.sim.network.heal();
    this.sim.network.cutOneWay(a, b);
    this.fired('partitionOneWay', `${a.join(',')} -/-> ${b.join(',')}`);
  }

  private partitionBridge(): void {
    const ids = this.ids();
    if (ids.length < 3) return;
    const [bridge, ...rest] = ids as [number, ...number[]];
    const cut = this.sim.random.int(1, rest.length - 1);
    this.sim.network.heal();
    this.sim.network.bridge(rest.slice(0, cut), rest.slice(cut), bridge);
    this.fired('partitionBridge', `${rest.slice(0, cut).join(',')} | ${rest.slice(cut).join(',')} bridged by ${bridge}`);
  }

  private heal(): void {
    if (!this.sim.network.partitioned) return;
    this.sim.network.heal();
    this.fired('heal', '');
  }

  /** Oscillates between the initial size and one more voter: add a learner, promote it, remove a voter. */
  private membership(): void {
    const { sim } = this;
    const leader = sim.leader();
    const replica = leader?.replica;
    if (!leader || !replica) return;
    const table = replica.memberList().filter((m) => !m.removed);
    const failed = (what: string) => (error: Error) => sim.trace(`membership: ${what} failed: ${error.message}`);
    const learner = this.pick(table.filter((m) => m.learner));
    if (learner !== undefined && sim.random.chance(0.8)) {
      this.fired('promote', `${learner.name} via ${leader.name}`);
      replica.promoteMember(learner.id).then((info) => sim.trace(`membership: promoted ${info.name}`), failed('promote'));
      return;
    }
    const voters = table.filter((m) => !m.learner);
    const victim = learner ?? (voters.length > sim.initialSize ? this.pick(voters) : undefined);
    if (victim !== undefined) {
      this.fired('removeNode', `${victim.learner ? 'learner' : 'voter'} ${victim.name} via ${leader.name}`);
      replica.removeMember(victim.id).then((info) => sim.trace(`membership: removed ${info.name}`), failed('remove'));
      return;
    }
    const name = `m${Math.max(...table.map((m) => m.id), ...sim.members.keys()) + 1}`;
    this.fired('addLearner', `${name} via ${leader.name}`);
    replica.addMember({ name, peerUrl: `sim://${name}`, clientUrl: '', learner: true }).then((info) => {
      sim.trace(`membership: added learner ${info.name} (${info.id})`);
      if (!sim.members.has(info.id)) void sim.addMember(info.id, undefined).start();
    }, failed('add'));
  }

  private transferLeader(): void {
    const leader = this.sim.leader();
    const replica = leader?.replica;
    if (!leader || !replica) return;
    const to = this.pick(replica.memberList().filter((m) => !m.removed && !m.learner && m.id !== leader.id));
    if (to === undefined) return;
    this.fired('transferLeader', `${leader.name} → ${to.name}`);
    try {
      replica.transferLeadership(to.id);
    } catch (error) {
      this.sim.trace(`transfer failed: ${(error as Error).message}`);
    }
  }

  private rotateDek(on?: SimMember): void {
    const member = on ?? this.pick(this.sim.up());
    const keys = member?.keys;
    if (!member?.up || !keys || this.sim.book(member).tasks.dekRotation) return;
    this.fired('rotateDek', member.name);
    this.sim.whileRunning(member, 'dekRotation', keys.rotateDek().then(() => keys.whenReencrypted()));
  }

  private rotateKek(on?: SimMember): void {
    const member = on ?? this.pick(this.sim.up());
    if (!member?.up || !member.keys || this.sim.book(member).tasks.kekRewrap) return;
    this.fired('rotateKek', member.name);
    this.sim.whileRunning(member, 'kekRewrap', member.rotateKek());
  }

  /** Compacts the store a little behind the leader's revision, after reading the history it drops. */
  private compact(): void {
    const leader = this.sim.leader();
    const store = leader?.replica?.mvcc();
    if (!leader?.replica || !store) return;
    const revision = store.currentRevision() - this.sim.random.int(0, 20);
    if (revision <= store.compactRevision() + 1) return;
    this.fired('compact', `at revision ${revision} via ${leader.name}`);
    const { sim } = this;
    void sim.scanHistory(leader, revision).then(() => leader.replica?.propose({ type: 'compact', revision })).then(
      () => {
        for (const m of sim.up()) sim.watchCompaction(m, revision);
      },
      (error: Error) => sim.trace(`compact failed: ${error.message}`),
    );
  }

  private diskFault(on?: SimMember, area?: DiskArea): void {
    const member = on ?? this.pick(this.sim.up());
    if (!member) return;
    const book = this.sim.book(member);
    const { random } = this.sim;
    const op = random.chance(0.5) ? 'write' : 'datasync';
    const error = op === 'write' && random.chance(0.5) ? 'ENOSPC' : 'EIO';
    book.fault = { op, area: area ?? this.pick(diskAreas)!, error };
    this.fired('diskFault', `${member.name}: next ${op} of ${book.fault.area} fails with ${error}`);
  }

  private crashDuringAudit(): void {
    this.crashDuring(armedAuditActivities);
  }

  private crashDuring(among = armedActivities): void {
    const { random } = this.sim;
    const [activity, steps] = this.pick(among)!;
    // A snapshot install happens on a member that is behind: arm the one furthest behind.
    const live = this.sim.live().filter((m) => m.state !== 'stopped');
    const applied = (m: SimMember): number => m.replica?.status().appliedIndex ?? -1;
    const member = activity === 'snapshotInstall' ? live.sort((a, b) => applied(a) - applied(b))[0] : this.pick(live);
    if (!member) return;
    const book = this.sim.book(member);
    book.trigger = { activity, remaining: random.int(1, steps), phase: random.chance(0.5) ? 'before' : 'after', power: random.chance(0.7) };
    this.fired('armCrash', `${member.name} at step ${book.trigger.remaining} of its next ${activity} (${book.trigger.phase}, ${book.trigger.power ? 'power cut' : 'kill'})`);
    // Make the activity happen: a rotation starts one; a compaction, a snapshot install and a WAL
    // compaction come with load, lag and the compact action.
    if (activity === 'dekRotation' || activity === 'walReseal') this.rotateDek(member);
    if (activity === 'kekRewrap') this.rotateKek(member);
    // Appends, rotations and retention come with load; a recovery follows a failed audit sink.
    if (activity === 'auditRecovery') this.diskFault(member, 'audit');
  }
}
