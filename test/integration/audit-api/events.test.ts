// Every request to the client API leaves exactly one audit event with the right fields, allowed or
// denied; probes the default policy leaves out leave none; no secret value reaches the audit files.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { AuditEvent } from '../../../src/audit/index.ts';
import { waitUntil } from '../../support/wait.ts';
import { admin, type AuditedCluster, type AuditedMember, startAudited } from './harness.ts';

let audited: AuditedCluster;
let m1: AuditedMember;

before(async () => {
  audited = await startAudited(1);
  m1 = audited.members[0]!;
});
after(async () => { await audited.close(); });

const b64 = (s: string) => Buffer.from(s).toString('base64');

interface Case {
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  body?: unknown;
  who?: Record<string, string>;
  contentType?: string;
  expect: {
    code: number;
    verb: string;
    decision: 'allow' | 'forbid';
    objectRef?: Record<string, string>;
    reason: RegExp;
    user?: string;
  };
}

const bob = { 'x-user': 'bob', 'x-groups': 'devs' };
const masters = /privileged group "system:masters"/;

const cases: Case[] = [
  { name: 'KV put', method: 'POST', url: '/v3/kv/put', body: { key: b64('k1'), value: b64('v1') }, expect: { code: 200, verb: 'post', decision: 'allow', reason: masters } },
  { name: 'KV range', method: 'POST', url: '/v3/kv/range', body: { key: b64('k1') }, expect: { code: 200, verb: 'post', decision: 'allow', reason: masters } },
  { name: 'namespace create', method: 'POST', url: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } },
    expect: { code: 201, verb: 'create', decision: 'allow', objectRef: { resource: 'namespaces', name: 'team-a', apiVersion: 'v1' }, reason: masters } },
  { name: 'secret create', method: 'POST', url: '/api/v1/namespaces/team-a/secrets', body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, data: { password: b64('pw') } },
    expect: { code: 201, verb: 'create', decision: 'allow', objectRef: { resource: 'secrets', namespace: 'team-a', name: 'db', apiVersion: 'v1' }, reason: masters } },
  { name: 'secret get', method: 'GET', url: '/api/v1/namespaces/team-a/secrets/db',
    expect: { code: 200, verb: 'get', decision: 'allow', objectRef: { resource: 'secrets', namespace: 'team-a', name: 'db', apiVersion: 'v1' }, reason: masters } },
  { name: 'secret list', method: 'GET', url: '/api/v1/namespaces/team-a/secrets',
    expect: { code: 200, verb: 'list', decision: 'allow', objectRef: { resource: 'secrets', namespace: 'team-a', apiVersion: 'v1' }, reason: masters } },
  { name: 'secret patch', method: 'PATCH', url: '/api/v1/namespaces/team-a/secrets/db', body: { data: { password: b64('pw2') } }, contentType: 'application/merge-patch+json',
    expect: { code: 200, verb: 'patch', decision: 'allow', objectRef: { resource: 'secrets', namespace: 'team-a', name: 'db', apiVersion: 'v1' }, reason: masters } },
  { name: 'secret delete', method: 'DELETE', url: '/api/v1/namespaces/team-a/secrets/db',
    expect: { code: 200, verb: 'delete', decision: 'allow', objectRef: { resource: 'secrets', namespace: 'team-a', name: 'db', apiVersion: 'v1' }, reason: masters } },
  { name: 'configmap create', method: 'POST', url: '/api/v1/namespaces/team-a/configmaps', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { a: '1' } },
    expect: { code: 201, verb: 'create', decision: 'allow', objectRef: { resource: 'configmaps', namespace: 'team-a', name: 'cfg', apiVersion: 'v1' }, reason: masters } },
  { name: 'configmap get', method: 'GET', url: '/api/v1/namespaces/team-a/configmaps/cfg',
    expect: { code: 200, verb: 'get', decision: 'allow', objectRef: { resource: 'configmaps', namespace: 'team-a', name: 'cfg', apiVersion: 'v1' }, reason: masters } },
  { name: 'clusterrole create', method: 'POST', url: '/apis/rbac.authorization.k8s.io/v1/clusterroles',
    body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'cm-reader' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] },
    expect: { code: 201, verb: 'create', decision: 'allow', objectRef: { resource: 'clusterroles', name: 'cm-reader', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' }, reason: masters } },
  { name: 'rolebinding list', method: 'GET', url: '/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings',
    expect: { code: 200, verb: 'list', decision: 'allow', objectRef: { resource: 'rolebindings', namespace: 'team-a', apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1' }, reason: masters } },
  { name: 'discovery by a plain user', method: 'GET', url: '/api/v1', who: bob,
    expect: { code: 200, verb: 'get', decision: 'allow', reason: /ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery"/, user: 'bob' } },
  { name: 'denied secret read', method: 'GET', url: '/api/v1/namespaces/team-a/secrets/db', who: bob,
    expect: { code: 403, verb: 'get', decision: 'forbid', objectRef: { resource: 'secrets', namespace: 'team-a', name: 'db', apiVersion: 'v1' }, reason: /no rule allows user "bob"/, user: 'bob' } },
  { name: 'denied KV put', method: 'POST', url: '/v3/kv/put', body: { key: b64('k2'), value: b64('v2') }, who: bob,
    expect: { code: 403, verb: 'post', decision: 'forbid', reason: /no rule allows user "bob"/, user: 'bob' } },
  { name: 'no certificate', method: 'GET', url: '/api/v1/namespaces', who: {},
    expect: { code: 401, verb: 'list', decision: 'forbid', objectRef: { resource: 'namespaces', apiVersion: 'v1' }, reason: /no verified client certificate/, user: 'system:anonymous' } },
  { name: 'bad JSON body', method: 'POST', url: '/api/v1/namespaces/team-a/configmaps', body: '{not json',
    expect: { code: 400, verb: 'create', decision: 'allow', objectRef: { resource: 'configmaps', namespace: 'team-a', apiVersion: 'v1' }, reason: masters } },
];

async function send(c: Case) {
  const headers: Record<string, string> = { ...(c.who ?? admin) };
  if (c.body !== undefined) headers['content-type'] = c.contentType ?? 'application/json';
  return m1.app.inject({
    method: c.method, url: c.url, headers, remoteAddress: '10.1.2.3',
    ...(c.body !== undefined ? { payload: typeof c.body === 'string' ? c.body : JSON.stringify(c.body) } : {}),
  });
}

for (const c of cases) {
  test(`${c.name}: exactly one audit event with the request's fields`, async () => {
    const before = (await m1.events()).length;
    const response = await send(c);
    assert.equal(response.statusCode, c.expect.code, response.body);
    const auditID = response.headers['audit-id'];
    assert.equal(typeof auditID, 'string', 'the response names its audit event');
    const events = await m1.events();
    assert.equal(events.length, before + 1, 'one request, one event');
    const mine = events.filter((e) => e.auditID === auditID);
    assert.equal(mine.length, 1);
    const e = mine[0]!;
    const who = c.who ?? admin;
    assert.equal(e.user.username, c.expect.user ?? 'admin');
    if (who['x-groups'] !== undefined) assert.deepEqual(e.user.groups, [...who['x-groups'].split(','), 'system:authenticated']);
    assert.deepEqual(e.sourceIPs, ['10.1.2.3']);
    assert.equal(e.verb, c.expect.verb);
    assert.equal(e.requestURI, c.url);
    assert.deepEqual(e.objectRef, c.expect.objectRef);
    assert.equal(e.annotations['authorization.k8s.io/decision'], c.expect.decision);
    assert.match(e.annotations['authorization.k8s.io/reason'] ?? '', c.expect.reason);
    assert.equal(e.annotations['coffer.dev/member'], 'm1');
    // The query shows the request's latest stage, which carries the response code.
    assert.equal(e.stage, 'ResponseComplete');
    assert.deepEqual(e.responseStatus, { code: c.expect.code });
    // In the file: a request that reached its handler (every case allowed and answered below 400) has a
    // RequestReceived record ahead of its completion; one stopped before (denied, no certificate, a bad
    // body) has the one completion record.
    await m1.audit.flushed();
    const stages = (await records(m1.dataDir)).filter((r) => r.auditID === auditID).map((r) => r.stage);
    const handled = c.expect.decision === 'allow' && c.expect.code < 400;
    assert.deepEqual(stages, handled ? ['RequestReceived', 'ResponseComplete'] : ['ResponseComplete']);
  });
}

test('a watch is recorded once, before its stream starts', async () => {
  const before = (await m1.events()).length;
  // The stream is hijacked, so no onSend runs for it: its one event must come from before the handler.
  const controller = new AbortController();
  const pending = m1.app.inject({ method: 'GET', url: '/api/v1/namespaces/team-a/configmaps?watch=true&timeoutSeconds=1', headers: admin, signal: controller.signal } as never);
  const events = await waitUntil(async () => {
    const all = await m1.events();
    return all.length > before ? all : undefined;
  }, 10_000, "the watch's audit record");
  const watch = events.filter((e) => e.verb === 'watch');
  assert.equal(watch.length, 1);
  assert.equal(watch[0]!.stage, 'RequestReceived');
  assert.equal(watch[0]!.annotations['authorization.k8s.io/decision'], 'allow');
  controller.abort();
  await Promise.resolve(pending).catch(() => undefined);
});

test('probes and scrapes the default policy leaves out (/healthz, /readyz, /livez) leave no event', async () => {
  const before = (await m1.events()).length;
  for (const url of ['/healthz', '/readyz', '/livez']) {
    const response = await m1.app.inject({ method: 'GET', url, headers: admin });
    assert.ok(response.statusCode < 500, `${url}: ${response.statusCode}`);
  }
  assert.equal((await m1.events()).length, before);
});

test('no Secret value, nor its base64 or hex, reaches the audit files, however it is sent', async () => {
  const marker = 'Zq7-audit-marker-value-Xk9';
  const markers = [marker, b64(marker), Buffer.from(marker).toString('hex'), b64(`${marker}-2`), `${marker}-3`];
  const responses = [
    await m1.app.inject({ method: 'POST', url: '/api/v1/namespaces/team-a/secrets', headers: { ...admin, 'content-type': 'application/json' },
      payload: JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'marked' }, data: { v: b64(marker) }, stringData: { w: `${marker}-3` } }) }),
    await m1.app.inject({ method: 'PUT', url: '/api/v1/namespaces/team-a/secrets/marked', headers: { ...admin, 'content-type': 'application/json' },
      payload: JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'marked' }, data: { v: b64(`${marker}-2`) } }) }),
    await m1.app.inject({ method: 'GET', url: '/api/v1/namespaces/team-a/secrets/marked', headers: admin }),
    await m1.app.inject({ method: 'POST', url: '/v3/kv/put', headers: admin, payload: JSON.stringify({ key: b64('marked'), value: b64(marker) }) }),
  ];
  assert.deepEqual(responses.map((r) => r.statusCode), [201, 200, 200, 200]);
  await m1.audit.flushed();
  const dir = join(m1.dataDir, 'audit');
  const text = (await Promise.all((await readdir(dir)).map((f) => readFile(join(dir, f), 'utf8')))).join('\n');
  for (const m of markers) assert.ok(!text.includes(m), `the audit files hold ${m}`);
  // The write was recorded at level Request with its values digested.
  const create = (await m1.events()).find((e) => e.verb === 'create' && e.objectRef?.resource === 'secrets' && (e.requestObject as { metadata?: { name?: string } } | undefined)?.metadata?.name === 'marked');
  assert.match(JSON.stringify((create as AuditEvent).requestObject), /hmac-sha256:[0-9a-f]{32}:[0-9a-f]{64}/);
});


/** Every event record in the member's audit files, in log order (both stages of a request). */
async function records(dataDir: string): Promise<AuditEvent[]> {
  const dir = join(dataDir, 'audit');
  const number = (name: string) => Number(/^audit-(\d+)\.log$/.exec(name)?.[1] ?? Number.NaN);
  const files = (await readdir(dir)).filter((f) => !Number.isNaN(number(f))).sort((a, b) => number(a) - number(b));
  const lines = (await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')))).join('\n').split('\n');
  return lines.filter((line) => line.includes('"kind":"Event"')).map((line) => JSON.parse(line) as AuditEvent);
}
