/**
 * The nemesis: at random intervals during the fault phase it crashes (any node, or the leader), pauses
 * and restarts nodes, partitions the network (random halves, the leader alone, one-way, bridge) and
 * heals it, changes membership (add a learner, promote it, remove a voter or learner) and transfers
 * leadership — all while other faults are in force. Every action is counted under `fault:<name>`; conf
 * changes that took effect are counted by the cluster under `applied:<name>`.
 */
import type { Random } from '../../src/base/index.ts';
import type { ConfState, NodeId } from '../../src/raft/index.ts';
import type { Counters } from './counters.ts';
import type { SimNetwork } from './network.ts';
import type { SimNode } from './node.ts';

export interface NemesisTarget {
  random: Random;
  counters: Counters;
  network: SimNetwork;
  /** The initial cluster size; membership oscillates between it and one more voter. */
  size: number;
  /** Member nodes (in the latest applied membership, or joining), not stopped. */
  members(): SimNode[];
  /** The latest membership any node applied. */
  config(): ConfState;
  /** The up node that believes it leads the highest term, if any. */
  leader(): SimNode | undefined;
  /** Creates and starts a new node with an empty disk, for an addLearner; or returns the pending one. */
  joiner(): SimNode;
  trace(line: string): void;
  now(): number;
  tickUnits: number;
}

type Action = 'crash' | 'crashLeader' | 'pause' | 'restart' | 'partition' | 'isolateLeader' | 'partitionOneWay' | 'partitionBridge' | 'heal' | 'membership' | 'transferLeader';

const weights: [Action, number][] = [
  ['crash', 2],
  ['crashLeader', 2],
  ['pause', 1],
  ['restart', 3],
  ['partition', 1],
  ['isolateLeader', 1],
  ['partitionOneWay', 1],
  ['partitionBridge', 1],
  ['heal', 2],
  ['membership', 3],
  ['transferLeader', 2],
];

export class Nemesis {
  constructor(private readonly t: NemesisTarget) {}

  act(): void {
    const total = weights.reduce((s, [, w]) => s + w, 0);
    let roll = this.t.random.int(1, total);
    let action: Action = 'heal';
    for (const [a, w] of weights) {
      if ((roll -= w) <= 0) {
        action = a;
        break;
      }
    }
    this[action]();
  }

  private pick<T>(xs: readonly T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[this.t.random.int(0, xs.length - 1)];
  }

  private shuffled<T>(xs: readonly T[]): T[] {
    const out = xs.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.t.random.int(0, i);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }

  private fired(name: string, detail: string): void {
    this.t.counters.add(`fault:${name}`);
    this.t.trace(`nemesis ${name} ${detail}`);
  }

  private crash(): void {
    const victim = this.pick(this.t.members().filter((n) => n.up));
    if (!victim) return;
    victim.crash();
    this.fired('crash', `node ${victim.id}`);
  }

  private crashLeader(): void {
    const leader = this.t.leader();
    if (!leader) return;
    leader.crash();
    this.fired('crashLeader', `node ${leader.id}`);
  }

  private pause(): void {
    const victim = this.pick(this.t.members().filter((n) => n.up && !n.paused));
    if (!victim) return;
    const ticks = this.t.random.int(3, 40);
    victim.pause(this.t.now() + ticks * this.t.tickUnits);
    this.fired('pause', `node ${victim.id} for ${ticks} ticks`);
  }

  private restart(): void {
    const node = this.pick(this.t.members().filter((n) => n.state === 'down'));
    if (!node) return;
    node.start();
    this.fired('restart', `node ${node.id}`);
  }

  private halves(): [NodeId[], NodeId[]] {
    const ids = this.shuffled(this.t.members().map((n) => n.id));
    const cut = this.t.random.int(1, Math.max(1, ids.length - 1));
    return [ids.slice(0, cut), ids.slice(cut)];
  }

  private partition(): void {
    const [a, b] = this.halves();
    this.t.network.heal();
    this.t.network.partition(a, b);
    this.fired('partition', `${a.join(',')} | ${b.join(',')}`);
  }

  /** The leader alone on one side: it may go on accepting proposals it can never commit. */
  private isolateLeader(): void {
    const leader = this.t.leader();
    if (!leader) return;
    const rest = this.t.members().map((n) => n.id).filter((id) => id !== leader.id);
    this.t.network.heal();
    this.t.network.partition([leader.id], rest);
    this.fired('isolateLeader', `${leader.id} | ${rest.join(',')}`);
  }

  private partitionOneWay(): void {
    const [a, b] = this.halves();
    this.t.network.heal();
    this.t.network.cutOneWay(a, b);
    this.fired('partitionOneWay', `${a.join(',')} -/-> ${b.join(',')}`);
  }

  private partitionBridge(): void {
    const ids = this.shuffled(this.t.members().map((n) => n.id));
    if (ids.length < 3) return;
    const bridge = ids[0] as NodeId;
    const rest = ids.slice(1);
    const cut = this.t.random.int(1, rest.length - 1);
    const a = rest.slice(0, cut);
    const b = rest.slice(cut);
    this.t.network.heal();
    this.t.network.bridge(a, b, bridge);
    this.fired('partitionBridge', `${a.join(',')} | ${b.join(',')} bridged by ${bridge}`);
  }

  private heal(): void {
    if (!this.t.network.partitioned) return;
    this.t.network.heal();
    this.fired('heal', '');
  }

  private membership(): void {
    const leader = this.t.leader();
    if (!leader) return;
    const cfg = this.t.config();
    const learner = this.pick(cfg.learners);
    if (learner !== undefined) {
      if (this.t.random.chance(0.8)) {
        if (leader.proposeConfChange({ type: 'addNode', nodeId: learner })) this.fired('promote', `node ${learner} via ${leader.id}`);
      } else if (leader.proposeConfChange({ type: 'removeNode', nodeId: learner })) {
        this.fired('removeNode', `learner ${learner} via ${leader.id}`);
      }
      return;
    }
    if (cfg.voters.length > this.t.size) {
      const victim = this.pick(cfg.voters) as NodeId;
      if (leader.proposeConfChange({ type: 'removeNode', nodeId: victim })) this.fired('removeNode', `voter ${victim} via ${leader.id}`);
      return;
    }
    const joiner = this.t.joiner();
    if (leader.proposeConfChange({ type: 'addLearner', nodeId: joiner.id })) this.fired('addLearner', `node ${joiner.id} via ${leader.id}`);
  }

  private transferLeader(): void {
    const leader = this.t.leader();
    if (!leader) return;
    const to = this.pick(this.t.config().voters.filter((id) => id !== leader.id));
    if (to === undefined) return;
    leader.transferLeader(to);
    this.fired('transferLeader', `${leader.id} → ${to}`);
  }
}
