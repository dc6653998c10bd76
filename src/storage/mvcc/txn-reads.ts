/**
 * What a transaction reads, one implementation for both ways a transaction runs: applied through Raft
 * (apply.ts: at the batch's latest state, its own earlier writes included) and served as a read when it
 * writes nothing (read-txn.ts: at one committed revision, on the member that took it). Which branch each
 * level takes (etcd's compare semantics) and what a range answers are decided here, so both agree.
 *
 * Every page either opens counts against the request's ReadBudget as it opens (read-budget.ts): the
 * ranges of the branches that run and the pages compares read, nested transactions included, share
 * rangeResultBytesMax.
 */
import { Buffer } from 'node:buffer';
import { compareRangeKeysMax } from '../../config/index.ts';
import { MvccError, compactedError } from './errors.ts';
import type { KeyAt } from './key-index.ts';
import { type KeySpan, stringToKey, toSpan } from './keys.ts';
import type { Page } from './page.ts';
import type { ReadBudget } from './read-budget.ts';
import type { Revision } from './revision.ts';
import type { Compare, KeyValue, RangeRequest, RangeResponse, TxnOp, TxnRequest } from './types.ts';

/** The store state a transaction reads. */
export interface TxnReadView {
  /** The revision a read that names none is at. */
  readonly at: number;
  /** The newest revision a read may name (later: E_FUTURE_REV). */
  newest(): number;
  compactRevision(): number;
  /** Walks the key index over `span` as of `at`, synchronously. */
  walk(span: KeySpan, at: number, visit: (key: string, keyAt: KeyAt) => boolean): void;
  /** Opens the pages of `revs` in order, each counted against `budget` as it opens. */
  readPages(revs: readonly Revision[], budget: ReadBudget): Promise<Page[]>;
  /** The lease `key` is attached to, `keyAt` being the key as the compare found it. */
  leaseOf(key: string, keyAt: KeyAt, budget: ReadBudget): Promise<number>;
  /** Whether `page` is held by someone else than the read that asked for it (a page of the batch itself): never wiped. */
  shares(page: Page): boolean;
}

export function pageToKv(page: Page): KeyValue {
  return { key: page.key, value: page.value, createRevision: page.createRevision, modRevision: page.main, version: page.version, lease: page.lease };
}

/** Whether a transaction writes nothing: no put or deleteRange in any branch, at any level (etcd's isTxnReadonly, nested ones included). */
export function isReadOnlyTxn(op: TxnRequest): boolean {
  return [...op.success, ...op.failure].every((o: TxnOp) => o.type === 'range' || (o.type === 'txn' && isReadOnlyTxn(o)));
}

/**
 * Records whether each transaction on the path to run succeeds, every level's compares evaluated against
 * the view (etcd's compareToPath); the same request object always has the same outcome.
 */
export async function chooseBranches(view: TxnReadView, op: TxnRequest, chosen: Map<TxnRequest, boolean>, budget: ReadBudget): Promise<void> {
  let succeeded = true;
  for (const c of op.compare) {
    if (!(await holds(view, c, budget))) {
      succeeded = false;
      break;
    }
  }
  chosen.set(op, succeeded);
  for (const child of succeeded ? op.success : op.failure) {
    if (child.type === 'txn') await chooseBranches(view, child, chosen, budget);
  }
}

/** As etcd evaluates a compare: over every key of its range (one key without `end`); over no key, as a missing key. */
async function holds(view: TxnReadView, c: Compare, budget: ReadBudget): Promise<boolean> {
  const found: [string, KeyAt][] = [];
  view.walk(toSpan(c.key, c.end), view.at, (key, at) => {
    found.push([key, at]);
    if (found.length > compareRangeKeysMax) throw new MvccError('E_LIMIT', `a compare over a key range holds more than ${compareRangeKeysMax} keys (compareRangeKeysMax)`);
    return true;
  });
  // A value compare on no key fails (there is no value to hold); the numbers of a missing key are 0.
  if (found.length === 0) return c.target !== 'value' && outcome(Math.sign(-(c.value as number)), c.result);
  for (const [key, at] of found) {
    if (!(await holdsFor(view, c, key, at, budget))) return false;
  }
  return true;
}

async function holdsFor(view: TxnReadView, c: Compare, key: string, at: KeyAt, budget: ReadBudget): Promise<boolean> {
  if (c.target === 'value') {
    const [page] = await view.readPages([at.mod], budget);
    const held = outcome(Buffer.compare(page!.value, c.value as Uint8Array), c.result);
    if (!view.shares(page!)) page!.value.fill(0);
    return held;
  }
  const actual = c.target === 'lease' ? await view.leaseOf(key, at, budget) : pick(at, c.target);
  return outcome(Math.sign(actual - (c.value as number)), c.result);
}

/** A range of a transaction (or a Range): at its revision, or the view's; answered with `headerRevision`. */
export async function readRange(view: TxnReadView, op: RangeRequest, headerRevision: number, budget: ReadBudget): Promise<RangeResponse> {
  const options = op.options ?? {};
  const atMain = options.revision === undefined || options.revision === 0 ? view.at : options.revision;
  if (atMain !== view.at) {
    if (atMain < view.compactRevision()) throw compactedError(atMain, view.compactRevision());
    if (atMain > view.newest()) throw new MvccError('E_FUTURE_REV', `range revision ${atMain} is after the current revision ${view.newest()}`);
  }
  const found: { key: string; at: KeyAt }[] = [];
  let count = 0;
  const limit = options.limit ?? 0;
  view.walk(toSpan(op.key, op.end), atMain, (key, at) => {
    count++;
    if (options.countOnly !== true && (limit === 0 || found.length < limit)) found.push({ key, at });
    return true;
  });
  let kvs: KeyValue[];
  if (options.keysOnly === true) {
    kvs = found.map(({ key, at }) => ({
      key: stringToKey(key), value: new Uint8Array(0), createRevision: at.createRevision, modRevision: at.mod.main, version: at.version, lease: 0,
    }));
    for (const kv of kvs) budget.take(kv.key, kv.value, false);
  } else {
    kvs = (await view.readPages(found.map((f) => f.at.mod), budget)).map(pageToKv);
  }
  return { type: 'range', kvs, count, more: limit > 0 && count > limit, revision: headerRevision };
}

function pick(at: KeyAt, target: 'version' | 'createRevision' | 'modRevision'): number {
  switch (target) {
    case 'version':
      return at.version;
    case 'createRevision':
      return at.createRevision;
    case 'modRevision':
      return at.mod.main;
  }
}

function outcome(sign: number, result: Compare['result']): boolean {
  switch (result) {
    case 'equal':
      return sign === 0;
    case 'notEqual':
      return sign !== 0;
    case 'greater':
      return sign > 0;
    case 'less':
      return sign < 0;
  }
}
