/**
 * A transaction that writes nothing, served as a read (MvccStore.readTxn): etcd serves such a transaction
 * (isTxnReadonly) on the member that took it, after a ReadIndex round, and never proposes it; so does
 * Coffer (src/api/kv/service.ts), and this evaluates it against the local store. Read-only: it changes
 * nothing, writes nothing to disk and runs outside the write queue, beside writes.
 *
 * Semantics are the applier's (txn-reads.ts is the one implementation of compares and ranges both use):
 * every level's compares, then the ranges of the path chosen, all at one committed revision R — the visible
 * revision when the read began — and every response answers with R, as a transaction that changed nothing
 * does when applied. All its reads share one byte budget (read-budget.ts): over rangeResultBytesMax it is
 * refused with E_LIMIT, what it opened wiped. A compaction past R while it reads (R's state is then no longer
 * in the index) makes it start again at the new revision, at most readTxnAttemptsMax times in all.
 */
import { MvccError } from './errors.ts';
import { rangeResultBytesMax } from '../../config/index.ts';
import type { ReadAccount } from './read-account.ts';
import { ReadBudget } from './read-budget.ts';
import { CommittedView, StaleViewError } from './reads.ts';
import type { StoreState } from './state.ts';
import { chooseBranches, isReadOnlyTxn, readRange } from './txn-reads.ts';
import type { TxnRequest, TxnResponse } from './types.ts';
import { checkWriteOp } from './validate.ts';

/** Times a read-only transaction is started over a compaction that passed its revision before it is refused as compacted. */
const readTxnAttemptsMax = 3;

/** MvccStore.readTxn. */
export async function readTxn(state: StoreState, request: TxnRequest, account?: ReadAccount): Promise<TxnResponse> {
  state.checkUsable();
  checkWriteOp(request);
  if (!isReadOnlyTxn(request)) throw new MvccError('E_BAD_REQUEST', 'a transaction that writes is applied through the log, not read');
  for (let attempt = 1; ; attempt++) {
    const view = new CommittedView(state);
    const budget = new ReadBudget(rangeResultBytesMax, account);
    try {
      const chosen = new Map<TxnRequest, boolean>();
      await chooseBranches(view, request, chosen, budget);
      return await runReads(view, request, chosen, budget);
    } catch (error) {
      budget.wipe();
      if (error instanceof StaleViewError && attempt < readTxnAttemptsMax) continue;
      throw error;
    } finally {
      await view.close();
    }
  }
}

/** The responses of the path chosen at every level: ranges, and nested transactions' own. */
async function runReads(view: CommittedView, op: TxnRequest, chosen: ReadonlyMap<TxnRequest, boolean>, budget: ReadBudget): Promise<TxnResponse> {
  const succeeded = chosen.get(op)!;
  const responses: TxnResponse['responses'] = [];
  for (const child of succeeded ? op.success : op.failure) {
    if (child.type === 'range') responses.push(await readRange(view, child, view.at, budget));
    else if (child.type === 'txn') responses.push(await runReads(view, child, chosen, budget));
    else throw new MvccError('E_BAD_REQUEST', 'a transaction that writes is applied through the log, not read');
  }
  return { type: 'txn', revision: view.at, succeeded, responses };
}
