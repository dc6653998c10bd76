// Content negotiation and schemas, as kubectl and controllers use them: PartialObjectMetadata and
// PartialObjectMetadataList (metadata informers), Table, 406 for what Coffer cannot produce, and the
// OpenAPI documents behind `kubectl explain` — every field of every kind described.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { admin, asUser, call, secret, startApi, type Api, type Body } from './harness.ts';

let api: Api;
before(async () => { api = await startApi(); });
after(async () => { await api.close(); });

const ns = '/api/v1/namespaces/default';
const metaList = 'application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const metaOne = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

async function get(url: string, accept: string, who: Record<string, string> = admin): Promise<{ status: number; body: Body }> {
  const reply = await api.app.inject({ method: 'GET', url, headers: { ...who, accept } });
  return { status: reply.statusCode, body: reply.json<Body>() };
}

test('a list asked as PartialObjectMetadataList answers each item\'s metadata only, with the list\'s resourceVersion and continue token', async () => {
  for (const name of ['pm-a', 'pm-b']) await call(api.app, 'POST', `${ns}/secrets`, secret(name, { k: `value-of-${name}` }, { metadata: { name, labels: { set: 'pm' } } }));
  const page = await get(`${ns}/secrets?labelSelector=set%3Dpm&limit=1`, metaList);
  assert.equal(page.status, 200);
  assert.deepEqual([page.body.kind, page.body.apiVersion], ['PartialObjectMetadataList', 'meta.k8s.io/v1']);
  assert.match(page.body.metadata.resourceVersion ?? '', /^\d+$/);
  assert.ok(page.body.metadata.continue, 'a chunked metadata list carries its continue token');
  assert.equal(page.body.items.length, 1);
  const item = page.body.items[0]!;
  assert.deepEqual([item.kind, item.apiVersion, item.metadata.name], ['PartialObjectMetadata', 'meta.k8s.io/v1', 'pm-a']);
  assert.deepEqual(Object.keys(item).sort(), ['apiVersion', 'kind', 'metadata']);
  assert.ok(!JSON.stringify(page.body).includes(Buffer.from('value-of-pm-a').toString('base64')));
});

test('one object asked as PartialObjectMetadata; the version asked for (v1beta1) is the version answered', async () => {
  const one = await get(`${ns}/secrets/pm-a`, metaOne);
  assert.equal(one.status, 200);
  assert.deepEqual([one.body.kind, one.body.apiVersion, one.body.metadata.name], ['PartialObjectMetadata', 'meta.k8s.io/v1', 'pm-a']);
  assert.equal(one.body.data, undefined);
  const beta = await get(`${ns}/secrets/pm-a`, 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1beta1');
  assert.equal(beta.body.apiVersion, 'meta.k8s.io/v1beta1');
  const table = await get(`${ns}/secrets/pm-a`, 'application/json;as=Table;g=meta.k8s.io;v=v1beta1');
  assert.deepEqual([table.body.kind, table.body.apiVersion], ['Table', 'meta.k8s.io/v1beta1']);
});

test('the view must fit the request: a list as PartialObjectMetadata and one object as a list are 406', async () => {
  const list = await get(`${ns}/secrets`, metaOne);
  assert.deepEqual([list.status, list.body.reason], [406, 'NotAcceptable']);
  const one = await get(`${ns}/secrets/pm-a`, 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1');
  assert.deepEqual([one.status, one.body.reason], [406, 'NotAcceptable']);
});

test('Accept is negotiated clause by clause: unsupported clauses are skipped, q orders them, and nothing acceptable is 406', async () => {
  const fallback = await get(`${ns}/secrets/pm-a`, 'application/vnd.kubernetes.protobuf, application/json');
  assert.deepEqual([fallback.status, fallback.body.kind], [200, 'Secret']);
  const unknownView = await get(`${ns}/secrets/pm-a`, 'application/json;as=Scale;g=autoscaling;v=v1, application/json');
  assert.equal(unknownView.body.kind, 'Secret', 'an unknown view is skipped, not served as the object under its name');
  const weighted = await get(`${ns}/secrets/pm-a`, `application/json;q=0.5, ${metaOne};q=0.9`);
  assert.equal(weighted.body.kind, 'PartialObjectMetadata');
  const any = await get(`${ns}/secrets/pm-a`, '*/*');
  assert.equal(any.body.kind, 'Secret');
  for (const accept of ['application/yaml', 'application/vnd.kubernetes.protobuf', 'text/html', 'application/json;q=0', 'application/json;as=Table;g=meta.k8s.io;v=v2']) {
    const refused = await get(`${ns}/secrets/pm-a`, accept);
    assert.deepEqual([refused.status, refused.body.kind, refused.body.reason], [406, 'Status', 'NotAcceptable'], accept);
  }
});

test('metadata views show a list-only caller the redacted metadata: no embedded copy of the values', async () => {
  const applied = JSON.stringify(secret('pm-applied', { k: 'embedded-value' }));
  await call(api.app, 'POST', `${ns}/secrets`, secret('pm-applied', { k: 'embedded-value' }, { metadata: { name: 'pm-applied', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': applied } } }));
  const rbac = '/apis/rbac.authorization.k8s.io/v1/namespaces/default';
  await call(api.app, 'POST', `${rbac}/roles`, { metadata: { name: 'pm-lister' }, rules: [{ verbs: ['list'], apiGroups: [''], resources: ['secrets'] }] });
  await call(api.app, 'POST', `${rbac}/rolebindings`, { metadata: { name: 'pm-lister' }, subjects: [{ kind: 'User', name: 'pm-dave', apiGroup: 'rbac.authorization.k8s.io' }], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pm-lister' } });
  const listed = await get(`${ns}/secrets`, metaList, asUser('pm-dave'));
  assert.equal(listed.status, 200);
  const item = listed.body.items.find((i) => i.metadata.name === 'pm-applied');
  assert.ok(item);
  assert.equal(item.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], undefined);
  assert.ok(!JSON.stringify(listed.body).includes(Buffer.from('embedded-value').toString('base64')));
  const asAdmin = await get(`${ns}/secrets/pm-applied`, metaOne);
  assert.equal(asAdmin.body.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], applied, 'a caller who may get it sees the metadata whole');
});

type Schema = { description?: string; properties?: Record<string, Schema>; items?: Schema; allOf?: Schema[]; $ref?: string };

/** Paths of properties without a description, in every schema of a document. */
function undescribed(schemas: Record<string, Schema>): string[] {
  const missing: string[] = [];
  for (const [name, schema] of Object.entries(schemas)) {
    if (!schema.description) missing.push(name);
    for (const [field, property] of Object.entries(schema.properties ?? {})) {
      if (!property.description) missing.push(`${name}.${field}`);
    }
  }
  return missing;
}

test('OpenAPI v3 (kubectl explain) and v2 describe every field of every kind, and every $ref resolves', async () => {
  const index = await call(api.app, 'GET', '/openapi/v3');
  const kinds = new Set<string>();
  for (const entry of Object.values(index.body.paths as Record<string, { serverRelativeURL: string }>)) {
    const document = (await call(api.app, 'GET', entry.serverRelativeURL)).body as unknown as { components: { schemas: Record<string, Schema & { 'x-kubernetes-group-version-kind'?: { kind: string }[] }> } };
    const schemas = document.components.schemas;
    assert.deepEqual(undescribed(schemas), []);
    for (const ref of JSON.stringify(document).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) assert.ok(schemas[ref[1]!], `${ref[1]} resolves`);
    for (const schema of Object.values(schemas)) for (const gvk of schema['x-kubernetes-group-version-kind'] ?? []) kinds.add(gvk.kind);
  }
  assert.deepEqual([...kinds].sort(), ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Namespace', 'Role', 'RoleBinding', 'Secret']);
  const v2 = await get('/openapi/v2', 'application/json');
  assert.equal(v2.status, 200);
  const definitions = (v2.body as unknown as { definitions: Record<string, Schema> }).definitions;
  assert.deepEqual(undescribed(definitions), []);
  for (const ref of JSON.stringify(v2.body).matchAll(/"\$ref":"#\/definitions\/([^"]+)"/g)) assert.ok(definitions[ref[1]!], `${ref[1]} resolves`);
});

test('/openapi/v2 answers JSON by default and for JSON, protobuf for kubectl\'s proto-openapi type, 406 for anything else', async () => {
  const openapi = (accept?: string) => api.app.inject({ method: 'GET', url: '/openapi/v2', headers: { ...admin, ...(accept === undefined ? {} : { accept }) } });
  for (const accept of [undefined, 'application/json', '*/*', 'application/json, application/com.github.proto-openapi.spec.v2@v1.0+protobuf']) {
    const reply = await openapi(accept);
    assert.equal(reply.statusCode, 200, accept);
    assert.match(String(reply.headers['content-type']), /^application\/json/, accept);
    assert.equal(reply.json<{ swagger: string }>().swagger, '2.0');
  }
  for (const type of ['application/com.github.proto-openapi.spec.v2@v1.0+protobuf', 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf']) {
    const reply = await openapi(`${type}, application/json`);
    assert.equal(reply.statusCode, 200, type);
    assert.equal(reply.headers['content-type'], 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
    // Document field 1 (swagger), a string: tag 0x0a, length 3, "2.0".
    assert.deepEqual([...reply.rawPayload.subarray(0, 5)], [0x0a, 3, ...Buffer.from('2.0')]);
  }
  const refused = await openapi('application/vnd.kubernetes.protobuf');
  assert.deepEqual([refused.statusCode, refused.json<Body>().reason], [406, 'NotAcceptable']);
});
