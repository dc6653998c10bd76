// A list's resourceVersion and resourceVersionMatch, as the Kubernetes API server reads them: unset is the
// most recent list; "0" any; NotOlderThan (or a bare resourceVersion without limit) at least that fresh;
// Exact (or a bare one with limit) the list as it was at that revision, 410 once compacted; newer than the
// store is 504 Timeout with a ResourceVersionTooLarge cause; a match without a resourceVersion, an unknown
// match and Exact at "0" are 422 Invalid; a resourceVersion that is not one, or one with a continue, 400.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { admin, asUser, call, configMap, secret, startApi, type Api } from './harness.ts';

let api: Api;
const ns = '/api/v1/namespaces/rv';
/** The revision after a and b were created, before c. */
let atTwo = 0;

before(async () => {
  api = await startApi();
  assert.equal((await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'rv' } })).status, 201);
  for (const name of ['a', 'b']) assert.equal((await call(api.app, 'POST', `${ns}/configmaps`, configMap(name))).status, 201);
  atTwo = api.backend.mvcc().currentRevision();
  assert.equal((await call(api.app, 'POST', `${ns}/configmaps`, configMap('c'))).status, 201);
  assert.equal((await call(api.app, 'PUT', `${ns}/configmaps/a`, configMap('a', { a: 'changed' }))).status, 200);
});
after(async () => { await api.close(); });

const names = (body: { items: { metadata: { name: string } }[] }) => body.items.map((i) => i.metadata.name);

test('Exact answers the list as it was at that revision, labelled with it, a page at a time too', async () => {
  const exact = await call(api.app, 'GET', `${ns}/configmaps?resourceVersion=${atTwo}&resourceVersionMatch=Exact`);
  assert.equal(exact.status, 200, JSON.stringify(exact.body));
  assert.deepEqual(names(exact.body), ['a', 'b']);
  assert.deepEqual(exact.body.items[0]?.data, { a: '1' }, 'a as it was then');
  assert.equal(exact.body.metadata.resourceVersion, String(atTwo));
  // A bare resourceVersion with a limit is Exact (Kubernetes' legacy reading); its continue stays at that revision.
  const first = await call(api.app, 'GET', `${ns}/configmaps?resourceVersion=${atTwo}&limit=1`);
  assert.deepEqual([first.status, names(first.body), first.body.metadata.resourceVersion], [200, ['a'], String(atTwo)]);
  const rest = await call(api.app, 'GET', `${ns}/configmaps?limit=5&continue=${encodeURIComponent(first.body.metadata.continue!)}`);
  assert.deepEqual([rest.status, names(rest.body), rest.body.metadata.continue], [200, ['b'], undefined]);
  // As a Table too.
  const table = await api.app.inject({ method: 'GET', url: `${ns}/configmaps?resourceVersion=${atTwo}&resourceVersionMatch=Exact`, headers: { ...admin, accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } });
  assert.equal(table.json<{ rows: unknown[] }>().rows.length, 2);
});

test('unset, "0" and NotOlderThan a revision the store has answer the current list', async () => {
  const current = api.backend.mvcc().currentRevision();
  for (const query of ['', '?resourceVersion=0', '?resourceVersion=0&resourceVersionMatch=NotOlderThan', `?resourceVersion=${atTwo}&resourceVersionMatch=NotOlderThan`,
    `?resourceVersion=${current}&resourceVersionMatch=NotOlderThan`, `?resourceVersion=${atTwo}`, `?resourceVersion=0&limit=10`, `?resourceVersion=${current}&consistency=serializable`]) {
    const list = await call(api.app, 'GET', `${ns}/configmaps${query}`);
    assert.equal(list.status, 200, `${query}: ${JSON.stringify(list.body)}`);
    assert.deepEqual(names(list.body), ['a', 'b', 'c'], query);
    assert.ok(Number(list.body.metadata.resourceVersion) >= current, query);
  }
});

test('a resourceVersion newer than the store is 504 Timeout, ResourceVersionTooLarge, whatever the match', async () => {
  const current = api.backend.mvcc().currentRevision();
  for (const query of ['resourceVersion=99999&resourceVersionMatch=NotOlderThan', 'resourceVersion=99999', 'resourceVersion=99999&resourceVersionMatch=Exact', 'resourceVersion=99999&limit=1',
    `resourceVersion=${current + 1}&resourceVersionMatch=NotOlderThan&consistency=serializable`, `resourceVersion=${current + 1}&resourceVersionMatch=Exact&limit=500`]) {
    const list = await call(api.app, 'GET', `${ns}/configmaps?${query}`);
    assert.equal(list.status, 504, `${query}: ${JSON.stringify(list.body)}`);
    assert.equal(list.body.reason, 'Timeout', query);
    assert.match(list.body.message, /^Timeout: Too large resource version: \d+, current: \d+$/, query);
    assert.deepEqual(list.body.details.causes.map((c) => c.reason), ['ResourceVersionTooLarge'], query);
    assert.equal((list.body.details as { retryAfterSeconds?: number }).retryAfterSeconds, 1, query);
  }
});

test('invalid list options: a match without a resourceVersion, an unknown match, Exact at 0 are 422; a bad resourceVersion, or one with a continue, 400', async () => {
  for (const [query, field] of [['resourceVersionMatch=NotOlderThan', 'resourceVersionMatch'], ['resourceVersionMatch=Exact', 'resourceVersionMatch'],
    ['resourceVersion=5&resourceVersionMatch=Newest', 'resourceVersionMatch'], ['resourceVersion=0&resourceVersionMatch=Exact', 'resourceVersionMatch'],
    ['resourceVersion=5&resourceVersionMatch=Exact&continue=abc', 'resourceVersionMatch']] as const) {
    const list = await call(api.app, 'GET', `${ns}/configmaps?${query}`);
    assert.equal(list.status, 422, `${query}: ${JSON.stringify(list.body)}`);
    assert.equal(list.body.reason, 'Invalid', query);
    assert.equal(list.body.details.kind, 'ListOptions', query);
    assert.ok(list.body.details.causes.every((c) => c.field === field), query);
  }
  for (const query of ['resourceVersion=abc', 'resourceVersion=-1', 'resourceVersion=1.5', 'resourceVersion=abc&resourceVersionMatch=NotOlderThan']) {
    const list = await call(api.app, 'GET', `${ns}/configmaps?${query}`);
    assert.equal(list.status, 400, `${query}: ${JSON.stringify(list.body)}`);
  }
  const first = await call(api.app, 'GET', `${ns}/configmaps?limit=1`);
  const token = encodeURIComponent(first.body.metadata.continue!);
  const withRv = await call(api.app, 'GET', `${ns}/configmaps?limit=1&continue=${token}&resourceVersion=${atTwo}`);
  assert.equal(withRv.status, 400, JSON.stringify(withRv.body));
  assert.match(withRv.body.message, /specifying resource version is not allowed when using continue/);
  // "0" (any) with a continue is allowed: the token's own revision is read.
  const withZero = await call(api.app, 'GET', `${ns}/configmaps?limit=1&continue=${token}&resourceVersion=0`);
  assert.deepEqual([withZero.status, names(withZero.body)], [200, ['b']]);
});

test('a Secret list at an earlier revision carries values only for the Secrets the caller may get', async () => {
  const rbac = '/apis/rbac.authorization.k8s.io/v1/namespaces/rv';
  await call(api.app, 'POST', `${rbac}/roles`, { metadata: { name: 'lister' }, rules: [{ verbs: ['list'], apiGroups: [''], resources: ['secrets'] }] });
  await call(api.app, 'POST', `${rbac}/rolebindings`, { metadata: { name: 'lister' }, subjects: [{ kind: 'User', name: 'lena', apiGroup: 'rbac.authorization.k8s.io' }], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'lister' } });
  assert.equal((await call(api.app, 'POST', `${ns}/secrets`, secret('s', { k: 'then-value' }))).status, 201);
  const then = api.backend.mvcc().currentRevision();
  assert.equal((await call(api.app, 'PUT', `${ns}/secrets/s`, secret('s', { k: 'now-value' }))).status, 200);
  const list = await call(api.app, 'GET', `${ns}/secrets?resourceVersion=${then}&resourceVersionMatch=Exact`, undefined, asUser('lena'));
  assert.equal(list.status, 200, JSON.stringify(list.body));
  assert.deepEqual(names(list.body), ['s']);
  assert.equal(list.body.items[0]?.data, undefined);
  assert.equal(list.body.items[0]?.metadata.annotations?.['coffer.dev/data-redacted'], 'true');
  assert.ok(!JSON.stringify(list.body).includes(Buffer.from('then-value').toString('base64')));
  const asAdmin = await call(api.app, 'GET', `${ns}/secrets?resourceVersion=${then}&resourceVersionMatch=Exact`);
  assert.deepEqual(asAdmin.body.items[0]?.data, { k: Buffer.from('then-value').toString('base64') }, 'the values as they were then');
});

test('after a compaction, Exact at a compacted revision is 410 Expired, never a later list', async () => {
  await api.backend.propose({ type: 'compact', revision: api.backend.mvcc().currentRevision() });
  for (const query of [`resourceVersion=${atTwo}&resourceVersionMatch=Exact`, `resourceVersion=${atTwo}&limit=1`]) {
    const list = await call(api.app, 'GET', `${ns}/configmaps?${query}`);
    assert.equal(list.status, 410, `${query}: ${JSON.stringify(list.body)}`);
    assert.equal(list.body.reason, 'Expired');
    assert.equal(list.body.message, 'The resourceVersion for the provided list is too old.');
  }
  // NotOlderThan a compacted revision is satisfied by the current list.
  const fresh = await call(api.app, 'GET', `${ns}/configmaps?resourceVersion=${atTwo}&resourceVersionMatch=NotOlderThan`);
  assert.deepEqual([fresh.status, names(fresh.body)], [200, ['a', 'b', 'c']]);
});
