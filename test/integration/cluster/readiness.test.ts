// /readyz with Kubernetes' meaning on a real cluster: a member that lost its leader is not ready,
// and becomes ready again once it hears from a leader and has applied what it knows committed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../../support/cluster/index.ts';

let cluster: Cluster;

before(async () => {
  cluster = await Cluster.start({ size: 3, backend: 'coffer' });
  await cluster.waitReady();
});

after(async () => {
  await cluster.stop();
});

async function readyz(member: number): Promise<number> {
  return (await cluster.get(member, '/readyz')).status;
}

/** Asks again on every timer turn until the member answers `code`; fails after `limitMs`. */
async function until(member: number, code: number, limitMs = 30_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    if (await readyz(member) === code) return;
    assert.ok(Date.now() - start < limitMs, `member ${member} did not answer ${code} within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

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
