/**
 * The Wing–Gong linearizability search with Lowe's memoisation, as Porcupine does it.
 *
 * The history becomes a doubly linked list of call and return events in real-time order. The search
 * walks it: at a call it tries to linearize that operation now (the model must accept its output),
 * removes ("lifts") it and restarts from the head; at a return whose call is still in the list it has
 * run out of options and backtracks. A configuration (set of linearized operations, model state) that
 * was already explored is never explored again, which keeps most real histories near-linear.
 *
 * Indeterminate operations have a call event and no return event: nothing forces them to be placed,
 * so they linearize anywhere after their call or not at all. The search succeeds once every completed
 * operation is linearized.
 */
import { Bitset } from './bitset.ts';
import type { Operation } from './history.ts';
import type { Model } from './model.ts';

export type Verdict = 'ok' | 'illegal' | 'unknown';

export interface CheckOptions {
  /** Search steps allowed per partition before giving up with 'unknown'. */
  stepsMax?: number;
}

export interface PartitionFailure<I, O> {
  /** Index of the failing partition in the model's partition order. */
  partition: number;
  /** The partition's operations, in call order. */
  ops: Operation<I, O>[];
  /** The longest prefix the search managed to linearize, in linearization order. */
  longestLinearized: Operation<I, O>[];
}

export interface CheckResult<I, O> {
  verdict: Verdict;
  partitions: number;
  /** Search steps over all partitions. */
  steps: number;
  /** Set when the verdict is 'illegal' (the first illegal partition) or 'unknown' (the first over budget). */
  failure?: PartitionFailure<I, O>;
}

const defaultStepsMax = 2_000_000;

export function checkLinearizable<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult<I, O> {
  const stepsMax = options.stepsMax ?? defaultStepsMax;
  const parts = model.partition ? model.partition(history) : [history.slice()];
  let steps = 0;
  let unknown: PartitionFailure<I, O> | undefined;
  for (let p = 0; p < parts.length; p++) {
    const ops = (parts[p] ?? []).slice().sort((a, b) => a.call - b.call);
    const outcome = searchPartition(model, ops, stepsMax);
    steps += outcome.steps;
    const failure = { partition: p, ops, longestLinearized: outcome.longest };
    if (outcome.verdict === 'illegal') return { verdict: 'illegal', partitions: parts.length, steps, failure };
    if (outcome.verdict === 'unknown' && !unknown) unknown = failure;
  }
  if (unknown) return { verdict: 'unknown', partitions: parts.length, steps, failure: unknown };
  return { verdict: 'ok', partitions: parts.length, steps };
}

interface Node {
  /** Index of the operation in the partition. */
  id: number;
  isCall: boolean;
  /** For a call: its return event, absent for an indeterminate operation. */
  match: Node | undefined;
  prev: Node | undefined;
  next: Node | undefined;
}

interface Outcome<I, O> {
  verdict: Verdict;
  steps: number;
  longest: Operation<I, O>[];
}

function searchPartition<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[], stepsMax: number): Outcome<I, O> {
  for (const op of ops) {
    if (op.return !== Infinity && !(op.call < op.return)) {
      throw new RangeError(`operation of client ${op.clientId} returns at ${op.return}, not after its call at ${op.call}`);
    }
  }
  const head = buildEventList(ops);
  let completedLeft = ops.filter((op) => op.return !== Infinity).length;
  const linearized = new Bitset(ops.length);
  const cache = new Map<number, { bits: Bitset; stateKey: string }[]>();
  const stack: { node: Node; state: S }[] = [];
  let longest: Operation<I, O>[] = [];
  let state = model.init();
  let steps = 0;
  let entry = head.next;

  while (completedLeft > 0) {
    if (++steps > stepsMax) return { verdict: 'unknown', steps, longest };
    // Invariant: while a completed operation is unlinearized its return event is in the list, so the
    // walk from the head meets a return event before running off the end.
    if (entry === undefined) throw new Error('linearizability search ran past the end of the event list');
    if (entry.isCall) {
      const op = ops[entry.id] as Operation<I, O>;
      const [ok, next] = model.step(state, op.input, op.output);
      if (ok) {
        const bits = linearized.clone();
        bits.set(entry.id);
        if (remember(cache, bits, model.key(next))) {
          stack.push({ node: entry, state });
          state = next;
          linearized.set(entry.id);
          if (entry.match) completedLeft--;
          lift(entry);
          if (stack.length > longest.length) longest = stack.map((s) => ops[s.node.id] as Operation<I, O>);
          entry = head.next;
          continue;
        }
      }
      entry = entry.next;
    } else {
      const top = stack.pop();
      if (top === undefined) return { verdict: 'illegal', steps, longest };
      unlift(top.node);
      linearized.clear(top.node.id);
      if (top.node.match) completedLeft++;
      state = top.state;
      entry = top.node.next;
    }
  }
  return { verdict: 'ok', steps, longest };
}

/** Records a configuration; false when it was seen before. */
function remember(cache: Map<number, { bits: Bitset; stateKey: string }[]>, bits: Bitset, stateKey: string): boolean {
  const h = (bits.hash ^ stringHash(stateKey)) >>> 0;
  const bucket = cache.get(h);
  if (bucket === undefined) {
    cache.set(h, [{ bits, stateKey }]);
    return true;
  }
  if (bucket.some((c) => c.stateKey === stateKey && c.bits.equals(bits))) return false;
  bucket.push({ bits, stateKey });
  return true;
}

function stringHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Builds the event list with a sentinel head. Events sort by time; at equal times calls come before
 * returns, so operations that merely touch count as concurrent (never a false alarm).
 */
function buildEventList<I, O>(ops: Operation<I, O>[]): Node {
  const events: { time: number; node: Node }[] = [];
  ops.forEach((op, id) => {
    const call: Node = { id, isCall: true, match: undefined, prev: undefined, next: undefined };
    events.push({ time: op.call, node: call });
    if (op.return !== Infinity) {
      const ret: Node = { id, isCall: false, match: undefined, prev: undefined, next: undefined };
      call.match = ret;
      events.push({ time: op.return, node: ret });
    }
  });
  events.sort((a, b) => a.time - b.time || Number(!a.node.isCall) - Number(!b.node.isCall) || a.node.id - b.node.id);
  const head: Node = { id: -1, isCall: false, match: undefined, prev: undefined, next: undefined };
  let last = head;
  for (const { node } of events) {
    last.next = node;
    node.prev = last;
    last = node;
  }
  return head;
}

/** Unlinks a call and its return; their own links stay so unlift can put them back (dancing links). */
function lift(call: Node): void {
  unlink(call);
  if (call.match) unlink(call.match);
}

function unlift(call: Node): void {
  if (call.match) relink(call.match);
  relink(call);
}

function unlink(n: Node): void {
  if (n.prev) n.prev.next = n.next;
  if (n.next) n.next.prev = n.prev;
}

function relink(n: Node): void {
  if (n.prev) n.prev.next = n;
  if (n.next) n.next.prev = n;
}
