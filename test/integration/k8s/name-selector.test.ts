// A list or watch with an exact `metadata.name=NAME` field selector is authorized as a request for that
// name (Kubernetes' RequestInfoFactory), so a role restricted by resourceNames may list and watch its one
// object — `kubectl get secret NAME -w`, an informer scoped to one object. And every other selector, or
// encoding of one, that could return another object is still refused: what authorization reads as the
// name is exactly what the list or watch then filters on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { admin, asUser, call, secret, startApi, type Api, type Body } from './harness.ts';

let api: Api;
const ns = '/api/v1/namespaces/default';
const rbac = '/apis/rbac.authorization.k8s.io/v1/namespaces/default';
const rotter = asUser('rotter');
const otherValue = Buffer.from('db-value-never-shown').toString('base64');

before(async () => {
  api = await startApi();
  assert.equal((await call(api.app, 'POST', `${rbac}/roles`, { metadata: { name: 'rot-only' }, rules: [{ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['secrets'], resourceNames: ['rot'] }] })).status, 201);
  assert.equal((await call(api.app, 'POST', `${rbac}/rolebindings`, { metadata: { name: 'rot-only' }, subjects: [{ kind: 'User', name: 'rotter', apiGroup: 'rbac.authorization.k8s.io' }], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'rot-only' } })).status, 201);
  assert.equal((await call(api.app, 'POST', `${ns}/secrets`, secret('rot', { k: 'rot-value' }))).status, 201);
  assert.equal((await call(api.app, 'POST', `${ns}/secrets`, secret('db', { k: 'db-value-never-shown' }))).status, 201);
});
after(async () => { await api.close(); });

const accepts: Record<string, string | undefined> = {
  json: undefined,
  table: 'application/json;as=Table;v=v1;g=meta.k8s.io, application/json',
  protobuf: 'application/vnd.kubernetes.protobuf, application/json',
  metadata: 'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io, application/json',
};

async function get(url: string, accept: string | undefined, who: Record<string, string> = rotter): Promise<{ status: number; text: string }> {
  const response = await api.app.inject({ method: 'GET', url, headers: { ...who, ...(accept ? { accept } : {}) }, payloadAsStream: true });
  // The whole answer, or of a watch that was allowed its first line (an initial object), then the stream is closed.
  const stream: Readable = response.stream();
  let text = '';
  for await (const chunk of stream) {
    text += (chunk as Buffer).toString();
    if (url.includes('watch=') && response.statusCode === 200 && text.includes('\n')) break;
  }
  stream.destroy();
  return { status: response.statusCode, text };
}

test('a list with metadata.name=rot, in any spelling, is allowed and holds rot only', async () => {
  for (const selector of ['metadata.name=rot', 'metadata.name==rot', 'metadata.name%3Drot', '%6Detadata.name%3D%3Drot', '+metadata.name+=+rot+', 'metadata.name%20=%20rot', 'metadata.name=rot,']) {
    for (const [view, accept] of Object.entries(accepts)) {
      const reply = await get(`${ns}/secrets?fieldSelector=${selector}`, accept);
      assert.equal(reply.status, 200, `${selector} (${view}): ${reply.text}`);
      const body = JSON.parse(reply.text) as Body;
      const names = view === 'table' ? body.rows.map((r) => (r as unknown as { object: { metadata: { name: string } } }).object.metadata.name) : body.items.map((i) => i.metadata.name);
      assert.deepEqual(names, ['rot'], `${selector} (${view})`);
      assert.ok(!reply.text.includes(otherValue));
    }
  }
  // A parameter of another name is no selector (names are case-sensitive, as in Kubernetes): the list is still of rot only.
  const other = await get(`${ns}/secrets?fieldSelector=metadata.name%3Drot&fieldselector=metadata.name%3Ddb`, undefined);
  assert.deepEqual((JSON.parse(other.text) as Body).items.map((i) => i.metadata.name), ['rot']);
  const values = JSON.parse((await get(`${ns}/secrets?fieldSelector=metadata.name%3Drot`, undefined)).text) as Body;
  assert.deepEqual(values.items[0]?.data, { k: Buffer.from('rot-value').toString('base64') }, 'with its values: the caller may get it');
});

test('a watch with metadata.name=rot is allowed and sees rot change, never db', async () => {
  const start = (await call(api.app, 'GET', `${ns}/secrets`)).body.metadata.resourceVersion;
  const response = await api.app.inject({ method: 'GET', url: `${ns}/secrets?watch=true&fieldSelector=metadata.name%3Drot&resourceVersion=${start}`, headers: rotter, payloadAsStream: true });
  assert.equal(response.statusCode, 200);
  const stream: Readable = response.stream();
  let text = '';
  stream.on('data', (chunk: Buffer) => { text += chunk.toString(); });
  assert.equal((await call(api.app, 'PUT', `${ns}/secrets/db`, secret('db', { k: 'db-value-never-shown', more: 'x' }))).status, 200);
  assert.equal((await call(api.app, 'PUT', `${ns}/secrets/rot`, secret('rot', { k: 'rot-value', more: 'y' }))).status, 200);
  while (!text.includes('\n')) await new Promise((resolve) => stream.once('data', resolve));
  stream.destroy();
  const event = JSON.parse(text.slice(0, text.indexOf('\n'))) as { type: string; object: Body };
  assert.deepEqual([event.type, event.object.metadata.name], ['MODIFIED', 'rot']);
  assert.ok(!text.includes(otherValue));
});

test('every list or watch that could return another object is refused to a role restricted to rot', async () => {
  const selectors = [
    '', 'fieldSelector=', 'fieldSelector=metadata.name!%3Drot', 'fieldSelector=metadata.name%3Ddb',
    'fieldSelector=metadata.name%3Drot&fieldSelector=metadata.name%3Ddb', 'fieldSelector=metadata.name%3Ddb&fieldSelector=metadata.name%3Drot',
    'fieldSelector=metadata.name%3Drot,metadata.name%3Ddb', 'fieldSelector=metadata.name%3Drot%2Cmetadata.name%3Ddb', 'fieldSelector=metadata.name%3Drot,metadata.name!%3Ddb',
    'fieldSelector=metadata.name%3Drot,type%3DOpaque', 'fieldSelector=metadata.namespace%3Ddefault', 'fieldSelector=type%3DOpaque',
    'fieldSelector=metadata.name%3Drot%5C,x', 'fieldSelector=metadata.name%3D%3D%3Drot', 'fieldSelector=metadata.name%3Drot%20x',
    'labelSelector=metadata.name%3Drot', 'fieldSelector=metadata.name%3D.', 'fieldSelector=metadata.name%3D..',
  ];
  for (const query of selectors) {
    for (const watch of ['', 'watch=true&', 'watch=1&resourceVersion=0&']) {
      for (const [view, accept] of Object.entries(accepts)) {
        for (const path of [`${ns}/secrets`, '/api/v1/secrets']) {
          const url = `${path}?${watch}${query}`;
          const reply = await get(url, accept);
          assert.ok(reply.status === 403 || reply.status === 400, `${url} (${view}): ${reply.status} ${reply.text.slice(0, 200)}`);
          assert.ok(!reply.text.includes(otherValue), url);
        }
      }
    }
  }
  // Across all namespaces, a Role in one namespace allows nothing, even by name.
  assert.equal((await get('/api/v1/secrets?fieldSelector=metadata.name%3Drot', undefined)).status, 403);
  // A deletecollection is not a read of one name: still refused.
  assert.equal((await api.app.inject({ method: 'DELETE', url: `${ns}/secrets?fieldSelector=metadata.name%3Drot`, headers: rotter })).statusCode, 403);
  assert.equal((await call(api.app, 'GET', `${ns}/secrets/db`, undefined, admin)).status, 200, 'db is still there');
});
