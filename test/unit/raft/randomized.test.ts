/**
 * A small randomized safety check of the core (the full simulator lives in test/sim): seeded runs of
 * 5 nodes with message loss, duplication and reordering, crashes that lose everything not yet persisted,
 * proposals, membership changes, leader transfers and compaction. After every step it checks: at most one
 * leader per term; every node applies the same entry at each index; term and commit never go back, across
 * restarts too.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Random, seededRandom } from '../../../src/base/index.ts';
import {
  type Config,
  ConfChangeError,
  decodeConfChange,
  makeConfState,
  MemoryStorage,
  type Message,
  ProposalDroppedError,
  raftConfigDefaults,
  RawNode,
} from '../../../src/raft/index.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface SimNode {
  id: number;
  rn: RawNode;
  storage: MemoryStorage;
  /** Applied entries as "index:term:data" keys, from index appliedFrom + 1. */
  lastApplied: number;
}

class Cluster {
  readonly nodes = new Map<number, SimNode>();
  private net: Message[] = [];
  /** index -> "term:data" of the entry applied there (by anyone). */
  private readonly appliedAt = new Map<number, string>();
  /** term -> leader id. */
  private readonly leaders = new Map<number, number>();
  /** id -> highest term / commit ever persisted. */
  private readonly durable = new Map<number, { term: number; commit: number }>();
  private proposals = 0;
  appliedMax = 0;

  constructor(
    private readonly rnd: Random,
    private readonly config: Omit<Config, 'id'>,
    ids: number[],
    voters: number[],
  ) {
    for (const id of ids) {
      const storage = new MemoryStorage(makeConfState(voters));
      this.nodes.set(id, { id, rn: this.boot(id, storage), storage, lastApplied: 0 });
    }
  }

  private boot(id: number, storage: MemoryStorage): RawNode {
    return new RawNode({ ...this.config, id, applied: 0 }, storage, seededRandom(this.rnd.int(0, 1_000_000)));
  }

  private pick<T>(items: T[]): T {
    return items[this.rnd.int(0, items.length - 1)]!;
  }

  step(): void {
    const n = this.pick([...this.nodes.values()]);
    const r = this.rnd.int(0, 99);
    if (r < 30) n.rn.tick();
    else if (r < 62) this.deliver();
    else if (r < 80) this.processReady(n);
    else if (r < 88) this.propose(n);
    else if (r < 90) this.crash(n);
    else if (r < 92) this.confChange(n);
    else if (r < 93) n.rn.transferLeader(this.rnd.int(1, this.nodes.size));
    else if (r < 95) this.compact(n);
    else if (r < 96) this.net = this.net.filter(() => this.rnd.chance(0.5)); // burst loss
    else this.processReady(n);
    this.checkLeaders();
  }

  private deliver(): void {
    if (this.net.length === 0) return;
    // Reordering: any in-flight message may be next.
    const i = this.rnd.int(0, this.net.length - 1);
    const m = this.net[i]!;
    if (!this.rnd.chance(0.1)) this.net.splice(i, 1); // else duplicated: it stays in flight
    if (this.rnd.chance(0.05)) return; // lost
    const to = this.nodes.get(m.to);
    if (to === undefined) return;
    to.rn.step(m);
    if (m.type === 'snap') this.nodes.get(m.from)?.rn.reportSnapshot(m.to, true);
  }

  private send(msgs: Message[]): void {
    for (const m of msgs) {
      // A lost snapshot must be reported as failed (host contract).
      if (m.type === 'snap' && this.rnd.chance(0.2)) {
        this.nodes.get(m.from)?.rn.reportSnapshot(m.to, false);
        continue;
      }
      this.net.push(m);
    }
  }

  processReady(n: SimNode): void {
    if (!n.rn.hasReady()) return;
    const rd = n.rn.ready();
    this.send(rd.messages);
    // A crash here loses this whole Ready: nothing of it was persisted.
    if (this.rnd.chance(0.03)) {
      this.restart(n);
      return;
    }
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState) {
      n.storage.setHardState(rd.hardState);
      const prev = this.durable.get(n.id) ?? { term: 0, commit: 0 };
      assert.ok(rd.hardState.term >= prev.term, `node ${n.id} term went back from ${prev.term} to ${rd.hardState.term}`);
      assert.ok(rd.hardState.commit >= prev.commit, `node ${n.id} commit went back from ${prev.commit} to ${rd.hardState.commit}`);
      this.durable.set(n.id, { term: rd.hardState.term, commit: rd.hardState.commit });
    }
    this.send(rd.messagesAfterPersist);
    if (rd.snapshot) n.lastApplied = rd.snapshot.metadata.index;
    for (const e of rd.committedEntries) {
      assert.equal(e.index, n.lastApplied + 1, `node ${n.id} applied ${e.index} after ${n.lastApplied}`);
      n.lastApplied = e.index;
      const key = `${e.term}:${e.type}:${decoder.decode(e.data)}`;
      const seen = this.appliedAt.get(e.index);
      assert.ok(seen === undefined || seen === key, `index ${e.index}: node ${n.id} applied ${key}, another node applied ${seen}`);
      this.appliedAt.set(e.index, key);
      this.appliedMax = Math.max(this.appliedMax, e.index);
      if (e.type === 'confChange') n.storage.setConfState(n.rn.applyConfChange(decodeConfChange(e.data)));
    }
    n.rn.advance(rd);
  }

  private restart(n: SimNode): void {
    this.net = this.net.filter((m) => m.to !== n.id);
    // Restart from the snapshot: the membership must be the snapshot's (committed entries replay).
    n.storage.setConfState(n.storage.snapshot().metadata.confState);
    n.rn = this.boot(n.id, n.storage);
    n.lastApplied = n.storage.snapshot().metadata.index;
  }

  private crash(n: SimNode): void {
    this.restart(n);
  }

  private propose(n: SimNode): void {
    try {
      n.rn.propose(encoder.encode(`p${this.proposals++}`));
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
    }
  }

  private confChange(n: SimNode): void {
    const type = this.pick(['addNode', 'addLearner', 'removeNode'] as const);
    try {
      n.rn.proposeConfChange({ type, nodeId: this.rnd.int(1, this.nodes.size) });
    } catch (e) {
      if (!(e instanceof ProposalDroppedError || e instanceof ConfChangeError)) throw e;
    }
  }

  private compact(n: SimNode): void {
    const st = n.rn.status();
    const index = Math.min(st.applied, n.lastApplied);
    if (index <= n.storage.snapshot().metadata.index || index < n.storage.firstIndex()) return;
    n.storage.createSnapshot(index, st.confState, new Uint8Array(0));
    n.storage.compact(index);
  }

  private checkLeaders(): void {
    for (const n of this.nodes.values()) {
      const st = n.rn.status();
      if (st.softState.role !== 'leader') continue;
      const known = this.leaders.get(st.hardState.term);
      assert.ok(known === undefined || known === n.id, `term ${st.hardState.term} has two leaders: ${known} and ${n.id}`);
      this.leaders.set(st.hardState.term, n.id);
    }
  }

  leaderCount(): number {
    return this.leaders.size;
  }
}

function runSeed(seed: number, steps: number): Cluster {
  const rnd = seededRandom(seed);
  const config = { ...raftConfigDefaults, electionTicks: 10, heartbeatTicks: 2, maxMsgBytes: 200, maxInflightMsgs: 4,
    maxInflightBytes: 800, maxUncommittedBytes: 2000, preVote: rnd.chance(0.5), checkQuorum: rnd.chance(0.5) };
  const cluster = new Cluster(rnd, config, [1, 2, 3, 4, 5], [1, 2, 3]);
  for (let i = 0; i < steps; i++) cluster.step();
  return cluster;
}

test('randomized runs keep election safety and state machine safety', () => {
  let applied = 0;
  let leaders = 0;
  for (let seed = 1; seed <= 150; seed++) {
    try {
      const c = runSeed(seed, 3000);
      applied += c.appliedMax;
      leaders += c.leaderCount();
    } catch (e) {
      throw new Error(`seed ${seed} failed: ${(e as Error).message}`, { cause: e });
    }
  }
  // The runs must actually make progress, or the checks above prove nothing.
  assert.ok(leaders > 150, `only ${leaders} leaders elected over all seeds`);
  assert.ok(applied > 150 * 10, `only ${applied} entries applied over all seeds`);
});
