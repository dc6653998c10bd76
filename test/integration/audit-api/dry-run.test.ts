// dryRun=All on every write the API serves: validated, authorized and answered as if done, audited as a
// dry run — and nothing persisted: no revision consumed, no watch event, the objects unchanged.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ManualClock } from '../../../src/base/index.ts';
import { b64, exchange, grant, who } from './attacker.ts';
import { admin, type AuditedCluster, type AuditedMember, startAudited } from './harness.ts';

let audited: AuditedCluster;
let m1: AuditedMember;
let app: FastifyInstance;
const clock = new ManualClock(Date.now());
const ns = '/api/v1/namespaces/default';
const versions = '/apis/coffer.dev/v1/namespaces/default/secrets/db';

async function send(method: string, url: string, body?: unknown, contentType = 'application/json', headers: Record<string, string> = admin) {
  const response = await app.inject({
    method: method as 'POST', url, headers: { ...headers, ...(body !== undefined ? { 'content-type': contentType } : {}) },
    ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
  });
  return { status: response.statusCode, body: response.json<Record<string, unknown>>(), auditID: response.headers['audit-id'] as string };
}

async function revision(): Promise<number> {
  return (await m1.backend.mvcc().hash(0)).revision;
}

before(async () => {
  audited = await startAudited(1, {}, (audit) => audit, clock);
  m1 = audited.members[0]!;
  app = m1.app;
  assert.equal((await send('POST', `${ns}/secrets`, { metadata: { name: 'db' }, data: { pw: b64('v1') } })).status, 201);
  assert.equal((await send('POST', `${versions}/rotate`, { data: { pw: b64('v2') } })).status, 200);
  assert.equal((await send('POST', `${ns}/configmaps`, { metadata: { name: 'cfg' }, data: { a: '1' } })).status, 201);
  assert.equal((await send('POST', '/api/v1/namespaces', { metadata: { name: 'team' } })).status, 201);
  assert.equal((await send('POST', '/api/v1/namespaces/team/configmaps', { metadata: { name: 'inside' }, data: { a: '1' } })).status, 201);
  await grant(app, 'dry-editor', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['create'] }], 'editor');
});
after(async () => { await audited.close(); });

test('every write with dryRun=All answers as if done and changes nothing', async () => {
  const before = await revision();
  const rvBefore = (await send('GET', `${ns}/secrets/db`)).body.metadata as { resourceVersion: string };
  const writes: Array<[string, string, unknown?, string?, number?]> = [
    ['POST', `${ns}/secrets`, { metadata: { name: 'new' }, stringData: { pw: 'x' } }, undefined, 201],
    ['POST', `${ns}/configmaps`, { metadata: { name: 'new' }, data: { a: 'b' } }, undefined, 201],
    ['POST', '/api/v1/namespaces', { metadata: { name: 'dry' } }, undefined, 201],
    ['POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { metadata: { name: 'dry' }, rules: [] }, undefined, 201],
    ['PUT', `${ns}/configmaps/cfg`, { metadata: { name: 'cfg' }, data: { a: 'changed' } }],
    ['PATCH', `${ns}/secrets/db`, { data: { pw: b64('patched') } }, 'application/merge-patch+json'],
    ['PATCH', `${ns}/configmaps/cfg`, [{ op: 'replace', path: '/data/a', value: 'json' }], 'application/json-patch+json'],
    ['DELETE', `${ns}/configmaps/cfg`],
    ['DELETE', `${ns}/secrets/db`],
    ['DELETE', '/api/v1/namespaces/team'],
    ['DELETE', '/apis/rbac.authorization.k8s.io/v1/clusterroles/viewer'],
    ['POST', `${versions}/rotate`, { data: { pw: b64('rotated') } }],
    ['POST', `${versions}/rotate`, { data: { pw: b64('staged') }, stage: true }],
    ['POST', `${versions}/rollback`, { version: 1 }],
  ];
  for (const [method, url, body, contentType, status] of writes) {
    const reply = await send(method, `${url}?dryRun=All`, body, contentType);
    assert.equal(reply.status, status ?? 200, `${method} ${url}: ${JSON.stringify(reply.body).slice(0, 200)}`);
    const events = (await m1.events()).filter((e) => e.auditID === reply.auditID);
    assert.equal(events[0]?.annotations['coffer.dev/dry-run'], 'true', `${method} ${url} is audited as a dry run`);
  }
  assert.equal(await revision(), before, 'no revision was consumed');
  assert.equal(((await send('GET', `${ns}/secrets/db`)).body.metadata as { resourceVersion: string }).resourceVersion, rvBefore.resourceVersion);
  assert.equal((await send('GET', `${ns}/configmaps/cfg`)).body.data !== undefined, true);
  assert.equal((await send('GET', '/api/v1/namespaces/team/configmaps/inside')).status, 200, 'a dry-run namespace delete cascades nothing');
  assert.equal((await send('GET', `${ns}/secrets/new`)).status, 404);
  const pending = await send('GET', `${versions}/versions?stage=pending`);
  assert.equal(pending.status, 404, 'a dry-run stage leaves nothing pending');
  // A promote has nothing to promote (the stage was a dry run): the same 409 a real promote would give.
  assert.equal((await send('POST', `${versions}/promote?dryRun=All`)).status, 409);
});

test('a delete asks for a dry run in its DeleteOptions body, as kubectl sends it: nothing deleted, audited as a dry run', async () => {
  const before = await revision();
  for (const url of [`${ns}/configmaps/cfg`, '/api/v1/namespaces/team', `${ns}/secrets`]) {
    const reply = await send('DELETE', url, { kind: 'DeleteOptions', apiVersion: 'v1', dryRun: ['All'], propagationPolicy: 'Background' });
    assert.equal(reply.status, 200, `${url}: ${JSON.stringify(reply.body).slice(0, 200)}`);
    const events = (await m1.events()).filter((e) => e.auditID === reply.auditID);
    assert.equal(events[0]?.annotations['coffer.dev/dry-run'], 'true', `${url} is audited as a dry run`);
  }
  assert.equal(await revision(), before, 'nothing was deleted');
  assert.equal((await send('GET', '/api/v1/namespaces/team/configmaps/inside')).status, 200);
  assert.equal((await send('DELETE', `${ns}/configmaps/cfg`, { dryRun: ['Sure'] })).status, 400);
  assert.equal((await send('DELETE', `${ns}/configmaps/cfg`, { dryRun: 'All' })).status, 400, 'a list, as Kubernetes defines it');
  assert.equal(await revision(), before);
});

test('a dry run still validates and authorizes: the same refusals as the real write', async () => {
  assert.equal((await send('POST', `${ns}/configmaps?dryRun=All`, { metadata: { name: 'Bad_Name' } })).status, 422);
  assert.equal((await send('POST', `${ns}/configmaps?dryRun=All`, { metadata: { name: 'cfg' } })).status, 409, 'AlreadyExists');
  assert.equal((await send('DELETE', `${ns}/configmaps/none?dryRun=All`)).status, 404);
  assert.equal((await send('POST', `${ns}/secrets?dryRun=All`, { metadata: { name: 'x' } }, 'application/json', who('editor'))).status, 403);
  const created = await send('POST', `${ns}/configmaps?dryRun=All`, { metadata: { name: 'fresh' } }, 'application/json', who('editor'));
  assert.equal(created.status, 201);
  assert.equal((created.body.metadata as Record<string, unknown>).resourceVersion, undefined, 'a dry-run create was never stored: no resourceVersion');
  assert.equal((await send('POST', `${ns}/configmaps?dryRun=Sure`, { metadata: { name: 'fresh' } })).status, 400);
});

test('a dry run emits no watch event', async () => {
  const start = ((await send('GET', `${ns}/configmaps`)).body.metadata as { resourceVersion: string }).resourceVersion;
  assert.equal((await send('PUT', `${ns}/configmaps/cfg?dryRun=All`, { metadata: { name: 'cfg' }, data: { a: 'dry' } })).status, 200);
  assert.equal((await send('PUT', `${ns}/configmaps/cfg`, { metadata: { name: 'cfg' }, data: { a: 'real' } })).status, 200);
  // The watch from before both writes sees the real one first: the dry run left no event.
  const watch = await exchange(app, clock, { method: 'GET', url: `${ns}/configmaps?watch=true&allowWatchBookmarks=true&resourceVersion=${start}`, headers: admin, streaming: true });
  const first = JSON.parse(watch.text.split('\n')[0]!) as { type: string; object: { data: { a: string } } };
  assert.equal(first.type, 'MODIFIED');
  assert.equal(first.object.data.a, 'real');
});
