// List pages are bounded in bytes as well as in objects: a page ends before the object that would take it
// over listPageBytesMax, with a continue token, and the caller's `limit` still bounds the objects. A list
// without limit is answered whole, as Kubernetes answers it (written a page at a time: see
// test/integration/api/list-watch-pages.test.ts for what it holds on the member), in every representation.
// Until 2026-12 a page had no byte bound: 100 ConfigMaps of 1 MB were one 100 MB answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { listPageBytesMax } from '../../../src/config/index.ts';
import { call, configMap, startApi, type Api, type Body } from './harness.ts';

let api: Api;
const ns = '/api/v1/namespaces/big';
const count = 60;
const valueChars = 200_000;
/** Bytes a page may show beyond the objects' stored bytes: list envelope, resourceVersions, the continue token. */
const slack = 16 * 1024;

before(async () => {
  api = await startApi();
  assert.equal((await call(api.app, 'POST', '/api/v1/namespaces', { metadata: { name: 'big' } })).status, 201);
  const value = 'v'.repeat(valueChars);
  for (let i = 0; i < count; i++) {
    const reply = await call(api.app, 'POST', `${ns}/configmaps`, configMap(name(i), { value }));
    assert.equal(reply.status, 201);
  }
});
after(async () => { await api.close(); });

function name(i: number): string {
  return `c${String(i).padStart(2, '0')}`;
}

const table = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';
const metadataList = 'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json';

async function get(url: string, accept?: string): Promise<{ status: number; body: Body; bytes: number }> {
  const response = await api.app.inject({ method: 'GET', url, headers: { 'x-user': 'admin', 'x-groups': 'system:masters', ...(accept ? { accept } : {}) } });
  return { status: response.statusCode, body: response.json<Body>(), bytes: response.rawPayload.length };
}

/** Every page of `url` with `limit`, following continue tokens. */
async function pages(url: string, limit: number, accept?: string): Promise<{ body: Body; bytes: number }[]> {
  const all: { body: Body; bytes: number }[] = [];
  let token: string | undefined;
  do {
    const page = await get(`${url}${url.includes('?') ? '&' : '?'}limit=${limit}${token ? `&continue=${encodeURIComponent(token)}` : ''}`, accept);
    assert.equal(page.status, 200, JSON.stringify(page.body).slice(0, 300));
    all.push(page);
    token = page.body.metadata.continue;
  } while (token !== undefined);
  return all;
}

test('a page asked with limit ends at listPageBytesMax with a continue token, and the pages list every object once, at one resourceVersion', async () => {
  const listed = await pages(`${ns}/configmaps`, 500);
  assert.ok(listed.length >= Math.ceil((count * valueChars) / listPageBytesMax), `${listed.length} pages for ${count * valueChars} bytes`);
  for (const page of listed) assert.ok(page.bytes <= listPageBytesMax + slack, `a page of ${page.bytes} bytes, over listPageBytesMax (${listPageBytesMax})`);
  assert.ok(listed.slice(0, -1).every((p) => p.body.items.length > 0 && p.body.metadata.continue !== undefined));
  assert.deepEqual(listed.flatMap((p) => p.body.items.map((i) => i.metadata.name)), Array.from({ length: count }, (_, i) => name(i)));
  assert.equal(new Set(listed.map((p) => p.body.metadata.resourceVersion)).size, 1, 'every page is read at the first one\'s resourceVersion');
  // A smaller limit still bounds the objects.
  const small = await get(`${ns}/configmaps?limit=3`);
  assert.deepEqual(small.body.items.map((i) => i.metadata.name), [name(0), name(1), name(2)]);
  assert.ok(small.body.metadata.continue !== undefined);
});

test('a page is bounded the same across all namespaces, as a Table and as a PartialObjectMetadataList', async () => {
  const everywhere = await pages('/api/v1/configmaps', 500);
  assert.ok(everywhere.length > 1);
  for (const page of everywhere) assert.ok(page.bytes <= listPageBytesMax + slack, `a page of ${page.bytes} bytes`);
  const names = everywhere.flatMap((p) => p.body.items.filter((i) => i.metadata.namespace === 'big').map((i) => i.metadata.name));
  assert.deepEqual(names, Array.from({ length: count }, (_, i) => name(i)));

  // A Table's rows and a metadata list's items are small, but the pages are the same: the objects are read whole.
  const rows = await pages(`${ns}/configmaps`, 500, table);
  assert.ok(rows.length > 1 && rows.every((p) => p.body.kind === 'Table'));
  assert.deepEqual(rows.flatMap((p) => p.body.rows.map((r) => r.cells[0])), Array.from({ length: count }, (_, i) => name(i)));
  assert.ok(rows.every((p) => p.body.columnDefinitions.length > 0));
  const metadata = await pages(`${ns}/configmaps`, 500, metadataList);
  assert.ok(metadata.length > 1 && metadata.every((p) => p.body.kind === 'PartialObjectMetadataList'));
  assert.deepEqual(metadata.flatMap((p) => p.body.items.map((i) => i.metadata.name)), Array.from({ length: count }, (_, i) => name(i)));
});

test('a list without limit, larger than a page, is answered whole in every representation, without a continue token', async () => {
  const list = await get(`${ns}/configmaps`);
  assert.equal(list.status, 200);
  assert.ok(list.bytes > 2 * listPageBytesMax);
  assert.equal(list.body.kind, 'ConfigMapList');
  assert.equal(list.body.apiVersion, 'v1');
  assert.equal(list.body.metadata.continue, undefined);
  assert.ok(Number(list.body.metadata.resourceVersion) > 0);
  assert.deepEqual(list.body.items.map((i) => i.metadata.name), Array.from({ length: count }, (_, i) => name(i)));
  assert.ok(list.body.items.every((i) => i.data?.value?.length === valueChars));
  assert.deepEqual(Object.keys(list.body).sort(), ['apiVersion', 'items', 'kind', 'metadata']);

  const rows = await get(`${ns}/configmaps?includeObject=Object`, table);
  assert.equal(rows.body.kind, 'Table');
  assert.equal(rows.body.apiVersion, 'meta.k8s.io/v1');
  assert.deepEqual(rows.body.columnDefinitions.map((c) => c.name), ['Name', 'Data', 'Age']);
  assert.deepEqual(rows.body.rows.map((r) => r.cells[0]), Array.from({ length: count }, (_, i) => name(i)));
  assert.ok(rows.body.rows.every((r) => r.object.data?.value?.length === valueChars));
  assert.equal(rows.body.metadata.resourceVersion, list.body.metadata.resourceVersion);

  const metadata = await get(`${ns}/configmaps`, metadataList);
  assert.equal(metadata.body.kind, 'PartialObjectMetadataList');
  assert.deepEqual(metadata.body.items.map((i) => [i.kind, i.metadata.name]), Array.from({ length: count }, (_, i) => ['PartialObjectMetadata', name(i)]));

  const everywhere = await get('/api/v1/configmaps');
  assert.equal(everywhere.body.metadata.continue, undefined);
  assert.deepEqual(everywhere.body.items.filter((i) => i.metadata.namespace === 'big').map((i) => i.metadata.name), Array.from({ length: count }, (_, i) => name(i)));
});

test('a watch with sendInitialEvents over many pages sends every object once, then the initial-events-end bookmark, then the changes', async () => {
  const rv = (await get(`${ns}/configmaps?limit=1`)).body.metadata.resourceVersion;
  const response = await api.app.inject({
    method: 'GET', url: `${ns}/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&resourceVersion=${rv}`,
    headers: { 'x-user': 'admin', 'x-groups': 'system:masters' }, payloadAsStream: true,
  });
  assert.equal(response.statusCode, 200);
  const stream = response.stream();
  const events: { type: string; object: Body }[] = [];
  let partial = '';
  let wake: (() => void) | undefined;
  stream.on('data', (chunk: Buffer) => {
    partial += chunk.toString('utf8');
    let at: number;
    while ((at = partial.indexOf('\n')) >= 0) {
      events.push(JSON.parse(partial.slice(0, at)) as { type: string; object: Body });
      partial = partial.slice(at + 1);
    }
    wake?.();
  });
  const until = async (n: number) => { while (events.length < n) await new Promise<void>((resolve) => { wake = resolve; }); };
  await until(count + 1);
  await call(api.app, 'PUT', `${ns}/configmaps/${name(0)}`, configMap(name(0), { value: 'changed' }));
  await until(count + 2);
  stream.destroy();
  assert.deepEqual(events.slice(0, count).map((e) => [e.type, e.object.metadata.name]), Array.from({ length: count }, (_, i) => ['ADDED', name(i)]));
  const end = events[count]!;
  assert.equal(end.type, 'BOOKMARK');
  assert.equal(end.object.metadata.annotations?.['k8s.io/initial-events-end'], 'true');
  assert.ok(Number(end.object.metadata.resourceVersion) >= Number(rv));
  assert.ok(events.slice(0, count).every((e) => Number(e.object.metadata.resourceVersion) <= Number(end.object.metadata.resourceVersion)));
  assert.deepEqual([events[count + 1]!.type, events[count + 1]!.object.metadata.name, events[count + 1]!.object.data], ['MODIFIED', name(0), { value: 'changed' }]);
  await call(api.app, 'PUT', `${ns}/configmaps/${name(0)}`, configMap(name(0), { value: 'v'.repeat(valueChars) }));
});

test('a list without limit is read at one resourceVersion: what changes while it is answered is not in it', async () => {
  const first = await get(`${ns}/configmaps?limit=1`);
  const rv = first.body.metadata.resourceVersion;
  await call(api.app, 'DELETE', `${ns}/configmaps/${name(count - 1)}`);
  await call(api.app, 'POST', `${ns}/configmaps`, configMap('zz-later'));
  // Resuming without limit from the first page's token: the rest of the list as it was at rv, whole.
  const rest = await get(`${ns}/configmaps?continue=${encodeURIComponent(first.body.metadata.continue!)}`);
  assert.equal(rest.status, 200);
  assert.equal(rest.body.metadata.resourceVersion, rv);
  assert.equal(rest.body.metadata.continue, undefined);
  assert.deepEqual(rest.body.items.map((i) => i.metadata.name), Array.from({ length: count - 1 }, (_, i) => name(i + 1)));
  // deletecollection reads its pages the same way, and deletes everything however many pages it takes.
  const deleted = await call(api.app, 'DELETE', `${ns}/configmaps`);
  assert.equal(deleted.status, 200);
  assert.equal((await get(`${ns}/configmaps`)).body.items.length, 0);
});
