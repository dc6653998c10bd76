/**
 * The scenario language's interpreter: a few in-memory Raft nodes, a message queue between them, and
 * commands that drive them. It is a faithful host: it follows the Ready contract of src/raft/index.ts
 * (send messages, persist, send messagesAfterPersist, apply, advance), so the golden output shows
 * what a real host would see.
 *
 * Commands (ids are node ids; lists are written (1,2,3)):
 *   add-nodes N [voters=(..)] [learners=(..)] [prevote=true] [checkquorum=true] [election=T] [heartbeat=T]
 *             [max-msg-bytes=B] [max-inflight-msgs=N] [max-inflight-bytes=B] [max-uncommitted-bytes=B]
 *             [faults=commit-previous-term,skip-conf-change-guard]     new nodes get the next ids
 *   config field=value...            build a node with these Config fields; prints the validation error
 *   campaign ID | propose ID DATA [repeat=N] | read-index ID CTX | transfer-leadership from=ID to=ID
 *   propose-conf-change ID (add=ID | add-learner=ID | remove=ID)
 *   process-ready ID...              handle one Ready of each node (no delivery)
 *   deliver-msgs [ID...] [drop=(..)] deliver queued messages to the nodes (default all); drop those to drop=
 *   stabilize [ID...] [max-rounds=N] handle Readys and deliver messages among the nodes until quiescent
 *   partition A,B / C / ...          messages between groups are dropped at delivery; heal undoes it
 *   tick ID [N] | tick-heartbeat [ID...] | tick-election ID...
 *   compact ID INDEX                 snapshot the state machine at INDEX and discard the log up to it
 *   report-unreachable ID PEER | restart ID (crash: unpersisted state and messages to it are lost)
 *   status ID | log ID | raft-state
 * Snapshot messages are reported to the sender (reportSnapshot) as delivered or failed, as a transport would.
 */
import { AssertionFailure, seededRandom } from '../../../src/base/index.ts';
import {
  type Config,
  decodeConfChange,
  makeConfState,
  MemoryStorage,
  type Message,
  type NodeId,
  raftConfigDefaults,
  RaftError,
  RawNode,
  type Ready,
} from '../../../src/raft/index.ts';
import * as fmt from './format.ts';

interface Node {
  id: NodeId;
  rn: RawNode;
  storage: MemoryStorage;
  config: Config;
  /** The state machine: data of applied normal entries, in order. */
  applied: string[];
}

interface Args {
  positional: string[];
  named: Map<string, string>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function parseArgs(tokens: string[]): Args {
  const positional: string[] = [];
  const named = new Map<string, string>();
  for (const t of tokens) {
    const eq = t.indexOf('=');
    if (eq > 0) named.set(t.slice(0, eq), t.slice(eq + 1));
    else positional.push(t);
  }
  return { positional, named };
}

function parseIdList(s: string | undefined): number[] {
  if (s === undefined) return [];
  const inner = s.replace(/^\(/, '').replace(/\)$/, '').trim();
  if (inner === '') return [];
  return inner.split(',').map((x) => parseId(x));
}

function parseId(s: string | undefined): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`bad node id ${String(s)}`);
  return n;
}

function parseIntArg(s: string): number {
  const n = Number(s);
  if (!Number.isFinite(n)) throw new Error(`bad number ${s}`);
  return n;
}

export class ScenarioEnv {
  private readonly nodes = new Map<NodeId, Node>();
  /** In-flight messages, in send order. */
  private queue: Message[] = [];
  /** Pairs "a-b" (a < b) that cannot exchange messages. */
  private readonly cut = new Set<string>();
  private out: string[] = [];

  /** Runs one command line and returns its output lines. */
  run(line: string): string[] {
    this.out = [];
    const [cmd, ...rest] = line.trim().split(/\s+/);
    const args = parseArgs(rest);
    try {
      this.dispatch(cmd ?? '', args, rest);
    } catch (e) {
      if (e instanceof RaftError) this.print(`error: ${e.code}: ${e.message}`);
      // Only scenarios that switch on a deliberate bug (faults=...) may reach this.
      else if (e instanceof AssertionFailure) this.print(`ASSERTION FAILED: ${e.message}`);
      else throw e;
    }
    if (this.out.length === 0) this.print('ok');
    return this.out;
  }

  private print(s: string): void {
    this.out.push(s);
  }

  private node(id: number): Node {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  private ids(): NodeId[] {
    return [...this.nodes.keys()].sort((a, b) => a - b);
  }

  private dispatch(cmd: string, args: Args, raw: string[]): void {
    switch (cmd) {
      case 'add-nodes':
        return this.addNodes(args);
      case 'config':
        return this.tryConfig(args);
      case 'campaign':
        this.node(parseId(args.positional[0])).rn.campaign();
        return;
      case 'propose': {
        const n = this.node(parseId(args.positional[0]));
        const repeat = parseIntArg(args.named.get('repeat') ?? '1');
        const data = (args.positional[1] ?? '').repeat(repeat);
        n.rn.propose(encoder.encode(data));
        return;
      }
      case 'propose-conf-change':
        return this.proposeConfChange(args);
      case 'read-index':
        this.node(parseId(args.positional[0])).rn.readIndex(encoder.encode(args.positional[1] ?? ''));
        return;
      case 'transfer-leadership':
        this.node(parseId(args.named.get('from'))).rn.transferLeader(parseId(args.named.get('to')));
        return;
      case 'stabilize':
        return this.stabilize(args.positional.map(parseId), args.named.get('max-rounds'));
      case 'process-ready':
        for (const id of args.positional.map(parseId)) this.processReady(this.node(id));
        return;
      case 'deliver-msgs':
        return this.deliverMsgs(args);
      case 'partition':
        return this.partition(raw);
      case 'heal':
        this.cut.clear();
        return;
      case 'tick':
        return this.tick(parseId(args.positional[0]), parseIntArg(args.positional[1] ?? '1'));
      case 'tick-heartbeat':
        for (const id of args.positional.length > 0 ? args.positional.map(parseId) : this.ids()) {
          this.tick(id, this.node(id).config.heartbeatTicks);
        }
        return;
      case 'tick-election':
        for (const id of args.positional.map(parseId)) this.tickElection(id);
        return;
      case 'compact':
        return this.compact(parseId(args.positional[0]), parseIntArg(args.positional[1] ?? ''));
      case 'report-unreachable':
        this.node(parseId(args.positional[0])).rn.reportUnreachable(parseId(args.positional[1]));
        return;
      case 'restart':
        return this.restart(parseId(args.positional[0]));
      case 'status':
        return this.status(parseId(args.positional[0]));
      case 'log':
        return this.log(parseId(args.positional[0]));
      case 'raft-state':
        return this.raftState();
      default:
        throw new Error(`unknown command ${cmd}`);
    }
  }

  private buildConfig(id: number, args: Args): Config {
    const c: Config = { ...raftConfigDefaults, id, preVote: false, checkQuorum: false };
    const num = (k: string): number | undefined => {
      const v = args.named.get(k);
      return v === undefined ? undefined : parseIntArg(v);
    };
    c.electionTicks = num('election') ?? 10;
    c.heartbeatTicks = num('heartbeat') ?? 1;
    c.maxMsgBytes = num('max-msg-bytes') ?? c.maxMsgBytes;
    c.maxInflightMsgs = num('max-inflight-msgs') ?? c.maxInflightMsgs;
    c.maxInflightBytes = num('max-inflight-bytes') ?? c.maxInflightBytes;
    c.maxUncommittedBytes = num('max-uncommitted-bytes') ?? c.maxUncommittedBytes;
    c.preVote = args.named.get('prevote') === 'true';
    c.checkQuorum = args.named.get('checkquorum') === 'true';
    const faults = args.named.get('faults');
    if (faults !== undefined) {
      c.unsafeTestingFaults = {};
      for (const f of faults.split(',')) {
        if (f === 'commit-previous-term') c.unsafeTestingFaults.commitPreviousTermByCounting = true;
        else if (f === 'skip-conf-change-guard') c.unsafeTestingFaults.skipConfChangeGuard = true;
        else throw new Error(`unknown fault ${f}`);
      }
    }
    return c;
  }

  /** add-nodes N [voters=(..)] [learners=(..)] [prevote=true] [checkquorum=true] [election=10] ... */
  private addNodes(args: Args): void {
    const count = parseIntArg(args.positional[0] ?? '1');
    const voters = parseIdList(args.named.get('voters'));
    const learners = parseIdList(args.named.get('learners'));
    const first = this.nodes.size === 0 ? 1 : Math.max(...this.ids()) + 1;
    for (let id = first; id < first + count; id++) {
      const config = this.buildConfig(id, args);
      const storage = new MemoryStorage(makeConfState(voters, learners));
      const rn = new RawNode(config, storage, seededRandom(id));
      this.nodes.set(id, { id, rn, storage, config, applied: [] });
      this.print(`node ${id}: ${fmt.confState(storage.initialState().confState)}`);
    }
  }

  /** config field=value...: builds a node with a bad config and prints the validation error. */
  private tryConfig(args: Args): void {
    const c = this.buildConfig(1, args);
    const record = c as unknown as Record<string, unknown>;
    for (const [k, v] of args.named) {
      if (k in c) record[k] = v === 'true' ? true : v === 'false' ? false : Number.isNaN(Number(v)) ? v : Number(v);
    }
    new RawNode(c, new MemoryStorage(makeConfState([1])), seededRandom(1));
    this.print('valid');
  }

  private proposeConfChange(args: Args): void {
    const n = this.node(parseId(args.positional[0]));
    const add = args.named.get('add');
    const addLearner = args.named.get('add-learner');
    const remove = args.named.get('remove');
    if (add !== undefined) n.rn.proposeConfChange({ type: 'addNode', nodeId: parseId(add) });
    else if (addLearner !== undefined) n.rn.proposeConfChange({ type: 'addLearner', nodeId: parseId(addLearner) });
    else if (remove !== undefined) n.rn.proposeConfChange({ type: 'removeNode', nodeId: parseId(remove) });
    else throw new Error('propose-conf-change needs add=, add-learner= or remove=');
  }

  private partition(raw: string[]): void {
    // partition 1 / 2,3   (groups separated by '/', ids by ',')
    const groups = raw.join(' ').split('/').map((g) => g.split(/[\s,]+/).filter((x) => x !== '').map(parseId));
    this.cut.clear();
    for (let i = 0; i < groups.length; i++) {
      for (let j = i + 1; j < groups.length; j++) {
        for (const a of groups[i]!) for (const b of groups[j]!) this.cut.add(`${Math.min(a, b)}-${Math.max(a, b)}`);
      }
    }
    this.print(`partitioned: ${groups.map((g) => g.join(',')).join(' / ')}`);
  }

  private isCut(a: number, b: number): boolean {
    return this.cut.has(`${Math.min(a, b)}-${Math.max(a, b)}`);
  }

  /** Handles one Ready of `n` following the host contract. Returns false if there was none. */
  private processReady(n: Node): boolean {
    if (!n.rn.hasReady()) return false;
    const rd: Ready = n.rn.ready();
    this.print(`> ${n.id} handling Ready`);
    const ind = '  ';
    if (rd.softState) this.print(`${ind}soft: ${rd.softState.role} leader=${rd.softState.leader}`);
    if (rd.hardState) this.print(`${ind}hard: term=${rd.hardState.term} vote=${rd.hardState.vote} commit=${rd.hardState.commit}`);
    if (rd.snapshot) this.print(`${ind}snapshot: ${fmt.snapshot(rd.snapshot)}`);
    if (rd.entries.length > 0) this.print(`${ind}entries: ${fmt.entries(rd.entries)}`);
    if (rd.committedEntries.length > 0) this.print(`${ind}committed: ${fmt.entries(rd.committedEntries)}`);
    // 1. messages that may go at once.
    for (const m of rd.messages) {
      this.print(`${ind}send: ${fmt.message(m)}`);
      this.queue.push(m);
    }
    // 2. persist.
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    // 3. messages that needed the persisted state.
    for (const m of rd.messagesAfterPersist) {
      this.print(`${ind}send after persist: ${fmt.message(m)}`);
      this.queue.push(m);
    }
    // 4. apply.
    if (rd.snapshot) {
      const data = decoder.decode(rd.snapshot.data);
      n.applied = data === '' ? [] : data.split(',');
    }
    for (const e of rd.committedEntries) {
      if (e.type === 'confChange') {
        const cs = n.rn.applyConfChange(decodeConfChange(e.data));
        n.storage.setConfState(cs);
        this.print(`${ind}applied conf change ${fmt.entry(e)}: ${fmt.confState(cs)}`);
      } else if (e.data.length > 0) {
        n.applied.push(decoder.decode(e.data));
      }
    }
    for (const rs of rd.readStates) this.print(`${ind}read state: idx=${rs.index} ctx="${fmt.text(rs.requestCtx)}"`);
    // 5. advance.
    n.rn.advance(rd);
    return true;
  }

  /** Delivers queued messages addressed to `to` (all nodes if omitted), dropping those for `drop`. */
  private deliverTo(ids: readonly NodeId[], drop: ReadonlySet<NodeId>): boolean {
    const targets = new Set(ids);
    const mine = this.queue.filter((m) => targets.has(m.to));
    if (mine.length === 0) return false;
    this.queue = this.queue.filter((m) => !targets.has(m.to));
    for (const id of ids) {
      const batch = mine.filter((m) => m.to === id);
      if (batch.length === 0) continue;
      const n = this.nodes.get(id);
      const header = `> ${id} receiving messages`;
      this.print(header);
      for (const m of batch) {
        const blocked = n === undefined || drop.has(id) || this.isCut(m.from, m.to);
        if (blocked) {
          this.print(`  dropped: ${fmt.message(m)}`);
          if (m.type === 'snap') this.reportSnapshot(m, false);
          continue;
        }
        this.print(`  ${fmt.message(m)}`);
        n.rn.step(m);
        if (m.type === 'snap') this.reportSnapshot(m, true);
      }
    }
    return true;
  }

  /** The transport reports the outcome of a snapshot send to the leader, as the host contract requires. */
  private reportSnapshot(m: Message, ok: boolean): void {
    const sender = this.nodes.get(m.from);
    if (sender === undefined) return;
    sender.rn.reportSnapshot(m.to, ok);
    this.print(`  report snapshot ${m.from}->${m.to} ${ok ? 'ok' : 'failed'}`);
  }

  private deliverMsgs(args: Args): void {
    const targets = args.positional.length > 0 ? args.positional.map(parseId) : this.ids();
    const drop = new Set(parseIdList(args.named.get('drop')));
    const all = [...new Set([...targets, ...drop])].sort((a, b) => a - b);
    if (!this.deliverTo(all, drop)) this.print('no messages');
  }

  /** Rounds of (handle every Ready, deliver every message) until quiescent, or max-rounds=N rounds. */
  private stabilize(only: NodeId[], maxRounds: string | undefined): void {
    const ids = only.length > 0 ? only : this.ids();
    const limit = maxRounds === undefined ? 1000 : parseIntArg(maxRounds);
    for (let round = 0; round < limit; round++) {
      let progressed = false;
      for (const id of ids) if (this.processReady(this.node(id))) progressed = true;
      if (this.deliverTo(ids, new Set())) progressed = true;
      if (!progressed) return;
    }
    if (maxRounds === undefined) throw new Error('stabilize did not quiesce in 1000 rounds');
    this.print(`stopped after ${limit} rounds`);
  }

  private tick(id: NodeId, count: number): void {
    const n = this.node(id);
    for (let i = 0; i < count; i++) n.rn.tick();
  }

  /**
   * A leader ticks one election timeout (CheckQuorum, transfer timeout). Any other node ticks until its
   * randomized election timeout fires (at most 2 * electionTicks).
   */
  private tickElection(id: NodeId): void {
    const n = this.node(id);
    const before = n.rn.status();
    if (before.softState.role === 'leader') {
      this.tick(id, n.config.electionTicks);
      return;
    }
    for (let i = 0; i < 2 * n.config.electionTicks; i++) {
      n.rn.tick();
      const s = n.rn.status();
      if (s.softState.role !== before.softState.role || s.hardState.term !== before.hardState.term || n.rn.hasReady()) return;
    }
  }

  /** compact ID INDEX: snapshot the node's state machine at INDEX (must be applied) and drop entries. */
  private compact(id: NodeId, index: number): void {
    const n = this.node(id);
    const st = n.rn.status();
    if (index > st.applied) throw new Error(`cannot compact node ${id} at ${index}: applied is ${st.applied}`);
    // The state machine image at `index`: applied data from entries up to index.
    const upTo = n.storage.entries(n.storage.firstIndex(), index + 1, Number.MAX_SAFE_INTEGER);
    const snapData = [...this.dataBefore(n), ...upTo.filter((e) => e.type === 'normal' && e.data.length > 0).map((e) => decoder.decode(e.data))];
    n.storage.createSnapshot(index, st.confState, encoder.encode(snapData.join(',')));
    n.storage.compact(index);
    this.print(`node ${id}: snapshot at ${index}, first index now ${n.storage.firstIndex()}`);
  }

  /** Data of the node's current snapshot (what lies before its first stored entry). */
  private dataBefore(n: Node): string[] {
    const d = decoder.decode(n.storage.snapshot().data);
    return d === '' ? [] : d.split(',');
  }

  /** Crash and restart from storage: unpersisted state and in-flight messages to the node are lost. */
  private restart(id: NodeId): void {
    const n = this.node(id);
    this.queue = this.queue.filter((m) => m.to !== id);
    const snapIndex = n.storage.snapshot().metadata.index;
    n.applied = this.dataBefore(n);
    // Restart from the snapshot: its membership, and the committed entries after it replay.
    n.storage.setConfState(n.storage.snapshot().metadata.confState);
    n.rn = new RawNode({ ...n.config, applied: 0 }, n.storage, seededRandom(id * 1000 + snapIndex + 7));
    const st = n.rn.status();
    this.print(`node ${id} restarted: term=${st.hardState.term} vote=${st.hardState.vote} commit=${st.hardState.commit} applied=${st.applied}`);
  }

  private status(id: NodeId): void {
    const st = this.node(id).rn.status();
    this.print(`${id}: ${st.softState.role} term=${st.hardState.term} leader=${st.softState.leader} commit=${st.hardState.commit} applied=${st.applied} ${fmt.confState(st.confState)}`);
    if (st.leadTransferee !== 0) this.print(`  transferring to ${st.leadTransferee}`);
    if (st.progress === undefined) return;
    for (const [pid, p] of st.progress) {
      let s = `  ${pid}: ${p.state} match=${p.match} next=${p.next}`;
      if (p.isLearner) s += ' learner';
      if (p.pendingSnapshot !== 0) s += ` pendingSnapshot=${p.pendingSnapshot}`;
      if (p.inflightMsgs !== 0) s += ` inflight=${p.inflightMsgs}msgs/${p.inflightBytes}B`;
      this.print(s);
    }
  }

  private log(id: NodeId): void {
    const n = this.node(id);
    const view = n.rn.logEntries();
    this.print(`first=${view.firstIndex} commit=${view.committed} applied=${view.applied} state=[${n.applied.join(',')}]`);
    this.print(view.entries.length === 0 ? 'no entries' : fmt.entries(view.entries));
  }

  private raftState(): void {
    for (const id of this.ids()) {
      const st = this.node(id).rn.status();
      this.print(`${id}: ${st.softState.role} term=${st.hardState.term} leader=${st.softState.leader} commit=${st.hardState.commit} applied=${st.applied}`);
    }
  }
}
