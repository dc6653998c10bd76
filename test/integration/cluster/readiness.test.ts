// /readyz with Kubernetes' meaning on a real cluster: ready means a write can be served (the
// first-start objects exist, the audit log takes records); a member that lost its leader is not ready,
// and becomes ready again once it hears from a leader and has applied what the leader committed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { K8sClient } from '../../../src/client/index.ts';
import { Cluster } from '../../support/cluster/index.ts';
import { waitUntil } from '../../support/wait.ts';

let cluster: Cluster;

before(async () => {
  // Fresh: the first test asks /readyz while the members may still be creating the first-start objects.
  cluster = await Cluster.start({ size: 3, backend: 'coffer' });
});

after(async () => {
  await cluster.stop();
});

async function readyz(member: number): Promise<number> {
  return (await cluster.get(member, '/readyz')).status;
}

/** Asks again until the member answers `code`; fails after `limitMs`. */
function until(member: number, code: number, limitMs = 30_000): Promise<true> {
  return waitUntil(async () => (await readyz(member)) === code, limitMs, `member ${member} answers /readyz ${code}`);
}

test('on a fresh cluster, a member that answers /readyz 200 takes a write to namespace default at once', async () => {
  for (const i of [0, 1, 2]) {
    await until(i, 200);
    const client = new K8sClient({ endpoints: [cluster.clientUrl(i)], tls: cluster.clientTls() });
    try {
      const made = await client.create('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `ready-${i}` }, data: { a: '1' } }, { namespace: 'default' });
      assert.equal(made.metadata?.name, `ready-${i}`);
    } finally {
      client.close();
    }
  }
  const verbose = await cluster.get(0, '/readyz?verbose');
  assert.equal(verbose.status, 200);
  for (const check of ['replica', 'membership', 'leader', 'linearizable-read', 'first-start-objects', 'audit']) {
    assert.match(verbose.body, new RegExp(`^\\[\\+\\]${check} ok$`, 'm'));
  }
});

test('readiness goes false on a member cut off from its leader and true again after healing', async () => {
  const leader = await cluster.leader();
  const follower = [0, 1, 2].find((i) => i !== leader)!;
  // Right after start, members still apply the entries that record their URLs: ready once caught up.
  await until(follower, 200);
  cluster.network.isolate(follower);
  await until(follower, 503);
  cluster.network.heal();
  await until(follower, 200);
});
