// The client API fuzzed with fast-check: random methods, paths built from the route table with odd
// encodings, query parameters, headers and bodies (JSON, JSON Patch, merge and strategic merge patch,
// YAML, protobuf, garbage, too large), sent by identities with partial rights. Whatever arrives: never a
// 500, never the value of a Secret the caller may not get (nor its stored size), never a request without its audit event,
// never a change made by a refused request. Seeded (COFFER_FUZZ_SEED replays a run; the seed is
// printed), and a failing case found here becomes a case in attacks.test.ts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { routeTable } from '../../../src/api/index.ts';
import { parseRequest } from '../../../src/api/request.ts';
import { ManualClock } from '../../../src/base/index.ts';
import { requestBodyBytesMax, valueBytesMax } from '../../../src/config/index.ts';
import { assertNoValue, b64, exchange, grant, userState, who } from './attacker.ts';
import { admin, type AuditedCluster, type AuditedMember, startAudited } from './harness.ts';

const marker = 'fuzz-marker-0ddba11';
const seed = Number(process.env.COFFER_FUZZ_SEED ?? 20261202);
const runs = Number(process.env.COFFER_FUZZ_RUNS ?? 300);
/** What the default policy records at None when it is allowed: probes, member status, the member table. */
const probes = new Set(['/healthz', '/livez', '/readyz', '/v3/maintenance/status', '/v3/cluster/member/list']);

let audited: AuditedCluster;
let m1: AuditedMember;
let app: FastifyInstance;
const clock = new ManualClock(Date.now());

before(async () => {
  audited = await startAudited(1, {}, (audit) => audit, clock);
  m1 = audited.members[0]!;
  app = m1.app;
  await grant(app, 'fuzz-lister', [{ apiGroups: [''], resources: ['secrets'], verbs: ['list', 'watch'] }], 'lister');
  await grant(app, 'fuzz-writer', [{ apiGroups: ['', 'coffer.dev'], resources: ['secrets', 'secrets/rotate', 'configmaps'], verbs: ['create', 'patch', 'update'] }], 'writer');
  await grant(app, 'fuzz-informer', [{ apiGroups: ['*'], resources: ['*'], verbs: ['list', 'watch'] }], 'informer');
  await grant(app, 'fuzz-kv', [{ nonResourceURLs: ['/v3/*'], verbs: ['post'] }, { apiGroups: ['coffer.dev'], resources: ['kvkeys'], verbs: ['*'] }], 'kv-user');
  const created = await app.inject({ method: 'POST', url: '/api/v1/namespaces/default/secrets', headers: admin, payload: { metadata: { name: 'db' }, data: { password: b64(marker) } } });
  assert.equal(created.statusCode, 201, created.body);
});
after(async () => { await audited.close(); });

const identities = [who('nobody'), who('lister'), who('informer'), who('writer'), who('kv-user'), who('system:member:m2', ['system:members'])];

/** A path segment as an attacker would spell it. */
const segment = fc.oneof(
  fc.constantFrom('db', 'default', 'secrets', 'configmaps', 'namespaces', 'registry', '.', '..', '', '%2F', '%2e', '%00', '%zz', '%73ecrets', 'd%62', '%C0%AF', ';x=1', 'db#x', '*'),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
  // Raw characters a request line can carry (no space, '?', '#' or '/', which would change its shape).
  fc.string({ maxLength: 8, unit: fc.constantFrom(...[...Array(0x5e).keys()].map((i) => String.fromCharCode(0x21 + i)).filter((c) => !'?#/'.includes(c))) }),
);

const queryParam = fc.tuple(
  fc.constantFrom('watch', 'Watch', '%77atch', 'resourceVersion', 'dryRun', 'labelSelector', 'fieldSelector', 'limit', 'continue', 'local', 'version', 'stage', 'timeoutSeconds',
    'propagationPolicy', 'orphanDependents', 'sendInitialEvents', 'resourceVersionMatch', 'fieldManager', 'force', 'x'),
  fc.oneof(fc.constantFrom('true', '1', 'True', '%74rue', 'false', '0', 'All', '1', '999999999', '-1', 'metadata.name=db', 'a=b', 'type=Opaque', 'Foreground', 'Orphan', 'NotOlderThan', 'Exact', 'metadata.name==db', 'metadata.name%3Ddb', 'kubectl', ''), fc.string({ maxLength: 20 }).map(encodeURIComponent)),
).map(([k, v]) => `${k}=${v}`);

const body = fc.oneof(
  fc.constant(undefined),
  fc.json().map((text) => ({ type: 'application/json', payload: text })),
  fc.constant({ type: 'application/json', payload: JSON.stringify({ metadata: { name: 'db' }, data: { password: b64(marker) } }) }),
  fc.constant({ type: 'application/merge-patch+json', payload: '{}' }),
  // DeleteOptions as kubectl sends them: a dry run and a cascade in the body.
  fc.constant({ type: 'application/json', payload: JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', dryRun: ['All'], propagationPolicy: 'Foreground' }) }),
  fc.constant({ type: 'application/merge-patch+json', payload: JSON.stringify({ metadata: { finalizers: ['example.com/x'], ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'c', uid: 'u' }] } }) }),
  // A delete's uid precondition, of any shape; owner references naming a cluster-scoped owner, or padded
  // to push the object just past valueBytesMax (whose refusal must not tell a caller without get its size).
  fc.oneof(fc.string({ maxLength: 40 }), fc.integer(), fc.constant('u'.repeat(300))).map((uid) => ({ type: 'application/json', payload: JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid } }) })),
  fc.constant({ type: 'application/merge-patch+json', payload: JSON.stringify({ metadata: { ownerReferences: [{ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', name: 'b', uid: 'u' }] } }) }),
  // A create naming the marker Secret as its owner (which only a caller who may update it may do).
  fc.constant({ type: 'application/json', payload: JSON.stringify({ metadata: { name: 'fuzz-owned', ownerReferences: [{ apiVersion: 'v1', kind: 'Secret', name: 'db', uid: 'u' }] } }) }),
  fc.integer({ min: 150, max: 400 }).map((short) => ({
    type: 'application/merge-patch+json', payload: JSON.stringify({ metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', uid: 'u', name: 'a'.repeat(valueBytesMax - short) }] } }),
    [fc.toStringMethod]: () => `{ merge patch: an owner reference named ${valueBytesMax - short} characters long }`,
  })),
  fc.constant({ type: 'application/json-patch+json', payload: JSON.stringify([{ op: 'replace', path: '/data/password', value: b64(marker) }]) }),
  // JSON patches that read the stored value: into an annotation (copy, move from any path reaching it), or a guess tested.
  fc.tuple(fc.constantFrom('copy', 'move'), fc.constantFrom('/data/password', '/data', '', '/metadata')).map(([op, from]) => ({
    type: 'application/json-patch+json', payload: JSON.stringify([{ op: 'add', path: '/metadata/annotations', value: {} }, { op, from, path: '/metadata/annotations/fuzz' }]),
  })),
  fc.constant({ type: 'application/json-patch+json', payload: JSON.stringify([{ op: 'test', path: '/data/password', value: b64(marker) }, { op: 'add', path: '/metadata/labels', value: { fuzz: 'tested' } }]) }),
  // Operations that fail where the key is absent, and a value under data keys named like a body's fields.
  fc.tuple(fc.constantFrom('remove', 'replace'), fc.constantFrom('/data/password', '/data/absent', '/stringData/password')).map(([op, path]) => ({
    type: 'application/json-patch+json', payload: JSON.stringify([{ op, path, ...(op === 'replace' ? { value: b64(marker) } : {}) }]),
  })),
  fc.constant({ type: 'application/json-patch+json', payload: JSON.stringify([{ op: 'add', path: '/data', value: { password: b64(marker), key: b64(marker), type: b64(marker) } }]) }),
  fc.constant({ type: 'application/strategic-merge-patch+json', payload: JSON.stringify({ metadata: { labels: { a: 'b' } } }) }),
  fc.constant({ type: 'application/apply-patch+yaml', payload: 'metadata:\n  name: db\nstringData:\n  password: x\n' }),
  // Server-side apply of the marker itself, as YAML and as the JSON kubectl sends (fieldManager and force come from the query).
  fc.constant({ type: 'application/apply-patch+yaml', payload: `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  managedFields: []\nstringData:\n  password: ${marker}\n` }),
  fc.constant({ type: 'application/apply-patch+yaml', payload: JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, data: { password: b64(marker) } }) }),
  fc.string({ maxLength: 64, unit: fc.constantFrom('a', ':', ' ', '\n', '-', '&', '*', '[', '{', '"', '!', '|', '>', '#', '?') }).map((payload) => ({ type: 'application/apply-patch+yaml', payload })),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ type: 'application/vnd.kubernetes.protobuf', payload: Buffer.concat([Buffer.from('k8s\0'), Buffer.from(bytes)]) })),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ type: 'text/plain', payload: Buffer.from(bytes) })),
  // Larger than the API reads (shown by its size when fast-check prints a counterexample).
  fc.constant({ type: 'application/json', payload: JSON.stringify({ blob: 'x'.repeat(requestBodyBytesMax + 1024) }), [fc.toStringMethod]: () => `{ JSON body of ${requestBodyBytesMax + 1034} bytes }` }),
);

const extraHeaders = fc.record({
  impersonation: fc.option(fc.constantFrom({ 'impersonate-user': 'admin' }, { 'impersonate-group': 'system:masters' }, { 'impersonate-user': 'admin', 'impersonate-group': 'system:masters' }, { 'impersonate-uid': '0' }), { nil: undefined }),
  agent: fc.option(fc.string({ maxLength: 300 }), { nil: undefined }),
});

test(`fuzzing the client API (seed ${seed}, ${runs} runs): no 500, no value without get, every request audited, refusals change nothing`, async () => {
  process.stdout.write(`# fuzz seed ${seed} (COFFER_FUZZ_SEED=${seed} replays it)\n`);
  const routePath = fc.constantFrom(...new Set(routeTable(app).map((r) => r.url))).chain((url) =>
    fc.tuple(...url.split('/').slice(1).map((part) => fc.oneof(
      // Mostly the real objects (where a leak would show), sometimes an attacker's spelling.
      { weight: 5, arbitrary: part === ':namespace' ? fc.constant('default') : part === ':name' ? fc.constantFrom('db', 'default') : fc.constant(part) },
      { weight: 1, arbitrary: segment },
    )))
      .map((parts) => `/${parts.join('/')}`));
  const request = fc.record({
    method: fc.oneof({ weight: 3, arbitrary: fc.constant('GET') }, { weight: 4, arbitrary: fc.constantFrom('HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS') }),
    path: routePath,
    query: fc.array(queryParam, { maxLength: 4 }),
    body,
    identity: fc.constantFrom(...identities),
    extra: extraHeaders,
  });
  await fc.assert(fc.asyncProperty(request, async ({ method, path, query, body: sent, identity, extra }) => {
    // allowWatchBookmarks lets the reader know when a watch has delivered everything (attacker.ts).
    const url = `${path}?${[...query, 'allowWatchBookmarks=true'].join('&')}`;
    const parsed = parseRequest(method, url);
    const headers: Record<string, string> = { ...identity, ...(extra.impersonation as Record<string, string> | undefined), ...(extra.agent !== undefined ? { 'user-agent': extra.agent.replace(/[^\x20-\x7e]/g, '') } : {}) };
    if (sent !== undefined) headers['content-type'] = sent.type;
    const before = await userState(m1);
    const answer = await exchange(app, clock, { method, url, headers, streaming: parsed.ok && parsed.watch, ...(sent !== undefined ? { payload: sent.payload } : {}) });
    const what = `${headers['x-user']} ${method} ${url.slice(0, 200)}`;
    assert.ok(answer.status < 500, `${what}: ${answer.status} ${answer.text.slice(0, 300)}`);
    assertNoValue(answer.text, marker, `the answer to ${what}`);
    // No identity here may get an object: none is told the stored size of one (its hidden parts).
    assert.doesNotMatch(answer.text, /\bis \d+ bytes stored/, `the answer to ${what} names a stored size`);
    assert.equal(typeof answer.auditID, 'string', `${what}: no audit ID`);
    const events = (await m1.events()).filter((e) => e.auditID === answer.auditID);
    const probe = parsed.ok && probes.has(parsed.path) && answer.status < 400;
    assert.equal(events.length, probe ? 0 : 1, `${what}: ${events.length} audit events`);
    // Every stage as written (a write's RequestReceived travelled in its Raft entry), not only the latest.
    assertNoValue(JSON.stringify((await m1.records()).filter((r) => r.auditID === answer.auditID)), marker, `the audit records of ${what}`);
    if (answer.status >= 400) assert.equal(await userState(m1), before, `${what} was refused (${answer.status}) but changed the store`);
  }), { seed, numRuns: runs });
});
