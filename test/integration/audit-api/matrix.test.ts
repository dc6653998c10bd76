// The authorization matrix, generated from the route table: every route the client API serves × every
// method it answers × query encodings of its parameters × identities with partial rights. For each
// request: no byte of the answer (streams included) and no byte of its audit record carries the value
// of a Secret the identity may not `get` (raw, base64 or hex) — server-side apply included, which sends
// the marker itself; it leaves exactly one audit event (none
// only for a probe the policy records at None); a refused request changed nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { routeTable } from '../../../src/api/index.ts';
import { frame } from '../../../src/etcdpb/index.ts';
import { encode, messageType } from '../../../src/etcdpb/index.ts';
import { grpcPathPrefix } from '../../../src/api/grpc/plugin.ts';
import { ManualClock } from '../../../src/base/index.ts';
import { valueBytesMax } from '../../../src/config/index.ts';
import { assertNoValue, b64, exchange, formsOf, grant, userState, who } from './attacker.ts';
import { admin, type AuditedCluster, type AuditedMember, auditQueryLimitMax, startAudited } from './harness.ts';

const marker = 'matrix-marker-51c0ffee';
const forms = formsOf(marker);

/** Identities none of which may `get` Secret default/db. */
const identities: Record<string, Record<string, string>> = {
  nobody: who('nobody'),
  lister: who('lister'), // list and watch Secrets everywhere
  getOther: who('get-other'), // get only Secret default/other
  oneName: who('one-name'), // get, list and watch only Secret default/other (resourceNames)
  patcher: who('patcher'), // patch and update Secrets, no get
  informer: who('informer'), // list and watch every resource and subresource of every group, as an informer's role
  kv: who('kv-user'), // the KV API (nonResourceURLs /v3/* and the gRPC calls /etcdserverpb.*) and every key (kvkeys)
  member: who('system:member:m2', ['system:members']),
};

/** Probes, member status and the member table: the default policy records them at None when they are allowed. */
const probes = new Set(['/healthz', '/livez', '/readyz', '/v3/maintenance/status', '/v3/cluster/member/list', '/etcdserverpb.Maintenance/Status', '/etcdserverpb.Cluster/MemberList']);

let audited: AuditedCluster;
let m1: AuditedMember;
let app: FastifyInstance;
const clock = new ManualClock(Date.now());
/** A revision from before the marker Secret's last change: a watch from it replays that change. */
let replayFrom = 0;
/** A lease holding a reserved key with the marker (only system:masters may reach it): revoking it would delete the key. */
let registryLease = 0;

/** Fills a route's parameters with objects that exist (the marker Secret for Secret routes). */
function fill(url: string): string {
  const name = url.includes('/secrets/') ? 'db' : url.includes('/configmaps/') ? 'cfg' : url.includes('clusterroles/') ? 'viewer'
    : url.includes('/namespaces/:name') ? 'default' : 'matrix';
  return url.replace(':namespace', 'default').replace(':name', name);
}

/** Query variants of a request: the watch flag in its encodings, old and replaying resourceVersions, dryRun, a delete's propagationPolicy. */
function variants(method: string, url: string): string[] {
  if (method === 'GET' || method === 'HEAD') {
    if (!url.startsWith('/api/v1/') && !url.startsWith('/apis/rbac') && !url.startsWith('/apis/coffer.dev/v1/namespaces')) return [''];
    const watch = 'allowWatchBookmarks=true&watch=';
    // A Secret's kept versions hold its values: asked for by number and by stage, as a get and as a watch.
    if (url.endsWith('/versions')) return ['', 'version=2', 'stage=current', `${watch}true&version=2`, 'watch=1&stage=current', `${watch}true`];
    // A collection's list and watch by an exact metadata.name selector are authorized as requests for that
    // name (resourceNames apply): for one's own name, another's, and the selectors and encodings that are not one name.
    const byName = url.endsWith(':name') ? [] : ['fieldSelector=metadata.name%3Dother', 'fieldSelector=metadata.name%3Ddb', `${watch}true&fieldSelector=metadata.name%3D%3Dother&resourceVersion=${replayFrom}`,
      `${watch}true&fieldSelector=metadata.name!%3Dother`, 'fieldSelector=metadata.name%3Dother,metadata.name%3Ddb', 'fieldSelector=metadata.name%3Dother%2Cmetadata.name!%3Dx',
      'fieldSelector=metadata.name%3Dother&fieldSelector=metadata.name%3Ddb'];
    return ['', `${watch}true`, `${watch}1`, `${watch}True`, `allowWatchBookmarks=true&watch=%74rue`, `${watch}true&resourceVersion=1`,
      `${watch}true&resourceVersion=${replayFrom}`, 'resourceVersion=1', 'watch=true&watch=false', ...byName];
  }
  // A delete's cascade reaches other objects: each policy must stay inside the caller's rights.
  if (method === 'DELETE') return ['', 'dryRun=All', 'propagationPolicy=Foreground', 'propagationPolicy=Orphan'];
  // Server-side apply (bodyOf sends an applied configuration when a fieldManager is named): conflicting, dry and forced.
  if (method === 'PATCH') return ['', 'dryRun=All', 'fieldManager=matrix', 'fieldManager=matrix&dryRun=All&force=true', 'fieldManager=matrix&force=true'];
  return ['', 'dryRun=All'];
}

/** An applied configuration for a route: of the route's kind, setting the marker where the kind holds values. */
function appliedConfiguration(url: string): unknown {
  const name = fill(url).split('/').pop();
  if (url.includes('/configmaps/')) return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: marker } };
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, labels: { applied: 'yes' } }, data: { password: b64(marker) } };
}

/**
 * A body that names ConfigMap default/cfg as its object's owner: none of the identities may update that
 * ConfigMap, so every such write must be refused (naming an owner needs the right to update it).
 */
type Body = { body?: unknown; contentType?: string; namesOwner?: true };
const cfgAsOwner = { ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'cfg', uid: 'matrix-uid' }] };

/** The bodies per route: what a caller with partial rights would send to reach the marker or replace it. */
function bodiesOf(method: string, url: string, query: string): Body[] {
  // A patch that changes nothing, and JSON patches that read the stored object: one copies the value into
  // an annotation (which a redacted answer and every list show), one tests a guess against it.
  if (method === 'PATCH' && !query.includes('fieldManager=')) {
    const jsonPatch = 'application/json-patch+json';
    return [
      { body: {}, contentType: 'application/merge-patch+json' },
      { body: [{ op: 'add', path: '/metadata/annotations', value: {} }, { op: 'copy', from: '/data/password', path: '/metadata/annotations/matrix' }], contentType: jsonPatch },
      { body: [{ op: 'test', path: '/data/password', value: b64(marker) }, { op: 'add', path: '/metadata/labels', value: { matrix: 'tested' } }], contentType: jsonPatch },
      // An owner reference padded to push the object just past valueBytesMax: a refusal that named the
      // stored size would tell a caller without get the size of what it hides.
      { body: { metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', uid: 'u', name: 'a'.repeat(valueBytesMax - 200) }] } }, contentType: 'application/merge-patch+json' },
      { body: { metadata: cfgAsOwner }, contentType: 'application/merge-patch+json', namesOwner: true },
    ];
  }
  if (method === 'POST' && (url.startsWith('/api/v1/') || url.startsWith('/apis/rbac.authorization.k8s.io/'))) {
    return [bodyOf(method, url, query), { body: { metadata: { name: 'matrix-owned', ...cfgAsOwner } }, namesOwner: true }];
  }
  // A delete meant for an object of another uid (client-go's precondition): refused, nothing deleted.
  if (method === 'DELETE' && !url.startsWith('/v3/') && !url.startsWith(grpcPathPrefix)) return [{}, { body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: 'not-its-uid' } } }];
  return [bodyOf(method, url, query)];
}

function bodyOf(method: string, url: string, query: string): Body {
  const registryKey = b64('/registry/secrets/default/db');
  const kv: Record<string, unknown> = {
    '/v3/kv/range': { key: registryKey },
    '/v3/kv/put': { key: registryKey, value: b64(marker) },
    '/v3/kv/deleterange': { key: registryKey },
    // The outer transaction touches a free key only; the one nested in it reads the Secret's key, whichever branch runs.
    '/v3/kv/txn': {
      compare: [{ key: b64('matrix/free'), target: 'VERSION', result: 'EQUAL', version: '0' }],
      success: [{
        request_txn: {
          compare: [{ key: registryKey, target: 'VALUE', result: 'EQUAL', value: b64(marker) }],
          success: [{ request_range: { key: registryKey } }], failure: [{ request_range: { key: registryKey } }],
        },
      }],
    },
    '/v3/kv/compaction': { revision: '1' },
    '/v3/watch': { create_request: { key: b64('/registry/'), range_end: b64('/registry0') } },
    '/v3/maintenance/hashkv': { revision: '0' },
    '/v3/cluster/member/add': {}, // refused as malformed: the matrix must not grow the cluster
    '/v3/cluster/member/update': { ID: '999', peerURLs: ['https://127.0.0.1:1'] }, // no such member: refused, changes nothing
    '/v3/cluster/member/remove': { ID: '999' },
    '/v3/cluster/member/promote': { ID: '999' },
    '/v3/maintenance/transfer-leadership': { targetID: '999' },
  };
  if (url.startsWith('/v3/')) return { body: kv[url] ?? {} };
  if (url.startsWith(grpcPathPrefix)) return { body: grpcBody(url), contentType: 'application/grpc' };
  if (method === 'PATCH' && query.includes('fieldManager=')) return { body: appliedConfiguration(url), contentType: 'application/apply-patch+yaml' };
  if (method === 'PUT') return { body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, data: { password: b64(marker) } } };
  if (method === 'POST' && url.endsWith('/rotate')) return { body: { data: { password: b64(marker) } } };
  if (method === 'POST' && url.endsWith('/rollback')) return { body: { version: 1 } };
  if (method === 'POST') return { body: { metadata: { name: 'matrix-new' } } };
  return {};
}

const grpcWatchPath = `${grpcPathPrefix}Watch/Watch`;

/** A gRPC call's body (one framed message) reaching for the marker through Coffer's keyspace, as the JSON bodies above do. */
function grpcBody(url: string): Buffer {
  const registry = { key: Buffer.from('/registry/secrets/default/db') };
  const messages: Record<string, [string, Record<string, unknown>]> = {
    'KV/Range': ['RangeRequest', { ...registry, range_end: Buffer.from('/registry0') }],
    'KV/Put': ['PutRequest', { ...registry, value: Buffer.from(marker) }],
    'KV/DeleteRange': ['DeleteRangeRequest', registry],
    'KV/Txn': ['TxnRequest', {
      compare: [{ key: Buffer.from('matrix/free'), target: 'VERSION', result: 'EQUAL', version: 0 }],
      success: [{ request_txn: { compare: [{ ...registry, target: 'VALUE', result: 'EQUAL', value: Buffer.from(marker) }], success: [{ request_range: registry }], failure: [{ request_range: registry }] } }],
    }],
    'KV/Compact': ['CompactionRequest', { revision: 1 }],
    'Watch/Watch': ['WatchRequest', { create_request: { key: Buffer.from('/registry/'), range_end: Buffer.from('/registry0'), start_revision: replayFrom } }],
    'Cluster/MemberRemove': ['MemberRemoveRequest', { ID: 999 }],
    'Cluster/MemberPromote': ['MemberPromoteRequest', { ID: 999 }],
    'Maintenance/MoveLeader': ['MoveLeaderRequest', { targetID: 999 }],
    // The lease holding the Secret's key: its revoke would delete the Secret, its time-to-live would name the key.
    'Lease/LeaseRevoke': ['LeaseRevokeRequest', { ID: registryLease }],
    'Lease/LeaseTimeToLive': ['LeaseTimeToLiveRequest', { ID: registryLease, keys: true }],
    'Lease/LeaseKeepAlive': ['LeaseKeepAliveRequest', { ID: registryLease }],
    'Lease/LeaseGrant': ['LeaseGrantRequest', { TTL: 600 }],
  };
  const [type, fields] = messages[url.slice(grpcPathPrefix.length)] ?? ['StatusRequest', {}];
  return frame(encode(messageType(type), fields));
}

before(async () => {
  audited = await startAudited(1, {}, (audit) => audit, clock);
  m1 = audited.members[0]!;
  app = m1.app;
  const role = (name: string, rules: unknown[], user: string) => grant(app, name, rules, user);
  await role('matrix-lister', [{ apiGroups: [''], resources: ['secrets'], verbs: ['list', 'watch'] }], 'lister');
  await role('matrix-get-other', [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['other'] }], 'get-other');
  await role('matrix-one-name', [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'], resourceNames: ['other'] }], 'one-name');
  await role('matrix-patcher', [{ apiGroups: [''], resources: ['secrets'], verbs: ['patch', 'update'] }], 'patcher');
  await role('matrix-informer', [{ apiGroups: ['*'], resources: ['*'], verbs: ['list', 'watch'] }], 'informer');
  await role('matrix-kv', [{ nonResourceURLs: ['/v3/*', `${grpcPathPrefix}*`], verbs: ['post'] }, { apiGroups: ['coffer.dev'], resources: ['kvkeys'], verbs: ['*'] }], 'kv-user');
  for (const [name, data] of [['db', { password: b64('first-value') }], ['other', { token: b64('other-value') }]] as const) {
    const created = await app.inject({ method: 'POST', url: '/api/v1/namespaces/default/secrets', headers: admin, payload: { metadata: { name }, data } });
    assert.equal(created.statusCode, 201, created.body);
  }
  assert.equal((await app.inject({ method: 'POST', url: '/api/v1/namespaces/default/configmaps', headers: admin, payload: { metadata: { name: 'cfg' }, data: { a: '1' } } })).statusCode, 201);
  // History older than now: revision 1 is compacted (a watch from it is 410 Gone), while a watch from
  // replayFrom replays the marker's arrival (as the last-applied annotation and as data).
  registryLease = (await m1.backend.propose({ type: 'leaseGrant', id: 0, ttl: 3600 }) as { id: number }).id;
  await m1.backend.propose({ type: 'put', key: Buffer.from('/registry/matrix/leased'), value: Buffer.from(marker), lease: registryLease });
  const revision = async () => (await m1.backend.mvcc().hash(0)).revision;
  await m1.backend.propose({ type: 'compact', revision: await revision() });
  replayFrom = await revision();
  const lastApplied = JSON.stringify({ kind: 'Secret', metadata: { name: 'db' }, stringData: { password: marker } });
  const put = await app.inject({
    method: 'PUT', url: '/api/v1/namespaces/default/secrets/db', headers: admin,
    payload: { metadata: { name: 'db', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied } }, data: { password: b64(marker) } },
  });
  assert.equal(put.statusCode, 200, put.body);
});
after(async () => { await audited.close(); });

test('the check can fail: the administrator, who may get the Secret, does see the marker', async () => {
  const { text } = await exchange(app, clock, { method: 'GET', url: '/api/v1/namespaces/default/secrets/db', headers: admin });
  assert.ok(forms.some((form) => text.includes(form)), text);
});

test('authorization matrix: routes × methods × query encodings × identities', async () => {
  const routes = routeTable(app);
  assert.ok(routes.length > 80, `the route table has ${routes.length} routes`);
  let requests = 0;
  const expectedEvents: Array<{ what: string; auditID: string; count: number }> = [];
  for (const route of routes) {
    if (route.url === '/metrics') continue;
    const path = fill(route.url);
    for (const query of variants(route.method, route.url)) {
      for (const [identity, headers] of Object.entries(identities)) {
        const url = query === '' ? path : `${path}?${query}`;
        for (const { body, contentType, namesOwner } of bodiesOf(route.method, route.url, query)) {
          const what = `${identity} ${route.method} ${url}${contentType === undefined ? '' : ` (${contentType})`}`;
          const before = await userState(m1);
          const answer = await exchange(app, clock, {
            method: route.method, url, streaming: /[?&]watch=(true|1|True|%74rue)/.test(query) || route.url === '/v3/watch' || route.url === grpcWatchPath,
            headers: { ...headers, ...(body !== undefined ? { 'content-type': contentType ?? 'application/json' } : {}) },
            ...(body !== undefined ? { payload: body instanceof Buffer ? body : JSON.stringify(body) } : {}),
          });
          requests += 1;
          assertNoValue(answer.text, marker, `the answer to ${what}`);
          // No identity here may get an object: none is told the stored size of one (its hidden parts).
          assert.doesNotMatch(answer.text, /\bis \d+ bytes stored/, `the answer to ${what} names a stored size`);
          assert.equal(typeof answer.auditID, 'string', `${what}: the answer names its audit event`);
          expectedEvents.push({ what, auditID: answer.auditID!, count: probes.has(path) && answer.status < 400 ? 0 : 1 });
          if (namesOwner) assert.ok(answer.status >= 400, `${what} named an owner it may not update, and was answered ${answer.status}`);
          if (answer.status >= 400) assert.equal(await userState(m1), before, `${what} was refused (${answer.status}) but changed the store`);
        }
      }
    }
  }
  // The audit log, read once: each request's events (one per auditID), none carrying the value.
  assert.ok(expectedEvents.length < auditQueryLimitMax, 'every event of the matrix fits one query');
  const events = await m1.events();
  // Every record as written, each stage (a write's RequestReceived travelled in its Raft entry), not
  // only the latest stage a query shows.
  assertNoValue(JSON.stringify(await m1.records()), marker, 'the audit log');
  const perRequest = new Map<string, number>();
  for (const event of events) perRequest.set(event.auditID, (perRequest.get(event.auditID) ?? 0) + 1);
  for (const { what, auditID, count } of expectedEvents) assert.equal(perRequest.get(auditID) ?? 0, count, `${what}: audit events`);
  // The size of the matrix, for docs/security.md.
  process.stdout.write(`# authorization matrix: ${routes.length} routes, ${requests} requests\n`);
});
