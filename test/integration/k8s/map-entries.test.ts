// objectMapEntriesMax through app.inject() over a real replica: an object's maps (labels, annotations, a
// Secret's data with stringData, a ConfigMap's data and binaryData) hold at most that many entries together.
// Before, nothing bounded them: a 1.3 MB ConfigMap of 100,000 empty keys blocked the member for seconds
// (every key digested for the audit record and tracked in managedFields), and a 35,000-key one was
// stored, every later one-key patch of it blocking the member seconds again.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { objectMapEntriesMax } from '../../../src/config/index.ts';
import { admin, type Api, type Body, call, startApi, storeFingerprint } from './harness.ts';

let api: Api;
before(async () => { api = await startApi(); });
after(async () => { await api.close(); });

const cms = '/api/v1/namespaces/default/configmaps';
const secretsUrl = '/api/v1/namespaces/default/secrets';
const entries = (n: number, prefix = 'k', value = '') => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, value]));

/** Asserts a 422 Invalid naming `field` as FieldValueTooMany with the limit, and that the store did not change. */
async function refused(method: 'POST' | 'PUT' | 'PATCH', url: string, body: unknown, field: string, contentType = 'application/json'): Promise<Body> {
  const before = await storeFingerprint(api);
  const reply = await call(api.app, method, url, body, admin, contentType);
  assert.equal(reply.status, 422, `${method} ${url}: ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`);
  assert.equal(reply.body.reason, 'Invalid');
  const cause = reply.body.details.causes.find((c) => c.reason === 'FieldValueTooMany');
  assert.ok(cause !== undefined, JSON.stringify(reply.body.details.causes).slice(0, 300));
  assert.equal(cause.field, field);
  assert.match(cause.message, new RegExp(`at most ${objectMapEntriesMax} entries.*\\(objectMapEntriesMax\\)`));
  assert.match(reply.body.message, new RegExp(`${field.replace(/\./g, '\\.')}: Too many: \\d+`));
  assert.equal(await storeFingerprint(api), before, 'nothing changed');
  return reply.body;
}

test('a create whose maps hold more entries than objectMapEntriesMax is refused, 422 naming the field and the limit, nothing stored', async () => {
  const body = await refused('POST', cms, { metadata: { name: 'many' }, data: entries(100_000) }, 'data');
  assert.match(body.message, /Too many: 100000: data, binaryData, labels and annotations may hold at most/);
  await refused('POST', cms, { metadata: { name: 'one-over' }, data: entries(objectMapEntriesMax + 1) }, 'data');
  await refused('POST', cms, { metadata: { name: 'bin' }, binaryData: entries(objectMapEntriesMax + 1, 'b', 'YQ==') }, 'binaryData');
  // The maps count together: data one short of the limit, and a label and an annotation.
  await refused('POST', cms, { metadata: { name: 'together', labels: { a: 'b' }, annotations: { c: 'd' } }, data: entries(objectMapEntriesMax - 1) }, 'data');
  await refused('POST', cms, { metadata: { name: 'labels', labels: entries(objectMapEntriesMax + 1, 'l', 'v') } }, 'metadata.labels');
  await refused('POST', '/api/v1/namespaces', { metadata: { name: 'annotated', annotations: entries(objectMapEntriesMax + 1, 'a') } }, 'metadata.annotations');
  // A Secret's stringData is merged into its data: distinct keys count, shared keys once.
  const half = objectMapEntriesMax / 2;
  await refused('POST', secretsUrl, { metadata: { name: 'split' }, data: entries(half + 1, 'd', 'YQ=='), stringData: entries(half, 's', 'x') }, 'data');
  await refused('POST', secretsUrl, { metadata: { name: 'strings' }, stringData: entries(objectMapEntriesMax + 1, 's', 'x') }, 'stringData');
  const shared = await call(api.app, 'POST', secretsUrl, { metadata: { name: 'shared' }, data: entries(half, 'k', 'YQ=='), stringData: entries(half, 'k', 'x') });
  assert.equal(shared.status, 201, shared.body.message);
  // A null in a merge patch removes a key: 100,000 of them are not entries.
  assert.equal((await call(api.app, 'POST', cms, { metadata: { name: 'small' }, data: { a: '1' } })).status, 201);
  const patched = await call(api.app, 'PATCH', `${cms}/small`, { data: { ...entries(100_000, 'k', null as unknown as string), b: '2' } }, admin, 'application/merge-patch+json');
  assert.equal(patched.status, 200, patched.body.message);
  assert.deepEqual(patched.body.data, { a: '1', b: '2' });
});

test('the refusal comes as the body arrives, before the registry reads the body', async () => {
  // The registry would also name the invalid name and the invalid keys; the check on arrival answers first, alone.
  const body = await refused('POST', cms, { metadata: { name: 'Not_A_Name' }, data: entries(objectMapEntriesMax + 1, 'bad key ') }, 'data');
  assert.equal(body.details.causes.length, 1, JSON.stringify(body.details.causes).slice(0, 300));
  assert.equal(body.details.name, 'Not_A_Name');
});

test('at the limit an object is stored; a merge patch, JSON patch, PUT, apply or rotate that would add one more entry is refused, one that removes entries is not', async () => {
  const created = await call(api.app, 'POST', cms, { metadata: { name: 'full', labels: { app: 'x' } }, data: entries(objectMapEntriesMax - 1) });
  assert.equal(created.status, 201, created.body.message);
  const full = `${cms}/full`;
  await refused('PATCH', full, { data: { extra: 'v' } }, 'data', 'application/merge-patch+json');
  await refused('PATCH', full, { metadata: { annotations: { extra: 'v' } } }, 'data', 'application/strategic-merge-patch+json');
  await refused('PATCH', full, [{ op: 'add', path: '/data/extra', value: 'v' }], 'data', 'application/json-patch+json');
  await refused('PUT', full, { metadata: { name: 'full', labels: { app: 'x', more: 'y' } }, data: entries(objectMapEntriesMax - 1) }, 'data');
  await refused('PATCH', `${full}?fieldManager=test`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'full' }, data: { extra: 'v' } }, 'data', 'application/apply-patch+yaml');
  // Changing a value, and removing keys, stays within the limit.
  const changed = await call(api.app, 'PATCH', full, { data: { k0: 'changed' } }, admin, 'application/merge-patch+json');
  assert.equal(changed.status, 200, changed.body.message);
  const removed = await call(api.app, 'PATCH', full, { data: { ...entries(objectMapEntriesMax - 1, 'k', null as unknown as string), kept: 'v' } }, admin, 'application/merge-patch+json');
  assert.equal(removed.status, 200, removed.body.message);
  assert.deepEqual(removed.body.data, { kept: 'v' });

  const secret = await call(api.app, 'POST', secretsUrl, { metadata: { name: 'full' }, data: entries(objectMapEntriesMax, 'k', 'YQ==') });
  assert.equal(secret.status, 201, secret.body.message);
  await refused('POST', '/apis/coffer.dev/v1/namespaces/default/secrets/full/rotate', { data: { extra: 'YQ==' } }, 'data');
  await refused('POST', '/apis/coffer.dev/v1/namespaces/default/secrets/full/rotate', { data: entries(objectMapEntriesMax + 1, 'r', 'YQ==') }, 'data');
});

test('an object stored with more entries (before the limit) is read, shrunk and deleted; a write leaving it above the limit is refused', async () => {
  const legacy = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'legacy', namespace: 'default', uid: 'legacy-uid', creationTimestamp: '2026-01-01T00:00:00Z' }, data: entries(objectMapEntriesMax + 100) };
  const key = new TextEncoder().encode('/registry/configmaps/default/legacy');
  await api.backend.propose({ type: 'txn', compare: [], success: [{ type: 'put', key, value: new TextEncoder().encode(JSON.stringify(legacy)) }], failure: [] });
  const read = await call(api.app, 'GET', `${cms}/legacy`);
  assert.equal(read.status, 200);
  assert.equal(Object.keys(read.body.data ?? {}).length, objectMapEntriesMax + 100);
  await refused('PATCH', `${cms}/legacy`, { data: { k0: 'changed' } }, 'data', 'application/merge-patch+json');
  const shrunk = await call(api.app, 'PATCH', `${cms}/legacy`, { data: entries(100, 'k', null as unknown as string) }, admin, 'application/merge-patch+json');
  assert.equal(shrunk.status, 200, shrunk.body.message);
  assert.equal(Object.keys(shrunk.body.data ?? {}).length, objectMapEntriesMax);
  const deleted = await call(api.app, 'DELETE', `${cms}/legacy`);
  assert.equal(deleted.status, 200);
});
