// Watch streams through app.inject() (payloadAsStream) over a real replica: ADDED / MODIFIED /
// DELETED lines after a resourceVersion, the initial ADDED events without one, selector transitions,
// BOOKMARKs, redaction, and 410 Expired for a compacted resourceVersion.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { watchBookmarkIntervalMs } from '../../../src/config/index.ts';
import { admin, call, configMap, secret, startApi, type Api, type Body } from './harness.ts';

let api: Api;
before(async () => { api = await startApi(); });
after(async () => { await api.close(); });

const ns = '/api/v1/namespaces/default';

/** Opens a watch and reads its lines one at a time. */
async function openWatch(url: string, who: Record<string, string> = admin, accept?: string) {
  const response = await api.app.inject({ method: 'GET', url, headers: { ...who, ...(accept ? { accept } : {}) }, payloadAsStream: true });
  const stream: Readable = response.stream();
  let buffered = '';
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let i;
    while ((i = buffered.indexOf('\n')) >= 0) {
      lines.push(buffered.slice(0, i));
      buffered = buffered.slice(i + 1);
    }
    wake?.();
  });
  stream.on('end', () => { ended = true; wake?.(); });
  return {
    status: response.statusCode,
    async next(): Promise<{ type: string; object: Body }> {
      while (lines.length === 0) {
        if (ended) throw new Error('the watch ended');
        await new Promise<void>((resolve) => { wake = resolve; });
      }
      return JSON.parse(lines.shift()!) as { type: string; object: Body };
    },
    async ended(): Promise<void> {
      while (!ended) await new Promise<void>((resolve) => { wake = resolve; });
    },
    close: () => stream.destroy(),
  };
}

test('watch from a resourceVersion streams ADDED, MODIFIED and DELETED with the objects', async () => {
  const start = (await call(api.app, 'GET', `${ns}/configmaps`)).body.metadata.resourceVersion;
  const watch = await openWatch(`${ns}/configmaps?watch=true&resourceVersion=${start}`);
  assert.equal(watch.status, 200);
  await call(api.app, 'POST', `${ns}/configmaps`, configMap('w1', { a: '1' }));
  await call(api.app, 'PUT', `${ns}/configmaps/w1`, configMap('w1', { a: '2' }));
  await call(api.app, 'DELETE', `${ns}/configmaps/w1`);
  const added = await watch.next();
  assert.equal(added.type, 'ADDED');
  assert.equal(added.object.kind, 'ConfigMap');
  assert.deepEqual(added.object.data, { a: '1' });
  const modified = await watch.next();
  assert.equal(modified.type, 'MODIFIED');
  assert.deepEqual(modified.object.data, { a: '2' });
  const deleted = await watch.next();
  assert.equal(deleted.type, 'DELETED');
  assert.equal(deleted.object.metadata.name, 'w1');
  assert.ok(Number(deleted.object.metadata.resourceVersion) > Number(modified.object.metadata.resourceVersion));
  watch.close();
});

test('watch without a resourceVersion starts with ADDED events for what exists', async () => {
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'wns' } });
  await call(api.app, 'POST', '/api/v1/namespaces/wns/configmaps', configMap('existing'));
  const watch = await openWatch('/api/v1/namespaces/wns/configmaps?watch=1');
  const first = await watch.next();
  assert.equal(first.type, 'ADDED');
  assert.equal(first.object.metadata.name, 'existing');
  await call(api.app, 'POST', '/api/v1/namespaces/wns/configmaps', configMap('later'));
  const second = await watch.next();
  assert.equal(second.type, 'ADDED');
  assert.equal(second.object.metadata.name, 'later');
  watch.close();
});

test('a label-selected watch reports objects entering as ADDED and leaving as DELETED', async () => {
  const start = (await call(api.app, 'GET', `${ns}/configmaps`)).body.metadata.resourceVersion;
  const watch = await openWatch(`${ns}/configmaps?watch=true&resourceVersion=${start}&labelSelector=app%3Dweb`);
  await call(api.app, 'POST', `${ns}/configmaps`, configMap('sel', { a: '1' }, { app: 'db' }));
  await call(api.app, 'PUT', `${ns}/configmaps/sel`, configMap('sel', { a: '1' }, { app: 'web' }));
  await call(api.app, 'PUT', `${ns}/configmaps/sel`, configMap('sel', { a: '2' }, { app: 'web' }));
  await call(api.app, 'PUT', `${ns}/configmaps/sel`, configMap('sel', { a: '2' }, { app: 'db' }));
  assert.deepEqual([(await watch.next()).type, (await watch.next()).type, (await watch.next()).type], ['ADDED', 'MODIFIED', 'DELETED']);
  watch.close();
});

test('timeoutSeconds ends the stream; bookmarks carry the current resourceVersion', async () => {
  const start = (await call(api.app, 'GET', `${ns}/configmaps`)).body.metadata.resourceVersion;
  const watch = await openWatch(`${ns}/configmaps?watch=true&resourceVersion=${start}&allowWatchBookmarks=true&timeoutSeconds=60`);
  api.clock.advance(watchBookmarkIntervalMs);
  const bookmark = await watch.next();
  assert.equal(bookmark.type, 'BOOKMARK');
  assert.equal(bookmark.object.kind, 'ConfigMap');
  assert.ok(Number(bookmark.object.metadata.resourceVersion) >= Number(start));
  api.clock.advance(60_000);
  await watch.ended();
});

test('a table watch sends Table objects with one row each', async () => {
  const start = (await call(api.app, 'GET', `${ns}/secrets`)).body.metadata.resourceVersion;
  const watch = await openWatch(`${ns}/secrets?watch=true&resourceVersion=${start}`, admin, 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json');
  await call(api.app, 'POST', `${ns}/secrets`, secret('tw'));
  const event = await watch.next();
  assert.equal(event.type, 'ADDED');
  assert.equal(event.object.kind, 'Table');
  assert.equal(event.object.rows[0]?.cells[0], 'tw');
  watch.close();
});

test('a watch from a compacted resourceVersion is 410 Expired', async () => {
  await call(api.app, 'POST', `${ns}/configmaps`, configMap('c-a'));
  const old = api.backend.mvcc().currentRevision();
  await call(api.app, 'POST', `${ns}/configmaps`, configMap('c-b'));
  await call(api.app, 'POST', `${ns}/configmaps`, configMap('c-c'));
  await api.backend.propose({ type: 'compact', revision: api.backend.mvcc().currentRevision() });
  const reply = await call(api.app, 'GET', `${ns}/configmaps?watch=true&resourceVersion=${old - 1}`);
  assert.equal(reply.status, 410);
  assert.equal(reply.body.kind, 'Status');
  assert.equal(reply.body.reason, 'Expired');
  assert.equal(reply.body.code, 410);
});

test('a watch of secrets by someone who may list but not get them by name carries no data', async () => {
  // secret-reader grants get/list/watch; a Role with resourceNames grants get on one name only.
  const rbac = '/apis/rbac.authorization.k8s.io/v1/namespaces/default';
  await call(api.app, 'POST', `${rbac}/roles`, { metadata: { name: 'lister' }, rules: [{ verbs: ['list', 'watch'], apiGroups: [''], resources: ['secrets'] }, { verbs: ['get'], apiGroups: [''], resources: ['secrets'], resourceNames: ['visible'] }] });
  await call(api.app, 'POST', `${rbac}/rolebindings`, { metadata: { name: 'lister' }, subjects: [{ kind: 'User', name: 'carol', apiGroup: 'rbac.authorization.k8s.io' }], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'lister' } });
  const start = (await call(api.app, 'GET', `${ns}/secrets`)).body.metadata.resourceVersion;
  const watch = await openWatch(`${ns}/secrets?watch=true&resourceVersion=${start}`, { 'x-user': 'carol' });
  await call(api.app, 'POST', `${ns}/secrets`, secret('hidden', { k: 'top-secret-value' }));
  await call(api.app, 'POST', `${ns}/secrets`, secret('visible', { k: 'shown' }));
  const hidden = await watch.next();
  assert.equal(hidden.object.metadata.name, 'hidden');
  assert.equal(hidden.object.data, undefined);
  assert.equal(hidden.object.metadata.annotations?.['coffer.dev/data-redacted'], 'true');
  const visible = await watch.next();
  assert.deepEqual(visible.object.data, { k: Buffer.from('shown').toString('base64') });
  watch.close();
});

test('sendInitialEvents: the current objects as ADDED, then the initial-events-end bookmark, then changes — even from a given resourceVersion', async () => {
  await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'initial' } });
  await call(api.app, 'POST', '/api/v1/namespaces/initial/configmaps', configMap('one'));
  await call(api.app, 'POST', '/api/v1/namespaces/initial/configmaps', configMap('two'));
  const seen = String(api.backend.mvcc().currentRevision());
  const watch = await openWatch(`/api/v1/namespaces/initial/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&resourceVersion=${seen}`);
  assert.equal(watch.status, 200);
  const added = [await watch.next(), await watch.next()];
  assert.deepEqual(added.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'one'], ['ADDED', 'two']]);
  const end = await watch.next();
  assert.equal(end.type, 'BOOKMARK');
  assert.deepEqual(end.object.metadata.annotations, { 'k8s.io/initial-events-end': 'true' });
  assert.ok(Number(end.object.metadata.resourceVersion) >= Number(seen), 'not older than the resourceVersion asked for');
  await call(api.app, 'POST', '/api/v1/namespaces/initial/configmaps', configMap('three'));
  const next = await watch.next();
  assert.deepEqual([next.type, next.object.metadata.name], ['ADDED', 'three']);
  watch.close();
});

test('sendInitialEvents is refused (422) without resourceVersionMatch=NotOlderThan or bookmarks, and resourceVersionMatch without it', async () => {
  for (const query of [
    'sendInitialEvents=true&allowWatchBookmarks=true',
    'sendInitialEvents=true&resourceVersionMatch=NotOlderThan',
    'sendInitialEvents=true&resourceVersionMatch=Exact&allowWatchBookmarks=true',
    'resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true',
    'sendInitialEvents=yes&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true',
  ]) {
    const refused = await call(api.app, 'GET', `${ns}/configmaps?watch=true&${query}`);
    assert.equal(refused.status, 422, query);
    assert.equal(refused.body.reason, 'Invalid', query);
  }
});

test('a metadata watch (as=PartialObjectMetadata) sends each event as PartialObjectMetadata, values never included', async () => {
  const start = (await call(api.app, 'GET', `${ns}/secrets`)).body.metadata.resourceVersion;
  const accept = 'application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';
  const watch = await openWatch(`${ns}/secrets?watch=true&resourceVersion=${start}`, admin, accept);
  assert.equal(watch.status, 200);
  await call(api.app, 'POST', `${ns}/secrets`, secret('meta-watched', { k: 'metadata-watch-value' }, { metadata: { name: 'meta-watched', labels: { tier: 'db' } } }));
  const added = await watch.next();
  assert.equal(added.type, 'ADDED');
  assert.deepEqual([added.object.kind, added.object.apiVersion], ['PartialObjectMetadata', 'meta.k8s.io/v1']);
  assert.deepEqual([added.object.metadata.name, added.object.metadata.labels?.tier], ['meta-watched', 'db']);
  assert.ok(!JSON.stringify(added.object).includes(Buffer.from('metadata-watch-value').toString('base64')), 'no value in a metadata event');
  assert.equal(added.object.data, undefined);
  watch.close();
});

test('a watch asked as a PartialObjectMetadataList is 406 before it starts', async () => {
  const reply = await api.app.inject({ method: 'GET', url: `${ns}/secrets?watch=true`, headers: { ...admin, accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1' } });
  assert.equal(reply.statusCode, 406);
  assert.equal(reply.json<Body>().reason, 'NotAcceptable');
});
