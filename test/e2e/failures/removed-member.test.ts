// A removed member says so — in its status, on /readyz and /livez, in a metric, in its log and in
// `coffer status` — and exits once its grace period is over, against real member processes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Cluster, delay, runCoffer } from '../../support/cluster/index.ts';

let cluster: Cluster;
const graceSeconds = 10;

before(async () => {
  cluster = await Cluster.start({ size: 3, backend: 'coffer', memberArgs: ['--exit-grace', `${graceSeconds}s`] });
  await cluster.waitPublished();
});

after(async () => {
  await cluster.stop();
});

test('a removed member reports its removal everywhere an operator looks, then exits 0', async () => {
  const leader = await cluster.leader();
  const removed = [0, 1, 2].find((i) => i !== leader)!;
  const name = cluster.names[removed]!;
  const out = await runCoffer(cluster, 'member', 'remove', name);
  assert.equal(out.code, 0, out.stderr);

  const client = cluster.client(removed, { requestTimeoutMs: 1_000 });
  let status = await client.status();
  while (!status.errors.includes('this member was removed from the cluster')) {
    assert.ok(cluster.members[removed]!.running, 'the member exited before it said it was removed');
    await delay(50);
    status = await client.status();
  }
  assert.equal(status.leader, '0', 'no stale leader');

  const readyz = await cluster.get(removed, '/readyz');
  assert.equal(readyz.status, 503);
  assert.match(readyz.body, /^\[-\]leader failed: this member was removed from the cluster$/m);
  assert.match(readyz.body, /^readyz check failed$/m);
  const livez = await cluster.get(removed, '/livez');
  assert.equal(livez.status, 503);
  assert.match(livez.body, new RegExp(`^\\[-\\]membership failed: this member was removed from the cluster; the process exits in ${graceSeconds} s$`, 'm'));
  assert.match((await cluster.get(removed, '/metrics')).body, /^coffer_member_removed 1$/m);

  const report = await runCoffer(cluster, 'status');
  assert.equal(report.code, 1);
  assert.match(report.stderr, new RegExp(`coffer: problem: ${cluster.clientUrl(removed)}: this member was removed from the cluster`));
  assert.doesNotMatch(report.stderr, /no leader/, 'the two members left have their leader');

  assert.equal(await cluster.members[removed]!.exited, 0, 'a removed member exits with 0 after its grace period');
  const log = await readFile(cluster.members[removed]!.logFile, 'utf8');
  assert.match(log, new RegExp(`this member was removed from the cluster; the process exits in ${graceSeconds} s \\(--stay-when-removed keeps it running for inspection\\)`));
});
