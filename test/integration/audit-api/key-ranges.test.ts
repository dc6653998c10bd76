// Key-range permissions (RBAC rules on `kvkeys`, key prefixes) tried from every angle the KV API offers,
// in both encodings (the JSON gateway and gRPC): single keys, ranges reaching past a prefix, from-key
// reads, txn compares (of one key or over a range) and operations in either branch, the same inside nested transactions (in either
// branch of either level, whichever would run), watches, and the previous values a write returns; and
// Coffer's reserved keyspace, which a caller granted every key still cannot reach, nested or not; and
// the calls that change the cluster itself or hash the whole store, which only system:masters may make
// whatever RBAC grants.
// Every refusal is a 403 / PERMISSION_DENIED (a gRPC watch: canceled with the reason), audited once,
// and changes nothing; inside its prefix each caller can do exactly what its verbs say.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../../src/base/index.ts';
import { grpcWatchRequestsQueuedMax, leasesPerOwnerMax } from '../../../src/config/index.ts';
import { type KvBackend, routeTable } from '../../../src/api/index.ts';
import { streamAnnotation } from '../../../src/audit/index.ts';
import { grpcPathPrefix } from '../../../src/api/grpc/plugin.ts';
import { decode, encode, frame, FrameReader, type Message, messageType } from '../../../src/etcdpb/index.ts';
import { httpEquivalent } from '../../../src/api/grpc/status.ts';
import { clusterAdministration, wholeStoreRead } from '../../../src/api/route-config.ts';
import { type Answer, exchange, grant, who } from './attacker.ts';
import { admin, type AuditedCluster, type AuditedMember, startAudited } from './harness.ts';

let audited: AuditedCluster;
let m1: AuditedMember;
const clock = new ManualClock(Date.now());

const kvApi = { nonResourceURLs: ['/v3/*', `${grpcPathPrefix}*`], verbs: ['post'] };
const appKeys = (verbs: string[]) => ({ apiGroups: ['coffer.dev'], resources: ['kvkeys'], verbs, resourceNames: ['app/'] });

/**
 * Runs once, just before the next lease revoke the API proposes reaches the replica: the moment between
 * the revoke's key check and its proposal, where another client's write may land.
 */
let beforeNextRevoke: (() => Promise<void>) | undefined;

function withRevokeSeam(backend: KvBackend): KvBackend {
  return {
    ...backend,
    propose: async (op, audit) => {
      if (op.type === 'leaseRevoke' && beforeNextRevoke !== undefined) {
        const meanwhile = beforeNextRevoke;
        beforeNextRevoke = undefined;
        await meanwhile();
      }
      return backend.propose(op, audit);
    },
  };
}

before(async () => {
  audited = await startAudited(1, {}, (audit) => audit, clock, {}, withRevokeSeam);
  m1 = audited.members[0]!;
  await grant(m1.app, 'app-all', [kvApi, appKeys(['*'])], 'app-all');
  await grant(m1.app, 'app-reader', [kvApi, appKeys(['get', 'list', 'watch'])], 'app-reader');
  await grant(m1.app, 'app-writer', [kvApi, appKeys(['update', 'delete'])], 'app-writer');
  await grant(m1.app, 'kv-no-keys', [kvApi], 'kv-no-keys');
  await grant(m1.app, 'kv-all', [kvApi, { apiGroups: ['coffer.dev'], resources: ['kvkeys'], verbs: ['*'] }], 'kv-all');
  for (const key of ['app/x', 'other/x']) {
    const put = await m1.app.inject({ method: 'POST', url: '/v3/kv/put', headers: { ...admin, 'content-type': 'application/json' }, payload: { key: b64(key), value: b64('v') } });
    assert.equal(put.statusCode, 200, put.body);
  }
});
after(async () => { await audited.close(); });

const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64');
const bytes = (s: string) => Buffer.from(s, 'latin1');
const fromKey = '\u0000';

/** One KV operation, sent in either encoding. */
type Op =
  | { kind: 'range'; key: string; end?: string }
  | { kind: 'put'; key: string; prevKv?: boolean; lease?: number; ignoreLease?: boolean; ignoreValue?: boolean }
  | { kind: 'delete'; key: string; end?: string; prevKv?: boolean }
  | { kind: 'compare'; key: string; end?: string }
  | { kind: 'txn-op'; branch: 'success' | 'failure'; op: Op }
  /** A transaction (`op`: a compare, a txn-op or another nested one) inside a branch of the one sent. */
  | { kind: 'nested'; branch: 'success' | 'failure'; op: Op }
  | { kind: 'watch'; key: string; end?: string };

function describe(op: Op): string {
  return JSON.stringify(op).replace(/\\u0000/g, '\\0');
}

/** The request of `op` in etcd's field names, bytes and numbers written the way each encoding writes them. */
function requestOf(op: Op, bytesOf: (s: string) => unknown, int64: (n: number) => unknown): [path: string, method: string, type: string, fields: object] {
  const range = (key: string, end?: string) => ({ key: bytesOf(key), ...(end !== undefined ? { range_end: bytesOf(end) } : {}) });
  const put = (p: Extract<Op, { kind: 'put' }>) => ({
    key: bytesOf(p.key), value: bytesOf(p.ignoreValue === true ? '' : 'w'), prev_kv: p.prevKv === true,
    ...(p.lease !== undefined ? { lease: int64(p.lease) } : {}), ignore_lease: p.ignoreLease === true, ignore_value: p.ignoreValue === true,
  });
  const requestOp = (inner: Op): object => {
    if (inner.kind === 'range') return { request_range: range(inner.key, inner.end) };
    if (inner.kind === 'put') return { request_put: put(inner) };
    if (inner.kind === 'delete') return { request_delete_range: { ...range(inner.key, inner.end), prev_kv: inner.prevKv === true } };
    throw new Error(`not a txn operation: ${describe(inner)}`);
  };
  const inBranch = (branch: 'success' | 'failure', requestOpOf: object) => ({ compare: [], success: branch === 'success' ? [requestOpOf] : [], failure: branch === 'failure' ? [requestOpOf] : [] });
  const txnOf = (t: Op): object => {
    if (t.kind === 'compare') return { compare: [{ ...range(t.key, t.end), target: 'VERSION', result: 'GREATER', version: int64(0) }], success: [], failure: [] };
    if (t.kind === 'txn-op') return inBranch(t.branch, requestOp(t.op));
    if (t.kind === 'nested') return inBranch(t.branch, { request_txn: txnOf(t.op) });
    throw new Error(`not a transaction: ${describe(t)}`);
  };
  switch (op.kind) {
    case 'range': return ['/v3/kv/range', 'KV/Range', 'RangeRequest', range(op.key, op.end)];
    case 'put': return ['/v3/kv/put', 'KV/Put', 'PutRequest', put(op)];
    case 'delete': return ['/v3/kv/deleterange', 'KV/DeleteRange', 'DeleteRangeRequest', { ...range(op.key, op.end), prev_kv: op.prevKv === true }];
    case 'compare':
    case 'txn-op':
    case 'nested':
      return ['/v3/kv/txn', 'KV/Txn', 'TxnRequest', txnOf(op)];
    case 'watch': return ['/v3/watch', 'Watch/Watch', 'WatchRequest', { create_request: range(op.key, op.end) }];
  }
}

async function send(op: Op, user: string, encoding: 'json' | 'grpc'): Promise<Answer> {
  const streaming = op.kind === 'watch';
  if (encoding === 'json') {
    const [url, , , body] = requestOf(op, b64, String);
    return exchange(m1.app, clock, { method: 'POST', url, headers: { ...who(user), 'content-type': 'application/json' }, payload: JSON.stringify(body), streaming });
  }
  const [, method, type, fields] = requestOf(op, bytes, Number);
  const payload = frame(encode(messageType(type), fields as Record<string, unknown>));
  return exchange(m1.app, clock, { method: 'POST', url: `${grpcPathPrefix}${method}`, headers: { ...who(user), 'content-type': 'application/grpc' }, payload, streaming });
}

/** The operation a transaction (nested or not) wraps. */
function innermost(op: Op): Op {
  return op.kind === 'txn-op' || op.kind === 'nested' ? innermost(op.op) : op;
}

/** Refused: 403 (PERMISSION_DENIED over gRPC), or a gRPC watch canceled at its creation for that reason. */
function refused(answer: Answer, op: Op): boolean {
  if (op.kind === 'watch' && answer.status === 200) return /permission denied/.test(answer.text);
  return answer.status === 403;
}

const outsideApp: Op[] = [
  { kind: 'range', key: 'other/x' },
  { kind: 'range', key: 'app' },
  { kind: 'range', key: 'app0' },
  { kind: 'range', key: 'app/', end: 'app1' },
  { kind: 'range', key: 'ap', end: 'app0' },
  { kind: 'range', key: 'app/', end: fromKey },
  { kind: 'range', key: fromKey, end: fromKey },
  { kind: 'put', key: 'other/x' },
  { kind: 'put', key: 'app' },
  { kind: 'delete', key: 'other/x' },
  { kind: 'delete', key: 'app/', end: 'app1' },
  { kind: 'compare', key: 'other/x' },
  { kind: 'compare', key: 'app/', end: 'app1' },
  { kind: 'compare', key: 'app/', end: fromKey },
  { kind: 'txn-op', branch: 'success', op: { kind: 'put', key: 'other/x' } },
  { kind: 'txn-op', branch: 'failure', op: { kind: 'put', key: 'other/x' } },
  { kind: 'txn-op', branch: 'success', op: { kind: 'range', key: 'other/', end: 'other0' } },
  { kind: 'txn-op', branch: 'failure', op: { kind: 'delete', key: 'app/', end: fromKey } },
  { kind: 'nested', branch: 'success', op: { kind: 'compare', key: 'other/x' } },
  { kind: 'nested', branch: 'failure', op: { kind: 'compare', key: 'ap', end: 'app0' } },
  { kind: 'nested', branch: 'failure', op: { kind: 'txn-op', branch: 'success', op: { kind: 'put', key: 'other/x' } } },
  { kind: 'nested', branch: 'failure', op: { kind: 'txn-op', branch: 'failure', op: { kind: 'range', key: 'other/', end: 'other0' } } },
  { kind: 'nested', branch: 'success', op: { kind: 'nested', branch: 'failure', op: { kind: 'txn-op', branch: 'failure', op: { kind: 'delete', key: 'app/', end: fromKey } } } },
  { kind: 'watch', key: 'other/x' },
  { kind: 'watch', key: 'app/', end: fromKey },
];

const writes: Op[] = [
  { kind: 'put', key: 'app/y' },
  { kind: 'delete', key: 'app/y' },
  { kind: 'delete', key: 'app/', end: 'app0' },
  { kind: 'txn-op', branch: 'success', op: { kind: 'put', key: 'app/y' } },
  { kind: 'txn-op', branch: 'failure', op: { kind: 'delete', key: 'app/y' } },
  { kind: 'nested', branch: 'success', op: { kind: 'txn-op', branch: 'failure', op: { kind: 'put', key: 'app/y' } } },
  { kind: 'nested', branch: 'failure', op: { kind: 'nested', branch: 'success', op: { kind: 'txn-op', branch: 'success', op: { kind: 'delete', key: 'app/y' } } } },
];

const reads: Op[] = [
  { kind: 'range', key: 'app/x' },
  { kind: 'range', key: 'app/', end: 'app0' },
  { kind: 'compare', key: 'app/x' },
  { kind: 'compare', key: 'app/', end: 'app0' },
  { kind: 'txn-op', branch: 'success', op: { kind: 'range', key: 'app/x' } },
  { kind: 'watch', key: 'app/', end: 'app0' },
  // A write that returns the values it replaced reads them too.
  { kind: 'put', key: 'app/x', prevKv: true },
  // So does a put that keeps the key's value or lease: it fails where the key is absent (the put above wrote it).
  { kind: 'put', key: 'app/x', ignoreValue: true },
  { kind: 'put', key: 'app/x', ignoreLease: true },
  { kind: 'nested', branch: 'failure', op: { kind: 'txn-op', branch: 'success', op: { kind: 'put', key: 'app/x', ignoreValue: true, ignoreLease: true } } },
  { kind: 'delete', key: 'app/y', prevKv: true },
  { kind: 'txn-op', branch: 'success', op: { kind: 'delete', key: 'app/', end: 'app0', prevKv: true } },
  { kind: 'nested', branch: 'failure', op: { kind: 'compare', key: 'app/x' } },
  { kind: 'nested', branch: 'success', op: { kind: 'nested', branch: 'failure', op: { kind: 'txn-op', branch: 'success', op: { kind: 'range', key: 'app/x' } } } },
  { kind: 'nested', branch: 'success', op: { kind: 'txn-op', branch: 'failure', op: { kind: 'delete', key: 'app/', end: 'app0', prevKv: true } } },
];

/** Coffer's reserved keyspace, flat and nested: refused to a caller granted every key (kv-all), who may do the same to other keys. */
const reservedKey = (key: string): Op[] => [
  { kind: 'txn-op', branch: 'success', op: { kind: 'put', key } },
  { kind: 'nested', branch: 'success', op: { kind: 'txn-op', branch: 'failure', op: { kind: 'put', key } } },
  { kind: 'nested', branch: 'failure', op: { kind: 'nested', branch: 'success', op: { kind: 'txn-op', branch: 'success', op: { kind: 'range', key } } } },
  { kind: 'nested', branch: 'success', op: { kind: 'compare', key } },
  { kind: 'compare', key: key.slice(0, 2), end: fromKey },
];
const reserved = [...reservedKey('/registry/secrets/default/db'), ...reservedKey('\u0000coffer/members/x')];

const attempts: [user: string, ops: Op[]][] = [
  ['app-all', outsideApp],
  ['app-reader', [...outsideApp, ...writes]],
  ['app-writer', [...outsideApp, ...reads]],
  ['kv-no-keys', [...writes, ...reads]],
  ['kv-all', reserved],
];

test('every request reaching past a caller\'s key prefixes or verbs is refused in both encodings, audited, and changes nothing', async () => {
  const before = await m1.backend.mvcc().hash(0);
  let tried = 0;
  for (const [user, ops] of attempts) {
    for (const op of ops) {
      for (const encoding of ['json', 'grpc'] as const) {
        const answer = await send(op, user, encoding);
        const what = `${user} ${encoding} ${describe(op)}: ${answer.status} ${answer.text.slice(0, 200)}`;
        assert.ok(refused(answer, op), what);
        assert.ok(answer.auditID !== undefined, what);
        const events = (await m1.events()).filter((e) => e.auditID === answer.auditID);
        assert.equal(events.length, 1, what);
        // Recorded as what it was: a refusal, with the key check's reason (not the gate's allow for the URL).
        // A gRPC watch is a stream that stays open: a create it refuses is answered canceled in it, and
        // recorded first as a refusal of its own, naming the stream's event (docs/security.md, "Watch streams").
        const refusals = encoding === 'grpc' && op.kind === 'watch'
          ? (await m1.events()).filter((e) => e.annotations[streamAnnotation] === answer.auditID)
          : events;
        assert.equal(refusals.length, 1, `${what}: one refusal record`);
        assert.equal(refusals[0]!.annotations['authorization.k8s.io/decision'], 'forbid', what);
        assert.equal(refusals[0]!.responseStatus?.code, 403, what);
        assert.match(refusals[0]!.annotations['authorization.k8s.io/reason'] ?? '', /permission denied|reserved|may reach/, what);
        tried += 1;
      }
    }
  }
  assert.equal(tried, 2 * attempts.reduce((n, [, ops]) => n + ops.length, 0));
  assert.deepEqual(await m1.backend.mvcc().hash(0), before, 'no refused request changed the store');
});

test('inside its prefix each caller does what its verbs say, in both encodings', async () => {
  for (const encoding of ['json', 'grpc'] as const) {
    for (const op of [...reads.filter((o) => !['put', 'delete'].includes(innermost(o).kind)), ...writes]) {
      const user = reads.includes(op) ? 'app-reader' : 'app-writer';
      const answer = await send(op, user, encoding);
      assert.ok(!refused(answer, op) && answer.status === 200, `${user} ${encoding} ${describe(op)}: ${answer.status} ${answer.text.slice(0, 200)}`);
    }
    for (const op of reads) {
      const answer = await send(op, 'app-all', encoding);
      assert.ok(!refused(answer, op) && answer.status === 200, `app-all ${encoding} ${describe(op)}: ${answer.status} ${answer.text.slice(0, 200)}`);
    }
    for (const op of reservedKey('free/x')) {
      const answer = await send(op, 'kv-all', encoding);
      assert.ok(answer.status === 200, `kv-all ${encoding} ${describe(op)}: ${answer.status} ${answer.text.slice(0, 200)}`);
    }
  }
});

test('calls that change the cluster itself are for system:masters only, whatever RBAC grants, in both encodings', async () => {
  // (Alarm is one call for listing and for raising: its request says which, so KvService.alarm decides: etcd-compat.test.ts.)
  const gateway = ['/v3/kv/compaction', '/v3/maintenance/defragment', '/v3/maintenance/transfer-leadership',
    '/v3/cluster/member/add', '/v3/cluster/member/update', '/v3/cluster/member/promote', '/v3/cluster/member/remove'];
  const grpc = ['KV/Compact', 'Maintenance/Defragment', 'Maintenance/MoveLeader',
    'Cluster/MemberAdd', 'Cluster/MemberRemove', 'Cluster/MemberUpdate', 'Cluster/MemberPromote'].map((call) => `${grpcPathPrefix}${call}`);
  const flagged = routeTable(m1.app).filter((route) => route.mastersOnly === clusterAdministration).map((route) => route.url);
  assert.deepEqual([...flagged].sort(), [...gateway, ...grpc].sort(), 'the route table marks exactly these');
  const before = await m1.backend.mvcc().hash(0);
  const members = JSON.stringify(m1.backend.memberList());
  for (const url of flagged) {
    const isGrpc = url.startsWith(grpcPathPrefix);
    // kv-all may call every path of the etcd API and reach every key; the gate refuses before any body is read.
    const answer = await exchange(m1.app, clock, {
      method: 'POST', url, headers: { ...who('kv-all'), 'content-type': isGrpc ? 'application/grpc' : 'application/json' },
      payload: isGrpc ? frame(new Uint8Array(0)) : JSON.stringify({ revision: '1', action: 'ACTIVATE', memberID: '1', alarm: 'NOSPACE', ID: '1', targetID: '1' }),
    });
    assert.equal(answer.status, 403, `kv-all ${url}: ${answer.status} ${answer.text.slice(0, 200)}`);
    assert.equal((await m1.events()).filter((e) => e.auditID === answer.auditID).length, 1, `${url} is audited once`);
  }
  assert.deepEqual(await m1.backend.mvcc().hash(0), before, 'no refused call changed the store');
  assert.equal(JSON.stringify(m1.backend.memberList()), members);
  const allowed = await exchange(m1.app, clock, { method: 'POST', url: '/v3/maintenance/alarm', headers: { ...admin, 'content-type': 'application/json' }, payload: '{}' });
  assert.equal(allowed.status, 200, `system:masters lists alarms: ${allowed.text}`);
});

test('every route for system:masters only is refused at the gate to a caller granted everything, and audited as forbid', async () => {
  await grant(m1.app, 'everything', [
    { apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, { nonResourceURLs: ['*'], verbs: ['*'] },
  ], 'almost-root');
  const marked = routeTable(m1.app).filter((route) => route.mastersOnly !== undefined);
  const urls = marked.map((route) => route.url);
  for (const url of ['/apis/coffer.dev/v1/snapshot', `${grpcPathPrefix}Maintenance/Snapshot`, '/v3/cluster/member/remove']) {
    assert.ok(urls.includes(url), `the route table marks ${url}`);
  }
  const before = await m1.backend.mvcc().hash(0);
  for (const route of marked) {
    const isGrpc = route.url.startsWith(grpcPathPrefix);
    const answer = await exchange(m1.app, clock, {
      method: route.method, url: route.url, headers: { ...who('almost-root'), 'content-type': isGrpc ? 'application/grpc' : 'application/json' },
      payload: isGrpc ? frame(new Uint8Array(0)) : '{}',
    });
    assert.equal(answer.status, 403, `${route.method} ${route.url}: ${answer.status} ${answer.text.slice(0, 200)}`);
    // (A gRPC refusal's message is in its trailers; the audit record below names the reason for both.)
    if (!isGrpc) assert.match(answer.text, new RegExp(`only system:masters may ${route.mastersOnly}`));
    const events = (await m1.events()).filter((e) => e.auditID === answer.auditID);
    assert.deepEqual(events.map((e) => e.annotations['authorization.k8s.io/decision']), ['forbid'], `${route.url} is audited once, as refused`);
    assert.match(events[0]!.annotations['authorization.k8s.io/reason'] ?? '', /only the group "system:masters" may/);
  }
  assert.deepEqual(await m1.backend.mvcc().hash(0), before, 'no refused call changed the store');
});

test('Hash and HashKV read every value of the store: system:masters only, whatever RBAC grants, in both encodings', async () => {
  const hashRoutes = ['/v3/maintenance/hashkv', '/v3/maintenance/hash', `${grpcPathPrefix}Maintenance/HashKV`, `${grpcPathPrefix}Maintenance/Hash`];
  for (const url of hashRoutes) {
    const isGrpc = url.startsWith(grpcPathPrefix);
    const request = (headers: Record<string, string>) => exchange(m1.app, clock, {
      method: 'POST', url, headers: { ...headers, 'content-type': isGrpc ? 'application/grpc' : 'application/json' },
      payload: isGrpc ? frame(new Uint8Array(0)) : JSON.stringify({ revision: '0' }),
    });
    // kv-all may call every path of the etcd API and reach every key outside Coffer's own.
    const refusedAnswer = await request(who('kv-all'));
    assert.equal(refusedAnswer.status, 403, `kv-all ${url}: ${refusedAnswer.status} ${refusedAnswer.text.slice(0, 200)}`);
    assert.ok(!refusedAnswer.text.includes('"hash"'), `${url}: no hash in the refusal`);
    const events = (await m1.events()).filter((e) => e.auditID === refusedAnswer.auditID);
    assert.deepEqual(events.map((e) => e.annotations['authorization.k8s.io/decision']), ['forbid'], `${url} is audited once, as refused`);
    const allowed = await request(admin);
    assert.equal(allowed.status, 200, `system:masters ${url}: ${allowed.status} ${allowed.text.slice(0, 200)}`);
  }
  const marked = routeTable(m1.app).filter((route) => route.mastersOnly === wholeStoreRead).map((route) => route.url);
  assert.deepEqual([...marked].sort(), [...hashRoutes].sort(), 'the route table marks exactly these');
});

/** A key as a request could change it: value, revisions, lease (absent: none). */
async function keyState(key: string): Promise<string> {
  const kv = (await m1.backend.range(bytes(key), undefined, { linearizable: true })).kvs[0];
  return kv === undefined ? 'absent' : `${Buffer.from(kv.value).toString('latin1')} mod ${kv.modRevision} version ${kv.version} lease ${kv.lease}`;
}

/** Puts `key` (value `v`) as the administrator. */
async function putAsAdmin(key: string, lease = 0): Promise<void> {
  const put = await m1.app.inject({ method: 'POST', url: '/v3/kv/put', headers: { ...admin, 'content-type': 'application/json' }, payload: { key: b64(key), value: b64('v'), lease: String(lease) } });
  assert.equal(put.statusCode, 200, put.body);
}

/** Grants a lease of `ttl` seconds as `user` through the JSON gateway (any caller of the KV API may). */
async function grantLease(user: Record<string, string>, ttl = 600): Promise<number> {
  const granted = await m1.app.inject({ method: 'POST', url: '/v3/lease/grant', headers: { ...user, 'content-type': 'application/json' }, payload: { TTL: String(ttl) } });
  assert.equal(granted.statusCode, 200, granted.body);
  return Number(granted.json<{ ID: string }>().ID);
}

/** Every way a request attaches `key` to `lease`: a put (keeping the value or not), and one in either branch of a txn, nested or not. */
function attaching(key: string, lease: number, keepValue: boolean): Op[] {
  const attach: Op = { kind: 'put', key, lease, ignoreValue: keepValue };
  return [
    attach,
    { kind: 'txn-op', branch: 'success', op: attach },
    { kind: 'txn-op', branch: 'failure', op: { kind: 'put', key, lease } },
    { kind: 'nested', branch: 'success', op: { kind: 'txn-op', branch: 'success', op: attach } },
    { kind: 'nested', branch: 'failure', op: { kind: 'nested', branch: 'success', op: { kind: 'txn-op', branch: 'failure', op: attach } } },
  ];
}

test('attaching a key to a lease needs delete on it as well as update (the lease\'s end deletes it), flat and nested, in both encodings', async () => {
  // update (and get) on app/ but not delete: it may rewrite app/kept, never remove it.
  await grant(m1.app, 'app-updater', [kvApi, appKeys(['get', 'update'])], 'app-updater');
  const lease = await grantLease(who('app-updater'));
  await putAsAdmin('app/kept');
  const before = await keyState('app/kept');
  for (const op of attaching('app/kept', lease, true)) {
    for (const encoding of ['json', 'grpc'] as const) {
      const answer = await send(op, 'app-updater', encoding);
      const what = `app-updater ${encoding} ${describe(op)}: ${answer.status} ${answer.text.slice(0, 200)}`;
      assert.equal(answer.status, 403, what);
      assert.equal((await m1.events()).filter((e) => e.auditID === answer.auditID).length, 1, `${what}: audited once`);
      assert.equal(await keyState('app/kept'), before, `${what}: the key is unchanged`);
    }
  }
  assert.deepEqual(m1.backend.mvcc().lease(lease)?.keys, [], 'nothing was attached to the lease');
  // The lease's end, as the lessor proposes it when the TTL runs out: the key is still there.
  await m1.backend.propose({ type: 'leaseRevoke', id: lease, ifRefreshes: m1.backend.mvcc().lease(lease)!.refreshes });
  assert.equal(await keyState('app/kept'), before, 'the lease ended and the key stayed');

  // ignore_lease attaches nothing new: update is enough, with get (it tells whether the key exists). A caller who may delete the key may attach it.
  for (const encoding of ['json', 'grpc'] as const) {
    const kept = await send({ kind: 'put', key: 'app/kept', ignoreLease: true, ignoreValue: true }, 'app-updater', encoding);
    assert.equal(kept.status, 200, `app-updater ${encoding} ignore_lease: ${kept.text.slice(0, 200)}`);
    const ownLease = await grantLease(who('app-writer'));
    for (const op of attaching('app/leased', ownLease, false)) {
      const answer = await send(op, 'app-writer', encoding);
      assert.equal(answer.status, 200, `app-writer ${encoding} ${describe(op)}: ${answer.status} ${answer.text.slice(0, 200)}`);
    }
    assert.match(await keyState('app/leased'), new RegExp(`lease ${ownLease}$`));
    const revoked = await m1.app.inject({ method: 'POST', url: '/v3/lease/revoke', headers: { ...who('app-writer'), 'content-type': 'application/json' }, payload: { ID: String(ownLease) } });
    assert.equal(revoked.statusCode, 200, revoked.body);
    assert.equal(await keyState('app/leased'), 'absent');
  }
});

test('a caller that may write keys but not get them cannot tell whether one exists: a put keeping its value or lease is refused the same for a present and an absent key, in both encodings', async () => {
  await putAsAdmin('app/present');
  const before = await m1.backend.mvcc().hash(0);
  for (const encoding of ['json', 'grpc'] as const) {
    for (const keeps of [{ ignoreValue: true }, { ignoreLease: true }, { ignoreValue: true, ignoreLease: true }]) {
      const answers = new Set<string>();
      for (const key of ['app/present', 'app/never-written']) {
        const put: Op = { kind: 'put', key, ...keeps };
        for (const op of [put, { kind: 'txn-op', branch: 'success', op: put } as const, { kind: 'nested', branch: 'failure', op: { kind: 'txn-op', branch: 'success', op: put } } as const]) {
          const answer = await send(op, 'app-writer', encoding);
          const what = `app-writer ${encoding} ${describe(op)}: ${answer.status} ${answer.text.slice(0, 200)}`;
          assert.equal(answer.status, 403, what);
          assert.equal((await m1.events()).filter((e) => e.auditID === answer.auditID).length, 1, `${what}: audited once`);
          answers.add(`${op.kind} ${answer.status} ${answer.text}`);
        }
      }
      assert.equal(answers.size, 3, `${encoding} ${JSON.stringify(keeps)}: a present and an absent key answer differently:\n${[...answers].join('\n')}`);
    }
  }
  assert.deepEqual(await m1.backend.mvcc().hash(0), before, 'nothing was written');
  // A caller who may get the key is answered as etcd answers: written where it exists, "key not found" where not.
  for (const encoding of ['json', 'grpc'] as const) {
    assert.equal((await send({ kind: 'put', key: 'app/present', ignoreValue: true }, 'app-all', encoding)).status, 200);
    const absent = await send({ kind: 'put', key: 'app/never-written', ignoreValue: true }, 'app-all', encoding);
    assert.equal(absent.status, 400, `${encoding}: ${absent.status} ${absent.text.slice(0, 200)}`);
    if (encoding === 'json') assert.match(absent.text, /key not found/);
  }
});

/** One keep-alive of each lease in `ids`: a JSON request for one, or one gRPC LeaseKeepAlive stream carrying them all. */
async function keepAlive(user: string, encoding: 'json' | 'grpc', ids: number[]): Promise<Answer & { renewed: number[] }> {
  if (encoding === 'json') {
    assert.equal(ids.length, 1);
    const answer = await exchange(m1.app, clock, { method: 'POST', url: '/v3/lease/keepalive', headers: { ...who(user), 'content-type': 'application/json' }, payload: JSON.stringify({ ID: String(ids[0]) }) });
    const result = answer.status === 200 ? (JSON.parse(answer.text) as { result: { ID: string } }).result : undefined;
    return { ...answer, renewed: result === undefined ? [] : [Number(result.ID)] };
  }
  const payload = Buffer.concat(ids.map((id) => frame(encode(messageType('LeaseKeepAliveRequest'), { ID: id }))));
  const reply = await m1.app.inject({ method: 'POST', url: `${grpcPathPrefix}Lease/LeaseKeepAlive`, headers: { ...who(user), 'content-type': 'application/grpc' }, payload });
  const renewed = new FrameReader().push(reply.rawPayload).map((m) => Number(decode(messageType('LeaseKeepAliveResponse'), m).ID));
  const grpcStatus = Number(reply.trailers['grpc-status'] ?? 2);
  return { status: httpEquivalent(grpcStatus), text: decodeURIComponent(String(reply.trailers['grpc-message'] ?? '')), auditID: reply.headers['audit-id'] as string | undefined, renewed };
}

test('a keep-alive needs update on every key attached to the lease (it keeps them), checked at each renewal, in both encodings', async () => {
  // app-writer's lease; the administrator (system:masters) may attach keys to any lease.
  const lease = await grantLease(who('app-writer'));
  await putAsAdmin('app/held', lease);
  const refreshes = () => m1.backend.mvcc().lease(lease)!.refreshes;
  const before = await keyState('app/held');
  for (const encoding of ['json', 'grpc'] as const) {
    // Not the owner (the owners' test below tries that from every side): the lease is not theirs to keep.
    for (const user of ['kv-no-keys', 'app-reader']) {
      const count = refreshes();
      const answer = await keepAlive(user, encoding, [lease]);
      const what = `${user} ${encoding} keep-alive: ${answer.status} ${answer.text.slice(0, 200)}`;
      assert.equal(answer.status, 403, what);
      assert.match(answer.text, /permission denied/, what);
      assert.deepEqual(answer.renewed, [], `${what}: no renewal answered`);
      assert.equal(refreshes(), count, `${what}: the lease was not renewed`);
      assert.equal((await m1.events()).filter((e) => e.auditID === answer.auditID).length, 1, `${what}: audited once`);
    }
    const count = refreshes();
    const kept = await keepAlive('app-writer', encoding, [lease]);
    assert.deepEqual([kept.status, kept.renewed], [200, [lease]], `app-writer ${encoding}: ${kept.text.slice(0, 200)}`);
    assert.equal(refreshes(), count + 1);
  }
  // A lease without keys keeps nothing: its owner needs no key rights to renew it.
  const empty = await grantLease(who('kv-no-keys'));
  for (const encoding of ['json', 'grpc'] as const) {
    const answer = await keepAlive('kv-no-keys', encoding, [empty]);
    assert.deepEqual([answer.status, answer.renewed], [200, [empty]], `${encoding}: ${answer.text.slice(0, 200)}`);
  }
  const ownEmpty = await grantLease(who('app-writer'));
  // Each renewal is checked against the keys attached then: one stream renews the lease it may keep,
  // then is ended at the first it may not (PERMISSION_DENIED, as etcd ends a call refused by its auth).
  await putAsAdmin('other/held', lease);
  const count = refreshes();
  const stream = await keepAlive('app-writer', 'grpc', [ownEmpty, lease]);
  assert.deepEqual([stream.status, stream.renewed], [403, [ownEmpty]], stream.text);
  const json = await keepAlive('app-writer', 'json', [lease]);
  assert.equal(json.status, 403, json.text);
  assert.equal(refreshes(), count, 'a key attached since: the lease is no longer app-writer\'s to keep');
  assert.equal(await keyState('app/held'), before, 'no keep-alive changed the key');
});

/** Revokes `lease` as `user` (a name, or the headers of an identity) in either encoding; a gRPC answer's text is its status message. */
async function revoke(user: string | Record<string, string>, encoding: 'json' | 'grpc', lease: number): Promise<Answer> {
  const headers = typeof user === 'string' ? who(user) : user;
  if (encoding === 'json') {
    return exchange(m1.app, clock, { method: 'POST', url: '/v3/lease/revoke', headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify({ ID: String(lease) }) });
  }
  const payload = frame(encode(messageType('LeaseRevokeRequest'), { ID: lease }));
  const reply = await m1.app.inject({ method: 'POST', url: `${grpcPathPrefix}Lease/LeaseRevoke`, headers: { ...headers, 'content-type': 'application/grpc' }, payload });
  const grpcStatus = Number(reply.trailers['grpc-status'] ?? 2);
  // etcd's exact description in grpc-message, Coffer's fuller words (if any) in coffer-detail.
  const detail = decodeURIComponent(String(reply.trailers['coffer-detail'] ?? ''));
  return { status: httpEquivalent(grpcStatus), text: `grpc-status ${grpcStatus}: ${decodeURIComponent(String(reply.trailers['grpc-message'] ?? ''))} | ${detail}`, auditID: reply.headers['audit-id'] as string | undefined };
}

test('a revoke deletes only the keys it checked: a key attached between its check and its apply makes it a conflict that deletes nothing', async () => {
  for (const encoding of ['json', 'grpc'] as const) {
    const lease = await grantLease(who('app-writer'));
    await putAsAdmin('app/session', lease);
    const before = { session: await keyState('app/session'), revision: m1.backend.status().revision };
    // app-writer may delete app/session, the only key of the lease when it asks; meanwhile the
    // administrator attaches other/session, which app-writer may not delete.
    let attached = '';
    beforeNextRevoke = async () => {
      await m1.backend.propose({ type: 'put', key: bytes('other/session'), value: bytes('v'), lease });
      attached = await keyState('other/session');
    };
    const raced = await revoke('app-writer', encoding, lease);
    const what = `app-writer ${encoding} revoke: ${raced.status} ${raced.text.slice(0, 200)}`;
    assert.equal(beforeNextRevoke, undefined, `${what}: the revoke reached the replica after the attach`);
    assert.equal(await keyState('other/session'), attached, `${what}: the key attached meanwhile is still there`);
    assert.equal(raced.status, 409, what);
    assert.match(raced.text, encoding === 'grpc' ? /^grpc-status 10: the lease's keys changed/ : /the lease's keys changed since they were checked; retry/, what);
    assert.equal((await m1.events()).filter((e) => e.auditID === raced.auditID).length, 1, `${what}: audited once`);
    assert.equal(await keyState('app/session'), before.session, `${what}: the key checked is still there`);
    assert.deepEqual(m1.backend.mvcc().lease(lease)?.keys.map((k) => Buffer.from(k).toString()), ['app/session', 'other/session'], `${what}: the lease holds both`);
    assert.equal(m1.backend.status().revision, before.revision + 1, `${what}: the attach is the only revision written`);
    // Retried, the revoke checks the keys attached now: other/session is not app-writer's to delete.
    assert.equal((await revoke('app-writer', encoding, lease)).status, 403);
    assert.equal((await revoke(admin, encoding, lease)).status, 200);
    assert.deepEqual([await keyState('app/session'), await keyState('other/session')], ['absent', 'absent']);
  }
  // The lessor's expiry checks no caller and is not changed: it deletes whatever the lease holds then.
  const lease = await grantLease(admin);
  await putAsAdmin('app/expiring', lease);
  await m1.backend.propose({ type: 'leaseRevoke', id: lease, ifRefreshes: m1.backend.mvcc().lease(lease)!.refreshes });
  assert.equal(await keyState('app/expiring'), 'absent');
});

/** A lease read as `user` in either encoding: `timetolive` of `lease` (with its keys), or `leases` (the IDs listed). */
async function leaseRead(user: Record<string, string>, encoding: 'json' | 'grpc', call: 'timetolive' | 'leases', lease = 0): Promise<Answer & { ids: number[] }> {
  if (encoding === 'json') {
    const answer = await exchange(m1.app, clock, { method: 'POST', url: `/v3/lease/${call}`, headers: { ...user, 'content-type': 'application/json' }, payload: JSON.stringify(call === 'timetolive' ? { ID: String(lease), keys: true } : {}) });
    const body = answer.status === 200 ? JSON.parse(answer.text) as { ID?: string; leases?: { ID: string }[] } : {};
    return { ...answer, ids: call === 'leases' ? (body.leases ?? []).map((l) => Number(l.ID)) : [Number(body.ID ?? 0)] };
  }
  const [method, request, response] = call === 'timetolive' ? ['LeaseTimeToLive', 'LeaseTimeToLiveRequest', 'LeaseTimeToLiveResponse'] : ['LeaseLeases', 'LeaseLeasesRequest', 'LeaseLeasesResponse'];
  const payload = frame(encode(messageType(request), call === 'timetolive' ? { ID: lease, keys: true } : {}));
  const reply = await m1.app.inject({ method: 'POST', url: `${grpcPathPrefix}Lease/${method}`, headers: { ...user, 'content-type': 'application/grpc' }, payload });
  const grpcStatus = Number(reply.trailers['grpc-status'] ?? 2);
  const [message] = new FrameReader().push(reply.rawPayload).map((m) => decode(messageType(response), m) as { ID?: number; leases?: { ID: number }[] });
  const ids = call === 'leases' ? (message?.leases ?? []).map((l) => Number(l.ID)) : [Number(message?.ID ?? 0)];
  return { status: httpEquivalent(grpcStatus), text: decodeURIComponent(String(reply.trailers['grpc-message'] ?? '')), auditID: reply.headers['audit-id'] as string | undefined, ids };
}

test('a lease is its owner\'s: another user, whatever its key rights, may not attach a key to it, keep it alive, revoke it, read it or see it listed, in both encodings; system:masters may', async () => {
  const lease = await grantLease(who('app-all'));
  // What a request could change (the lessor's checkpoints move the remaining TTL meanwhile).
  const state = () => JSON.stringify({ ...m1.backend.mvcc().lease(lease), remainingTtlMs: undefined });
  const before = state();
  for (const encoding of ['json', 'grpc'] as const) {
    const refusals: [string, Answer][] = [];
    for (const op of attaching('app/owned', lease, false)) refusals.push([`attach ${describe(op)}`, await send(op, 'kv-all', encoding)]);
    refusals.push(['keep-alive', await keepAlive('kv-all', encoding, [lease])]);
    refusals.push(['revoke', await revoke('kv-all', encoding, lease)]);
    refusals.push(['time-to-live', await leaseRead(who('kv-all'), encoding, 'timetolive', lease)]);
    for (const [what, answer] of refusals) {
      const said = `kv-all ${encoding} ${what}: ${answer.status} ${answer.text.slice(0, 200)}`;
      assert.equal(answer.status, 403, said);
      // (send's gRPC answer carries no status message; the others do.)
      if (encoding === 'json' || !what.startsWith('attach')) assert.match(answer.text, /permission denied/, said);
      // A gRPC keep-alive is a stream, recorded as it opens; a renewal it refuses is a record of its own,
      // naming the stream's event.
      const stream = encoding === 'grpc' && what === 'keep-alive';
      const events = (await m1.events()).filter((e) => (stream ? e.annotations[streamAnnotation] : e.auditID) === answer.auditID);
      assert.deepEqual(events.map((e) => [e.annotations['authorization.k8s.io/decision'], e.responseStatus?.code]), [['forbid', 403]], `${said}: audited once`);
    }
    assert.equal(state(), before, `kv-all ${encoding}: the lease is unchanged`);
    assert.equal(await keyState('app/owned'), 'absent', `kv-all ${encoding}: nothing was attached`);
    assert.ok(!(await leaseRead(who('kv-all'), encoding, 'leases')).ids.includes(lease), `kv-all ${encoding}: the lease is not listed`);
    assert.ok((await leaseRead(who('app-all'), encoding, 'leases')).ids.includes(lease), `app-all ${encoding}: its own lease is listed`);
    assert.ok((await leaseRead(admin, encoding, 'leases')).ids.includes(lease), `admin ${encoding}: every lease is listed`);
    assert.deepEqual((await leaseRead(admin, encoding, 'timetolive', lease)).ids, [lease]);
  }
  // Its owner may, as may the administrator.
  for (const op of attaching('app/owned', lease, false)) assert.equal((await send(op, 'app-all', 'grpc')).status, 200, describe(op));
  assert.deepEqual((await keepAlive('app-all', 'json', [lease])).renewed, [lease]);
  assert.equal((await revoke(admin, 'grpc', lease)).status, 200);
  assert.equal(await keyState('app/owned'), 'absent');
});

test('a lease revoked and granted again to another user between a revoke\'s check and its apply is not revoked: the store checks the owner again', async () => {
  const lease = await grantLease(who('app-all'));
  beforeNextRevoke = async () => {
    await m1.backend.propose({ type: 'leaseRevoke', id: lease });
    await m1.backend.propose({ type: 'leaseGrant', id: lease, ttl: 600, owner: 'kv-all' });
  };
  const raced = await revoke('app-all', 'grpc', lease);
  assert.equal(beforeNextRevoke, undefined, 'the revoke reached the replica after the grant');
  assert.equal(raced.status, 403, raced.text);
  assert.match(raced.text, /permission denied: lease \d+ is another user's/);
  assert.equal(m1.backend.mvcc().lease(lease)?.owner, 'kv-all', 'kv-all\'s lease is still there');
});

test('one user holds at most leasesPerOwnerMax leases (429, RESOURCE_EXHAUSTED); other users still get theirs', async () => {
  const held = m1.backend.mvcc().leases().filter((l) => l.owner === 'kv-no-keys').length;
  await Promise.all(Array.from({ length: leasesPerOwnerMax - held - 1 }, () => m1.backend.propose({ type: 'leaseGrant', id: 0, ttl: 600, owner: 'kv-no-keys' })));
  await grantLease(who('kv-no-keys'));
  const json = await m1.app.inject({ method: 'POST', url: '/v3/lease/grant', headers: { ...who('kv-no-keys'), 'content-type': 'application/json' }, payload: { TTL: '600' } });
  assert.equal(json.statusCode, 429, json.body);
  assert.match(json.body, /leasesPerOwnerMax/);
  const grpc = await m1.app.inject({ method: 'POST', url: `${grpcPathPrefix}Lease/LeaseGrant`, headers: { ...who('kv-no-keys'), 'content-type': 'application/grpc' }, payload: frame(encode(messageType('LeaseGrantRequest'), { TTL: 600 })) });
  assert.equal(grpc.trailers['grpc-status'], '8', String(grpc.trailers['grpc-message']));
  assert.equal(m1.backend.mvcc().leases().filter((l) => l.owner === 'kv-no-keys').length, leasesPerOwnerMax);
  await grantLease(who('app-reader'));
});

/** One gRPC Watch stream as `user` carrying `requests`; resolves with its answers once it ends or `count` have come, and its auditID. */
async function watchStream(user: string, requests: Buffer[], count: number): Promise<{ answers: Message[]; auditID: string }> {
  const response = await m1.app.inject({ method: 'POST', url: `${grpcPathPrefix}Watch/Watch`, headers: { ...who(user), 'content-type': 'application/grpc' }, payload: Buffer.concat(requests), payloadAsStream: true });
  const stream = response.stream();
  const reader = new FrameReader();
  const answers: Message[] = [];
  await new Promise<void>((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      for (const m of reader.push(chunk)) answers.push(decode(messageType('WatchResponse'), m));
      if (answers.length >= count) resolve();
    });
    stream.on('end', resolve);
  });
  stream.destroy();
  return { answers, auditID: response.headers['audit-id'] as string };
}

const watchCreate = (key: string) => frame(encode(messageType('WatchRequest'), { create_request: { key: bytes(key) } }));

test('a gRPC Watch stream answers its creates in the order they came, a refusal (recorded first) included', async () => {
  const { answers } = await watchStream('app-reader', [watchCreate('other/x'), watchCreate('app/x'), watchCreate('other/y')], 3);
  assert.deepEqual(answers.map((a) => `${Number(a.watch_id ?? 0)}:${a.canceled === true ? 'canceled' : 'created'}`), ['0:canceled', '1:created', '2:canceled']);
});

test('each watch a gRPC Watch stream creates leaves a record of its own, naming the stream, before its events flow — served or refused', async () => {
  // Until 2026-12-06 only the stream's opening and its refusals were recorded: one record for any number
  // of watches, each of which may replay a range's history.
  const { answers, auditID } = await watchStream('app-reader', [watchCreate('app/one'), watchCreate('app/two'), watchCreate('other/x')], 3);
  assert.deepEqual(answers.map((a) => a.canceled === true), [false, false, true]);
  const records = (await m1.events()).filter((e) => e.annotations[streamAnnotation] === auditID);
  assert.equal(records.length, 3, JSON.stringify(records));
  const served = records.filter((e) => e.annotations['authorization.k8s.io/decision'] === 'allow');
  assert.equal(served.length, 2);
  for (const e of served) {
    assert.equal(e.responseStatus?.code, 200);
    assert.equal(e.user.username, 'app-reader');
    assert.equal(e.stage, 'ResponseComplete');
  }
  assert.equal(new Set(records.map((e) => e.auditID)).size, 3, 'each its own event');
});

test('a burst of refused creates on one gRPC Watch stream ends it past grpcWatchRequestsQueuedMax: the records it leaves are bounded', async () => {
  const sent = 4 * grpcWatchRequestsQueuedMax;
  const { answers, auditID } = await watchStream('app-reader', Array.from({ length: sent }, () => watchCreate('other/x')), sent);
  const last = answers.at(-1);
  assert.equal(last?.watch_id === undefined ? 0 : Number(last.watch_id), -1, 'the stream ended with a message of its own');
  assert.match(String(last?.cancel_reason), /grpcWatchRequestsQueuedMax/);
  const refusals = (await m1.events()).filter((e) => e.annotations[streamAnnotation] === auditID);
  assert.ok(refusals.length <= grpcWatchRequestsQueuedMax + 1, `${refusals.length} refusal records from one stream`);
});
