// Each API of the client port is a fastify plugin answering in its own dialect (src/api/dialect.ts):
// a path under an API's prefix that no route serves, a refusal by the shared gate, and a handler's
// error are each answered as that API answers — Kubernetes Status, etcd's gateway error, or a gRPC
// status — and the shared steps take what they need (a metric label) from the route, not the path.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildClientApi } from '../../../src/api/index.ts';
import { waitUntil } from '../../support/wait.ts';
import { backendOf, InProcessCluster } from '../replication/harness.ts';

let cluster: InProcessCluster;
let app: FastifyInstance;
const counted: Array<{ verb: string; resource: string; code: number }> = [];
const admin = { user: 'admin', groups: ['system:masters'], kind: 'client' as const };
const keys = {
  status: () => Promise.reject(new Error('not used')),
  rotateDek: () => Promise.reject(new Error('not used')),
  rotateKek: () => Promise.reject(new Error('not used')),
};

before(async () => {
  cluster = await InProcessCluster.start(1);
  await cluster.leader();
  app = buildClientApi({
    backend: backendOf(cluster.replica(1)),
    identify: (request) => (request.headers['x-test-user'] === 'none' ? undefined : admin),
    keys,
    metrics: {
      request: (verb, resource, code) => { counted.push({ verb, resource, code }); },
      contentType: () => 'text/plain',
      render: () => Promise.resolve(''),
    },
  });
  await app.ready();
});

after(async () => {
  await app.close();
  await cluster.close();
});

const kubernetesNotFound = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', code: 404 };

async function call(method: 'GET' | 'POST', url: string, headers: Record<string, string> = {}, payload?: string) {
  const reply = await app.inject({ method, url, headers, ...(payload !== undefined ? { payload } : {}) });
  return { status: reply.statusCode, body: reply.body === '' ? undefined : reply.json<Record<string, unknown>>(), trailers: reply.trailers };
}

test('a path no route serves answers in the dialect of the API whose prefix it is under', async () => {
  const kubernetes = await call('GET', '/apis/example.com/v1/widgets');
  assert.equal(kubernetes.status, 404);
  assert.deepEqual(kubernetes.body, kubernetesNotFound);

  const kv = await call('POST', '/v3/kv/nope', {}, '{}');
  assert.equal(kv.status, 404);
  assert.deepEqual(kv.body, { error: 'no route POST /v3/kv/nope', code: 5, message: 'no route POST /v3/kv/nope' });

  for (const url of ['/apis/coffer.dev/v1/keys/nope', '/apis/coffer.dev/v1/snapshot/nope']) {
    const adminApi = await call('POST', url, {}, '{}');
    assert.equal(adminApi.status, 404, url);
    assert.deepEqual(adminApi.body, kubernetesNotFound, url);
  }

  // A gRPC call is known by its content type: an unknown method is UNIMPLEMENTED wherever it lands.
  for (const url of ['/etcdserverpb.Maintenance/Downgrade', '/v3/kv/nope', '/apis/example.com/v1/widgets']) {
    const grpc = await call('POST', url, { 'content-type': 'application/grpc' }, '');
    assert.equal(grpc.status, 200, url);
    assert.deepEqual([grpc.trailers['grpc-status'], decodeURIComponent(String(grpc.trailers['grpc-message']))], ['12', `unknown method ${url}`], url);
  }
});

test('a refusal by the shared gate answers in the dialect of the route it reached', async () => {
  const none = { 'x-test-user': 'none' };
  const kubernetes = await call('GET', '/api/v1/namespaces/default/secrets', none);
  assert.equal(kubernetes.status, 401);
  assert.equal(kubernetes.body?.kind, 'Status');
  assert.equal(kubernetes.body?.reason, 'Unauthorized');

  for (const url of ['/v3/kv/range', '/v3/kv/nope']) {
    const kv = await call('POST', url, none, '{}');
    assert.equal(kv.status, 401, url);
    assert.deepEqual(kv.body, { error: 'a verified client certificate is required', code: 16, message: 'a verified client certificate is required' }, url);
  }

  const adminApi = await call('GET', '/apis/coffer.dev/v1/keys', none);
  assert.equal(adminApi.status, 401);
  assert.equal(adminApi.body?.kind, 'Status');

  const grpc = await call('POST', '/etcdserverpb.KV/Range', { ...none, 'content-type': 'application/grpc' }, '');
  assert.equal(grpc.trailers['grpc-status'], '16');
});

test("a handler's error answers in its API's dialect", async () => {
  const kv = await call('POST', '/v3/kv/range', {}, '{"key": 7}');
  assert.equal(kv.status, 400);
  assert.equal(kv.body?.code, 3);
  assert.equal(kv.body?.kind, undefined, 'not a Kubernetes Status');

  const kubernetes = await call('POST', '/api/v1/namespaces/default/configmaps', { 'content-type': 'application/json' }, '{"metadata": ');
  assert.equal(kubernetes.status, 400);
  assert.equal(kubernetes.body?.kind, 'Status');
});

test('/metrics counts a call under the resource its API declares, not one read from its path', async () => {
  counted.length = 0;
  await call('POST', '/v3/kv/range', {}, '{"key": "YQ=="}');
  await call('POST', '/v3/kv/nope', {}, '{}');
  await call('GET', '/version');
  // Counted once each response is finished (onResponse), which may come after inject resolves.
  await waitUntil(() => counted.length === 3, 5_000, 'three requests counted', { pollMs: 5, detail: () => JSON.stringify(counted) });
  assert.deepEqual(counted, [
    { verb: 'post', resource: 'kv', code: 200 },
    { verb: 'post', resource: 'kv', code: 404 },
    { verb: 'get', resource: 'nonresource', code: 200 },
  ]);
});
