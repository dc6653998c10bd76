// POST /apis/coffer.dev/v1/snapshot through app.inject() over a real single-member replica: an
// administrator gets the store as a complete snapshot stream; anyone else gets 403 and no data.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildClientApi } from '../../../src/api/index.ts';
import { SnapshotStreamReader, snapshotStreamContentType } from '../../../src/storage/backup/index.ts';
import type { SnapshotRecord } from '../../../src/storage/mvcc/index.ts';
import { backendOf, InProcessCluster } from '../replication/harness.ts';

let cluster: InProcessCluster;
let app: FastifyInstance;
const admin = { user: 'admin', groups: ['system:masters'], kind: 'client' as const };
const viewer = { user: 'viewer', groups: ['viewers'], kind: 'client' as const };
const enc = (s: string) => new TextEncoder().encode(s);

before(async () => {
  cluster = await InProcessCluster.start(1);
  await cluster.leader();
  const replica = cluster.replica(1);
  const backend = backendOf(replica);
  app = buildClientApi({ backend, identify: (request) => (request.headers['x-test-user'] === 'viewer' ? viewer : admin) });
  await app.ready();
  await replica.propose({ type: 'put', key: enc('/registry/secrets/ns/one'), value: enc('value-one-9c1') });
  await replica.propose({ type: 'put', key: enc('/registry/secrets/ns/one'), value: enc('value-two-9c1') });
});

after(async () => {
  await app.close();
  await cluster.close();
});

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield await Promise.resolve(bytes);
}

test('an administrator gets a complete snapshot stream of the store at its current revision', async () => {
  const response = await app.inject({ method: 'POST', url: '/apis/coffer.dev/v1/snapshot', payload: '{}' });
  assert.equal(response.statusCode, 200);
  assert.equal(response.headers['content-type'], snapshotStreamContentType);
  const reader = new SnapshotStreamReader(once(response.rawPayload));
  const begin = await reader.begin();
  assert.deepEqual(begin, { clusterId: 'test-cluster', memberId: 1 });
  const records: SnapshotRecord[] = [];
  for await (const record of reader.records()) records.push(record);
  const head = records[0];
  assert.ok(head?.type === 'header');
  assert.equal(head.revision, cluster.replica(1).status().revision);
  const values = records.flatMap((r) => (r.type === 'page' && new TextDecoder().decode(r.page.key) === '/registry/secrets/ns/one' ? [new TextDecoder().decode(r.page.value)] : []));
  assert.deepEqual(values, ['value-one-9c1', 'value-two-9c1'], 'every revision of the key still held is in the snapshot');
});

async function asViewer() {
  return app.inject({ method: 'POST', url: '/apis/coffer.dev/v1/snapshot', payload: '{}', headers: { 'x-test-user': 'viewer' } });
}

test('a caller outside system:masters is refused with 403 and gets no data', async () => {
  const response = await asViewer();
  assert.equal(response.statusCode, 403);
  const body = response.json<{ kind: string; reason: string }>();
  assert.equal(body.kind, 'Status');
  assert.equal(body.reason, 'Forbidden');
  assert.doesNotMatch(response.body, /value-/);
});

test('even an RBAC rule allowing it does not open snapshots to a caller outside system:masters', async () => {
  const post = (url: string, body: unknown) => app.inject({ method: 'POST', url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const role = await post('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'snapshotter' },
    rules: [{ apiGroups: ['coffer.dev'], resources: ['snapshot'], verbs: ['create'] }],
  });
  assert.equal(role.statusCode, 201, role.body);
  const binding = await post('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'viewer-snapshots' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'snapshotter' },
    subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'viewer' }],
  });
  assert.equal(binding.statusCode, 201, binding.body);
  // The policy holder follows the store by watch: wait (bounded) until RBAC lets the request through.
  const deadline = Date.now() + 10_000;
  let response = await asViewer();
  while (!/only system:masters may/.test(response.body) && Date.now() < deadline) {
    await new Promise((resolve) => setImmediate(resolve));
    response = await asViewer();
  }
  assert.equal(response.statusCode, 403);
  assert.match(response.json<{ message: string }>().message, /only system:masters may take a snapshot of every Secret/);
  assert.doesNotMatch(response.body, /value-/);
});
