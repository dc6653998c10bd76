/**
 * One simulation run: a seeded cluster of Raft nodes, a lossy network, clients and a nemesis, driven by
 * a single event queue over simulated time. Same seed, same options → same run, event for event.
 *
 * Phases: (1) faults — the nemesis acts while clients run; (2) healing — partitions healed, crashed
 * members restarted, no more loss; a leader must commit a probe write within `livenessTicksMax`, and
 * clients go on for `healTicks` more; (3) drain — clients stop and their last operations finish or
 * time out. Then the end checks run: no acknowledged write lost, and the client history is
 * linearizable.
 */
import { type Random, seededRandom } from '../../src/base/index.ts';
import {
  type Config, type ConfChange, type ConfState, type Message, type NodeId, type UnsafeTestingFaults,
  makeConfState, raftConfigDefaults,
} from '../../src/raft/index.ts';
import { checkLinearizable, kvModel } from '../support/linearizability/index.ts';
import { type ClientOp, SimClient, historyOf } from './clients.ts';
import { Counters } from './counters.ts';
import type { RunResult } from './result.ts';
import type { DurableState } from './disk.ts';
import { EventQueue } from './event-queue.ts';
import type { HostBugs } from './host-bugs.ts';
import { Invariants, Violation } from './invariants.ts';
import { KvStateMachine } from './kv.ts';
import { Nemesis } from './nemesis.ts';
import { type NetworkParams, SimNetwork } from './network.ts';
import { type NodeEnv, SimNode } from './node.ts';

export interface SimOptions {
  seed: number;
  nodes: number;
  bugs?: HostBugs;
  /** Deliberate bugs inside the core, for teeth tests only. */
  raftFaults?: UnsafeTestingFaults;
  /** See Invariants: false hides forgotten votes and terms from the direct checks (teeth tests). */
  directDurabilityChecks?: boolean;
  faultTicks?: number;
  /** Ticks the healed cluster keeps serving clients after the liveness probe committed. */
  healTicks?: number;
  clients?: number;
  /** Overrides of the seeded Raft config (e.g. to force checkQuorum off in a targeted search). */
  raftConfig?: Partial<Omit<Config, 'id' | 'applied'>>;
  /** The nemesis acts every [min, max] ticks (default [5, 40]). */
  nemesisGapTicks?: [number, number];
  /** Receives a line per notable event (nemesis actions, leader changes, violations). */
  trace?: (line: string) => void;
}

export interface SimResult extends RunResult {
  /** Ticks from the end of the fault phase until a probe write committed. */
  livenessTicks?: number;
  ticks: number;
}

/** Simulated time units per tick; message delays are a fraction of a tick up to several ticks. */
export const tickUnits = 10;
/**
 * Ticks after healing within which a leader must commit a write. Without PreVote the bound is looser:
 * a voter whose log is too stale to win keeps starting elections in higher terms, and each of its vote
 * requests resets the other voters' election timers (they step down to its term, as in etcd), so
 * elections can livelock for a long while (seed 7727 once stalled 714 ticks; see regressions.test.ts). PreVote,
 * the default, exists to prevent exactly that.
 */
const livenessTicksMax = { preVote: 200, noPreVote: 1000 };
const clientTimeoutTicks = 40;
const nemesisGapTicks: [number, number] = [5, 40];
const linearizabilityStepsMax = 5_000_000;

export function runSimulation(options: SimOptions): SimResult {
  const sim = new Simulation(options);
  return sim.run();
}

class Simulation {
  readonly queue = new EventQueue();
  readonly random: Random;
  readonly counters = new Counters();
  readonly invariants: Invariants;
  readonly network: SimNetwork;
  readonly nodes = new Map<NodeId, SimNode>();
  private readonly env: NodeEnv;
  private latestConfig: ConfState;
  private latestConfigIndex = 1;
  private nextId: NodeId;
  private joining: SimNode | undefined;
  private readonly ops: ClientOp[] = [];
  private readonly appliedAnywhere = new Set<string>();
  private readonly clients: SimClient[] = [];
  private stampCounter = 0;
  private faultPhase = true;
  private livenessAt: number | undefined;
  private probeSeq = 0;
  private probePending = false;
  private readonly faultTicks: number;
  private readonly clockSkew: boolean;
  private readonly networkParams: NetworkParams;
  private readonly healTicks: number;
  private readonly livenessTicksMax: number;

  constructor(private readonly options: SimOptions) {
    this.random = seededRandom(options.seed);
    this.invariants = new Invariants(options.directDurabilityChecks ?? true);
    this.clockSkew = this.random.chance(0.5);
    this.faultTicks = options.faultTicks ?? 600;
    this.healTicks = options.healTicks ?? 200;
    const r = this.random;
    const params: NetworkParams = {
      dropProbability: [0, 0.01, 0.05, 0.1][r.int(0, 3)] as number,
      duplicateProbability: [0, 0.01, 0.05][r.int(0, 2)] as number,
      delayMin: 1,
      delayMax: [3, 10, 30][r.int(0, 2)] as number,
      longDelayProbability: 0.01,
      longDelayMax: 30 * tickUnits,
    };
    this.networkParams = params;
    this.network = new SimNetwork(this.queue, r, params, this.counters, (m) => this.deliver(m));
    const raftConfig = {
      ...raftConfigDefaults,
      electionTicks: 10,
      heartbeatTicks: 1,
      maxMsgBytes: [512, 4096][r.int(0, 1)] as number,
      maxInflightMsgs: r.int(1, 8),
      maxInflightBytes: 16 * 1024,
      maxUncommittedBytes: [2048, 64 * 1024][r.int(0, 1)] as number,
      preVote: r.chance(0.75),
      checkQuorum: r.chance(0.75),
      ...(options.raftFaults ? { unsafeTestingFaults: options.raftFaults } : {}),
      ...options.raftConfig,
    };
    this.livenessTicksMax = raftConfig.preVote ? livenessTicksMax.preVote : livenessTicksMax.noPreVote;
    this.env = {
      queue: this.queue,
      random: r,
      invariants: this.invariants,
      counters: this.counters,
      bugs: options.bugs ?? {},
      raftConfig,
      syncDelayMax: r.chance(0.5) ? 0 : r.int(1, 3 * tickUnits),
      snapshotEveryEntries: r.int(10, 60),
      entriesKeptAfterSnapshot: r.int(0, 10),
      send: (from, m) => this.send(from, m),
      onConfChangeApplied: (node, index, cc, cs) => this.onConfChangeApplied(node, index, cc, cs),
      onCommandApplied: (opId) => this.appliedAnywhere.add(opId),
      trace: (line) => this.trace(line),
    };
    const voters = Array.from({ length: options.nodes }, (_, i) => i + 1);
    this.latestConfig = makeConfState(voters);
    this.nextId = options.nodes + 1;
    // Bootstrap: every initial member starts from the same snapshot at index 1 holding the membership,
    // so a member that joins later learns the initial membership from a snapshot too.
    const initial: DurableState = {
      snapshot: { metadata: { index: 1, term: 1, confState: this.latestConfig }, data: new KvStateMachine().encode() },
      entries: [],
      hardState: { term: 1, vote: 0, commit: 1 },
    };
    for (const id of voters) this.nodes.set(id, new SimNode(id, initial, this.env));
  }

  private trace(line: string): void {
    this.options.trace?.(`[t=${(this.queue.now / tickUnits).toFixed(1)}] ${line}`);
  }

  run(): SimResult {
    const result: SimResult = { seed: this.options.seed, nodes: this.options.nodes, counters: this.counters, ticks: 0 };
    const { unsafeTestingFaults: _faults, ...raft } = this.env.raftConfig;
    this.trace(`run: seed ${this.options.seed}, ${this.options.nodes} nodes, raft ${JSON.stringify(raft)}, ` +
      `network ${JSON.stringify(this.networkParams)}, syncDelayMax ${this.env.syncDelayMax}, clockSkew ${this.clockSkew}, ` +
      `snapshotEveryEntries ${this.env.snapshotEveryEntries}, entriesKeptAfterSnapshot ${this.env.entriesKeptAfterSnapshot}`);
    try {
      this.schedule();
      const faultEnd = this.faultTicks * tickUnits;
      this.queue.runUntil(faultEnd);
      this.beginHealing();
      this.queue.runUntil(faultEnd + this.livenessTicksMax * tickUnits, () => this.livenessAt !== undefined);
      const livenessAt = this.livenessAt;
      if (livenessAt === undefined) {
        throw new Violation('liveness', `no leader committed a write within ${this.livenessTicksMax} ticks of healing`);
      }
      result.livenessTicks = (livenessAt - faultEnd) / tickUnits;
      const healEnd = livenessAt + this.healTicks * tickUnits;
      this.queue.runUntil(healEnd);
      for (const c of this.clients) c.active = false;
      this.queue.runUntil(healEnd + (clientTimeoutTicks + 5) * tickUnits, () => this.clients.every((c) => c.idle));
      result.ticks = Math.round(this.queue.now / tickUnits);
      this.checkNoAckedWriteLost();
      this.checkLinearizable();
    } catch (e) {
      result.ticks = Math.round(this.queue.now / tickUnits);
      const kind = e instanceof Violation ? e.kind : 'exception';
      const message = e instanceof Error ? (e instanceof Violation ? e.message : (e.stack ?? e.message)) : String(e);
      result.violation = { kind, message };
      this.trace(`VIOLATION ${message}`);
      for (const n of this.nodes.values()) this.trace(`  ${n.describe()}`);
    }
    return result;
  }

  private schedule(): void {
    for (const node of this.nodes.values()) this.startNode(node);
    const clientCount = this.options.clients ?? 4;
    for (let i = 1; i <= clientCount; i++) {
      const client = new SimClient(i, {
        queue: this.queue,
        random: this.random,
        counters: this.counters,
        stamp: () => ++this.stampCounter,
        targets: () => this.members(),
        tickUnits,
        timeoutTicks: clientTimeoutTicks,
      }, this.ops);
      this.clients.push(client);
      client.start();
    }
    const nemesis = new Nemesis({
      random: this.random,
      counters: this.counters,
      network: this.network,
      size: this.options.nodes,
      members: () => this.members(),
      config: () => this.latestConfig,
      leader: () => this.leader(),
      joiner: () => this.joiner(),
      trace: (line) => this.trace(line),
      now: () => this.queue.now,
      tickUnits,
    });
    const nemesisStep = (): void => {
      if (!this.faultPhase) return;
      nemesis.act();
      this.queue.after(this.random.int(...(this.options.nemesisGapTicks ?? nemesisGapTicks)) * tickUnits, nemesisStep);
    };
    this.queue.after(20 * tickUnits, nemesisStep);
  }

  /**
   * Starts a node and its tick loop, at a random phase within the tick. Each node's clock runs at its
   * own rate (within ±20% when the run has clock skew), as real timers drift.
   */
  private startNode(node: SimNode): void {
    node.start();
    const phase = this.random.int(0, tickUnits - 1);
    const interval = this.clockSkew ? this.random.int(tickUnits - 2, tickUnits + 2) : tickUnits;
    const tickLoop = (): void => {
      if (node.state === 'stopped') return;
      node.tick();
      this.queue.after(interval, tickLoop);
    };
    this.queue.after(phase, tickLoop);
  }

  private members(): SimNode[] {
    const ids = new Set([...this.latestConfig.voters, ...this.latestConfig.learners]);
    if (this.joining) ids.add(this.joining.id);
    return [...this.nodes.values()].filter((n) => ids.has(n.id) && n.state !== 'stopped');
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.up && n.role === 'leader' && (!best || n.term > best.term)) best = n;
    }
    return best;
  }

  private joiner(): SimNode {
    if (this.joining && this.joining.state !== 'stopped') return this.joining;
    const id = this.nextId++;
    const node = new SimNode(id, { snapshot: undefined, entries: [], hardState: { term: 0, vote: 0, commit: 0 } }, this.env);
    this.nodes.set(id, node);
    this.joining = node;
    this.startNode(node);
    this.trace(`node ${id} created to join`);
    return node;
  }

  private send(from: SimNode, m: Message): void {
    const incarnation = from.incarnation;
    this.network.send(m, (outcome) => {
      // The transport tells the sender's incarnation what became of a snapshot or a cut link.
      if (from.incarnation !== incarnation || !from.up) return;
      if (m.type === 'snap') from.reportSnapshot(m.to, outcome === 'delivered');
      else if (outcome === 'cut') from.reportUnreachable(m.to);
    });
  }

  private deliver(m: Message): void {
    const node = this.nodes.get(m.to);
    if (node?.up) node.deliver(m);
  }

  private onConfChangeApplied(node: NodeId, index: number, cc: ConfChange, cs: ConfState): void {
    if (index <= this.latestConfigIndex) return;
    const wasLearner = this.latestConfig.learners.includes(cc.nodeId);
    this.latestConfig = cs;
    this.latestConfigIndex = index;
    const name = cc.type === 'addNode' && wasLearner ? 'promote' : cc.type;
    this.counters.add(`applied:${name}`);
    this.trace(`membership ${name} ${cc.nodeId} applied at ${index} (first by node ${node}): voters ${cs.voters.join(',')} learners ${cs.learners.join(',')}`);
    if (this.joining && (cs.voters.includes(this.joining.id) || cs.learners.includes(this.joining.id))) this.joining = undefined;
    if (cc.type === 'removeNode') {
      const removed = this.nodes.get(cc.nodeId);
      // A removed member shuts down (as etcd members do); ids are never reused.
      if (removed) this.queue.after(0, () => removed.stop());
    }
  }

  private beginHealing(): void {
    this.faultPhase = false;
    this.network.heal();
    this.network.lossy = false;
    for (const n of this.members()) if (n.state === 'down') n.start();
    this.trace('healing: network healed, members restarted');
    const probe = (): void => {
      if (this.livenessAt !== undefined) return;
      const leader = this.leader();
      if (leader && !this.probePending) {
        this.probePending = true;
        const opId = `probe#${++this.probeSeq}`;
        leader.propose(opId, { kind: 'write', key: 'probe', value: opId }, (r) => {
          this.probePending = false;
          if (r.kind === 'done' && this.livenessAt === undefined) {
            this.livenessAt = this.queue.now;
            this.trace(`liveness: probe committed via node ${leader.id}`);
          }
        });
        const incarnation = leader.incarnation;
        this.queue.after(clientTimeoutTicks * tickUnits, () => {
          if (leader.incarnation === incarnation) this.probePending = false;
        });
      }
      this.queue.after(tickUnits, probe);
    };
    probe();
  }

  /** Every acknowledged write or compare-and-set is in the state machine of every node that applied past it. */
  private checkNoAckedWriteLost(): void {
    for (const o of this.ops) {
      if (o.status !== 'done' || o.op.input.kind === 'read' || o.index === undefined) continue;
      for (const n of this.nodes.values()) {
        if (n.up && n.applied >= o.index && !n.hasApplied(o.opId)) {
          this.invariants.fail('acknowledged write lost', `node ${n.id} applied past index ${o.index} without ${o.opId}`);
        }
      }
    }
  }

  private checkLinearizable(): void {
    const history = historyOf(this.ops, this.appliedAnywhere);
    this.counters.add('historyOps', history.length);
    const result = checkLinearizable(kvModel, history, { stepsMax: linearizabilityStepsMax });
    this.counters.add('linearizabilitySteps', result.steps);
    if (result.verdict === 'unknown') this.counters.add('linearizabilityUnknown');
    if (result.verdict === 'illegal') {
      const f = result.failure;
      const ops = f ? f.ops.map((o) => kvModel.describe?.(o) ?? '').join('\n    ') : '';
      const best = f ? f.longestLinearized.map((o) => kvModel.describe?.(o) ?? '').join('\n    ') : '';
      this.invariants.fail('linearizability', `history of key ${f?.ops[0]?.input.key ?? '?'} is not linearizable\n  operations:\n    ${ops}\n  longest linearizable prefix:\n    ${best}`);
    }
  }
}
