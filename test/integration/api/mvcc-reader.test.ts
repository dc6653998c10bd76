// The local store the API is handed (KvBackend.mvcc()) is read-only: it reads, watches, hashes and
// exports, and holds no way to write around Raft. The type checker holds the line at compile time
// (each @ts-expect-error below fails `npm run typecheck` if a write joins the view); the test holds it
// at run time over a real replica's store.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { replicaBackend } from '../../../src/api/index.ts';
import type { MvccReader } from '../../../src/api/kv/backend.ts';
import { InProcessCluster } from '../replication/harness.ts';

const cluster = await InProcessCluster.start(1);
after(() => cluster.close());

/** Never called: it only has to type-check. */
export function writesAreNotInTheView(view: MvccReader): void {
  // @ts-expect-error put would bypass Raft
  void view.put;
  // @ts-expect-error deleteRange would bypass Raft
  void view.deleteRange;
  // @ts-expect-error txn would bypass Raft
  void view.txn;
  // @ts-expect-error compact would bypass Raft
  void view.compact;
  // @ts-expect-error applyBatch is the replica's alone
  void view.applyBatch;
}

test('the API reads the replica\'s store through a view that holds no write', async () => {
  await cluster.leader();
  const replica = cluster.replica(1);
  const backend = replicaBackend(replica, { clusterId: 'test', dbSizeBytes: () => Promise.resolve(0) });
  const written = await backend.propose({ type: 'put', key: new TextEncoder().encode('k'), value: new TextEncoder().encode('v') });
  const view = backend.mvcc();
  assert.equal(view.currentRevision(), written.revision);
  assert.equal((await view.range(new TextEncoder().encode('k'))).kvs.length, 1);
  for (const write of ['put', 'deleteRange', 'txn', 'compact', 'applyBatch', 'close', 'syncToDisk']) {
    assert.equal(write in view, false, `the view offers ${write}`);
  }
  assert.equal(Object.isFrozen(view), true);
  assert.equal(backend.mvcc(), view, 'one view per store');
});
