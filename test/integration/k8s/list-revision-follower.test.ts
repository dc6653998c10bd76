// A list asked at (or not older than) a revision the cluster has committed but this member has not yet
// applied waits for the member to catch up — a linearizable read, even for `consistency=serializable` —
// instead of answering 504 "Too large resource version" for a revision that exists.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildClientApi } from '../../../src/api/index.ts';
import { ManualClock } from '../../../src/base/index.ts';
import { loadPolicies } from '../../../src/rbac/index.ts';
import { bootstrapRegistry } from '../../../src/registry/index.ts';
import { backendOf, InProcessCluster, waitLimitMs } from '../replication/harness.ts';
import { waitUntil } from '../../support/wait.ts';
import { admin, call, configMap, policiesDir } from './harness.ts';

let cluster: InProcessCluster;
let leader: number;
let follower: number;
const apps: Record<'leader' | 'follower', FastifyInstance | undefined> = { leader: undefined, follower: undefined };

function appOn(id: number): FastifyInstance {
  return buildClientApi({
    backend: backendOf(cluster.replica(id)), clock: new ManualClock(Date.now()),
    identify: (request) => request.headers['x-user'] === 'admin' ? { user: 'admin', groups: ['system:masters'], kind: 'client' as const } : undefined,
  });
}

before(async () => {
  cluster = await InProcessCluster.start(3);
  leader = await cluster.leader();
  follower = [1, 2, 3].find((id) => id !== leader)!;
  await bootstrapRegistry(backendOf(cluster.replica(leader)), (await loadPolicies(policiesDir)).rbac);
  apps.leader = appOn(leader);
  apps.follower = appOn(follower);
  await apps.leader.ready();
  await apps.follower.ready();
  const revision = cluster.replica(leader).mvcc().currentRevision();
  await waitUntil(() => cluster.replica(follower).mvcc().currentRevision() >= revision, waitLimitMs, 'the follower has the bootstrap');
});
after(async () => {
  await apps.follower?.close();
  await apps.leader?.close();
  await cluster.close();
});

test('Exact and NotOlderThan a revision the follower has not applied: answered once it has, not 504', async () => {
  for (const [name, match] of [['late-exact', 'Exact'], ['late-fresh', 'NotOlderThan']] as const) {
    cluster.cut(leader, follower);
    assert.equal((await call(apps.leader!, 'POST', '/api/v1/namespaces/default/configmaps', configMap(name))).status, 201);
    const committed = cluster.replica(leader).mvcc().currentRevision();
    assert.ok(cluster.replica(follower).mvcc().currentRevision() < committed, 'the follower is behind');
    const readIndexes = cluster.sent.filter((m) => m.type === 'readIndex' && m.from === follower).length;
    const answer = call(apps.follower!, 'GET', `/api/v1/namespaces/default/configmaps?resourceVersion=${committed}&resourceVersionMatch=${match}&consistency=serializable`, undefined, admin);
    // The follower either answers at once (it did not wait) or asks the leader where the cluster is.
    await Promise.race([answer, waitUntil(() => cluster.sent.filter((m) => m.type === 'readIndex' && m.from === follower).length > readIndexes, waitLimitMs, 'the follower asks for a read index')]);
    cluster.heal();
    const reply = await answer;
    assert.equal(reply.status, 200, `${match}: ${JSON.stringify(reply.body)}`);
    assert.ok(reply.body.items.some((i) => i.metadata.name === name), match);
    assert.ok(Number(reply.body.metadata.resourceVersion) >= committed, match);
  }
});
