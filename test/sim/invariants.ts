/**
 * Online safety checks, fed by the node hosts as they handle each Ready. Each check records the first
 * violation it sees; the run stops there and reports it with the seed.
 *
 * What is checked, and why it is Raft's safety:
 * - election safety: at most one leader per term;
 * - one vote per term: a node never promises its vote (a vote request for itself, a granted vote
 *   response) to two candidates in one term, across restarts too, and promises only a durable vote;
 * - log matching: two logs holding an entry with the same (index, term) hold the same entry, with the
 *   same term just before it — by induction, identical prefixes;
 * - leader completeness / state machine safety: an index, once committed anywhere, always holds the
 *   same entry on every node that reports it committed, and every node applies that entry there;
 * - a term is durable before a message that promises something in it is sent, so term never goes back
 *   on a node below a term it promised in, across restarts too; commit never goes back within one
 *   incarnation and the durable commit never goes back (commit itself is volatile in Raft, so a
 *   restart may resume from the last durable commit);
 * - state machine images taken at the same index are identical.
 * "No acknowledged write lost" is checked at the end of a run (see cluster.ts).
 */
import type { Entry, HardState, Message, MessageType, NodeId } from '../../src/raft/index.ts';

const promisingTypes: ReadonlySet<MessageType> = new Set<MessageType>(['app', 'appResp', 'vote', 'voteResp', 'snap', 'heartbeat', 'timeoutNow']);

export class Violation extends Error {
  override readonly name = 'Violation';
  constructor(readonly kind: string, detail: string) {
    super(`${kind}: ${detail}`);
  }
}

function entryKey(e: Entry): string {
  return `${e.type}:${e.term}:${Buffer.from(e.data).toString('base64')}`;
}

export class Invariants {
  private readonly leaders = new Map<number, NodeId>();
  private readonly votes = new Map<NodeId, Map<number, NodeId>>();
  /** `${index}/${term}` → entry key and the term of the entry before it (-1 unknown). */
  private readonly logIdentity = new Map<string, { key: string; prevTerm: number }>();
  private readonly committed = new Map<number, string>();
  private readonly applied = new Map<number, string>();
  private readonly images = new Map<number, string>();
  private readonly lastTerm = new Map<NodeId, number>();
  /** The highest term of a promising message each node sent (see onSend). */
  private readonly promisedTerm = new Map<NodeId, number>();
  private readonly lastCommit = new Map<NodeId, number>();
  private readonly lastDurableCommit = new Map<NodeId, number>();
  /** Terms in which some node became leader (a statistic). */
  leaderTerms = 0;

  /**
   * `directDurabilityChecks: false` turns off the two checks that see a forgotten vote or term at once
   * (two votes in a term, term back across a restart), so a teeth test can show that such a bug also
   * leads to the deeper failures — two leaders, changed commits, lost writes.
   */
  constructor(private readonly directDurabilityChecks = true) {}

  fail(kind: string, detail: string): never {
    throw new Violation(kind, detail);
  }

  onLeader(node: NodeId, term: number): void {
    const known = this.leaders.get(term);
    if (known === undefined) {
      this.leaders.set(term, node);
      this.leaderTerms++;
    } else if (known !== node) {
      this.fail('two leaders in a term', `nodes ${known} and ${node} both led term ${term}`);
    }
  }

  /** A hard state the node emitted in a Ready (its in-memory state at that point). */
  onHardState(node: NodeId, hs: HardState): void {
    const term = this.lastTerm.get(node) ?? 0;
    if (hs.term < term) this.fail('term went back', `node ${node} went from term ${term} to ${hs.term}`);
    this.lastTerm.set(node, hs.term);
    const commit = this.lastCommit.get(node) ?? 0;
    if (hs.commit < commit) this.fail('commit went back', `node ${node} went from commit ${commit} to ${hs.commit}`);
    this.lastCommit.set(node, hs.commit);
  }

  /**
   * A message is about to leave `node`, whose durable hard state is `durable`. Messages that promise
   * something in their term — a leader's append, heartbeat, snapshot or timeoutNow; a candidate's vote
   * request; a vote or an append acknowledgement — may only carry a term that is already durable
   * (Raft: persist currentTerm before responding). Pre-votes (a future term by design), heartbeat
   * responses, forwarded proposals and reads promise nothing and are not checked.
   */
  onSend(node: NodeId, m: Message, durable: HardState): void {
    if (!promisingTypes.has(m.type) || !this.directDurabilityChecks) return;
    if (m.term > durable.term) {
      this.fail('term sent before it was durable', `node ${node} sent ${m.type} to ${m.to} in term ${m.term} while its durable term was ${durable.term}`);
    }
    this.promisedTerm.set(node, Math.max(this.promisedTerm.get(node) ?? 0, m.term));
    // A vote is promised by a candidate's request (for itself) and by a granted vote response.
    if (m.type !== 'vote' && !(m.type === 'voteResp' && !m.reject)) return;
    const votedFor = m.type === 'vote' ? node : m.to;
    // A durable later term also protects the vote: the node can never vote in term m.term again.
    if (durable.term === m.term && durable.vote !== votedFor) {
      this.fail('vote sent before it was durable', `node ${node} sent ${m.type} for ${votedFor} in term ${m.term}; durable vote ${durable.vote}`);
    }
    let byTerm = this.votes.get(node);
    if (!byTerm) this.votes.set(node, (byTerm = new Map<number, NodeId>()));
    const earlier = byTerm.get(m.term);
    if (earlier !== undefined && earlier !== votedFor) {
      this.fail('two votes in a term', `node ${node} voted for ${earlier} and then ${votedFor} in term ${m.term}`);
    }
    byTerm.set(m.term, votedFor);
  }

  /** The node restarted from its disk with this hard state. */
  onRestart(node: NodeId, hs: HardState): void {
    const promised = this.promisedTerm.get(node) ?? 0;
    if (hs.term < promised && this.directDurabilityChecks) {
      this.fail('term went back across a restart', `node ${node} sent messages in term ${promised}, restarted at ${hs.term}`);
    }
    this.lastTerm.set(node, hs.term);
    // A vote forgotten by a crash shows up when the node votes again in the same term (onHardState).
    this.lastCommit.set(node, hs.commit);
  }

  onDurable(node: NodeId, hs: HardState): void {
    const commit = this.lastDurableCommit.get(node) ?? 0;
    if (hs.commit < commit) this.fail('durable commit went back', `node ${node} durable commit ${commit} → ${hs.commit}`);
    this.lastDurableCommit.set(node, hs.commit);
  }

  /** Entries a node is about to append after the entry whose term is `prevTerm` (-1 if unknown). */
  onAppend(node: NodeId, entries: readonly Entry[], prevTerm: number): void {
    let before = prevTerm;
    for (const e of entries) {
      const id = `${e.index}/${e.term}`;
      const key = entryKey(e);
      const known = this.logIdentity.get(id);
      if (!known) {
        this.logIdentity.set(id, { key, prevTerm: before });
      } else {
        if (known.key !== key) this.fail('log matching', `node ${node} has a different entry at index ${e.index} term ${e.term}`);
        if (known.prevTerm >= 0 && before >= 0 && known.prevTerm !== before) {
          this.fail('log matching', `node ${node}: entry ${e.index}/${e.term} follows term ${before}, elsewhere term ${known.prevTerm}`);
        }
        if (known.prevTerm < 0 && before >= 0) known.prevTerm = before;
      }
      before = e.term;
    }
  }

  /** A node reports `e` committed (its commit index covers e.index). */
  onCommitted(node: NodeId, e: Entry): void {
    const key = entryKey(e);
    const known = this.committed.get(e.index);
    if (known === undefined) this.committed.set(e.index, key);
    else if (known !== key) this.fail('committed entry changed', `node ${node} has a different committed entry at index ${e.index}`);
  }

  onApply(node: NodeId, e: Entry): void {
    this.onCommitted(node, e);
    const key = entryKey(e);
    const known = this.applied.get(e.index);
    if (known === undefined) this.applied.set(e.index, key);
    else if (known !== key) this.fail('state machine safety', `node ${node} applied a different entry at index ${e.index}`);
  }

  onImage(node: NodeId, index: number, data: Uint8Array): void {
    const key = Buffer.from(data).toString('base64');
    const known = this.images.get(index);
    if (known === undefined) this.images.set(index, key);
    else if (known !== key) this.fail('state machine divergence', `node ${node}'s state at index ${index} differs from another node's`);
  }

  /** The highest index some node applied (for the liveness and lost-write checks). */
  get maxApplied(): number {
    let max = 0;
    for (const i of this.applied.keys()) if (i > max) max = i;
    return max;
  }
}
