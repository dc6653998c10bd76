// What etcd's clients match Coffer's etcd API against (app.inject, real replica, real audit log): each
// condition etcd names with one of its errors is answered with exactly etcd's description and code on
// gRPC (clientv3 turns a status into its typed rpctypes error only then), Coffer's fuller words in the
// coffer-detail trailer and the audit record; the JSON gateway in etcd's gateway's words; `alarm list`
// served to any caller who may reach the call, raising and clearing an alarm to system:masters only;
// 64-bit IDs no member can hold answered as unknown, not refused. (The real client: test/e2e/clientv3.)
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { frame, FrameReader, decode, encode, type Message, messageType } from '../../../src/etcdpb/index.ts';
import { grpcPathPrefix } from '../../../src/api/grpc/plugin.ts';
import { grant, who } from './attacker.ts';
import { admin, type AuditedCluster, type AuditedMember, startAudited } from './harness.ts';

let audited: AuditedCluster;
let m1: AuditedMember;
before(async () => {
  audited = await startAudited(1);
  m1 = audited.members[0]!;
  // The etcd API and the keys under app/ only.
  await grant(m1.app, 'etcd-compat-app', [
    { nonResourceURLs: ['/v3/*', `${grpcPathPrefix}*`], verbs: ['post'] },
    { apiGroups: ['coffer.dev'], resources: ['kvkeys'], verbs: ['*'], resourceNames: ['app/'] },
  ], 'app-user');
});
after(async () => { await audited.close(); });

const bytes = (s: string) => Buffer.from(s);
const b64 = (s: string) => Buffer.from(s).toString('base64');
/** 2^63 - 1: a lease or member ID etcd's clients may send, beyond what a Coffer member holds. */
const int64Max = '9223372036854775807';

interface Answer { grpcStatus: number; grpcMessage: string; detail: string; messages: Message[]; auditID: string | undefined }

async function call(method: string, request: string, fields: Message, who: Record<string, string> = admin, response?: string): Promise<Answer> {
  const reply = await m1.app.inject({ method: 'POST', url: `/etcdserverpb.${method}`, headers: { ...who, 'content-type': 'application/grpc' }, payload: frame(encode(messageType(request), fields)) });
  return {
    grpcStatus: Number(reply.trailers['grpc-status'] ?? -1), grpcMessage: decodeURIComponent(String(reply.trailers['grpc-message'] ?? '')),
    detail: decodeURIComponent(String(reply.trailers['coffer-detail'] ?? '')),
    messages: response === undefined ? [] : new FrameReader().push(reply.rawPayload).map((m) => decode(messageType(response), m)),
    auditID: reply.headers['audit-id'] as string | undefined,
  };
}

async function post(path: string, body: unknown, as: Record<string, string> = admin): Promise<{ status: number; body: Record<string, unknown>; auditID: string | undefined }> {
  const reply = await m1.app.inject({ method: 'POST', url: path, headers: { ...as, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  return { status: reply.statusCode, body: reply.json(), auditID: reply.headers['audit-id'] as string | undefined };
}

async function eventOf(auditID: string | undefined) {
  assert.ok(auditID);
  return (await m1.events()).find((e) => e.auditID === auditID);
}

test('each condition etcd names is answered on gRPC with exactly etcd\'s code and description; Coffer\'s words in coffer-detail and the audit record', async () => {
  const cases: [what: string, method: string, request: string, fields: Message, as: Record<string, string>, code: number, description: string][] = [
    ['a call the gate refuses', 'KV/Range', 'RangeRequest', { key: bytes('app/a') }, who('nobody'), 7, 'etcdserver: permission denied'],
    ['a key the caller may not reach', 'KV/Range', 'RangeRequest', { key: bytes('other/a') }, who('app-user'), 7, 'etcdserver: permission denied'],
    ['a put of a key the caller may not reach', 'KV/Put', 'PutRequest', { key: bytes('other/a'), value: bytes('v') }, who('app-user'), 7, 'etcdserver: permission denied'],
    ['a raise of an alarm by anyone but system:masters', 'Maintenance/Alarm', 'AlarmRequest', { action: 'ACTIVATE', memberID: 1, alarm: 'NOSPACE' }, who('app-user'), 7, 'etcdserver: permission denied'],
    ['an empty key (range)', 'KV/Range', 'RangeRequest', {}, admin, 3, 'etcdserver: key is not provided'],
    ['an empty key (put)', 'KV/Put', 'PutRequest', { value: bytes('v') }, admin, 3, 'etcdserver: key is not provided'],
    ['an empty key (delete)', 'KV/DeleteRange', 'DeleteRangeRequest', {}, admin, 3, 'etcdserver: key is not provided'],
    ['a put keeping the value of a missing key', 'KV/Put', 'PutRequest', { key: bytes('app/missing'), ignore_value: true }, admin, 3, 'etcdserver: key not found'],
    ['a future revision', 'KV/Range', 'RangeRequest', { key: bytes('app/a'), revision: 1_000_000 }, admin, 11, 'etcdserver: mvcc: required revision is a future revision'],
    ['a leader transfer to no member', 'Maintenance/MoveLeader', 'MoveLeaderRequest', { targetID: 12345 }, admin, 9, 'etcdserver: bad leader transferee'],
    ['removing no member', 'Cluster/MemberRemove', 'MemberRemoveRequest', { ID: 12345 }, admin, 5, 'etcdserver: member not found'],
    ['removing a member no member can be', 'Cluster/MemberRemove', 'MemberRemoveRequest', { ID: int64Max }, admin, 5, 'etcdserver: member not found'],
    ['revoking no lease', 'Lease/LeaseRevoke', 'LeaseRevokeRequest', { ID: 12345 }, admin, 5, 'etcdserver: requested lease not found'],
    ['revoking a lease no member can hold', 'Lease/LeaseRevoke', 'LeaseRevokeRequest', { ID: int64Max }, admin, 5, 'etcdserver: requested lease not found'],
    ['a put with a lease no member can hold', 'KV/Put', 'PutRequest', { key: bytes('app/leased'), value: bytes('v'), lease: int64Max }, admin, 5, 'etcdserver: requested lease not found'],
    ['a transaction\'s put with a lease no member can hold', 'KV/Txn', 'TxnRequest', { success: [{ request_put: { key: bytes('app/leased'), value: bytes('v'), lease: int64Max } }] }, admin, 5, 'etcdserver: requested lease not found'],
  ];
  for (const [what, method, request, fields, as, code, description] of cases) {
    const answer = await call(method, request, fields, as);
    assert.deepEqual([answer.grpcStatus, answer.grpcMessage], [code, description], what);
    if (code === 7) {
      assert.notEqual(answer.detail, '', `${what}: Coffer's reason beside etcd's words`);
      const event = await eventOf(answer.auditID);
      assert.equal(event?.annotations['authorization.k8s.io/decision'], 'forbid', what);
      assert.ok((event?.annotations['authorization.k8s.io/reason'] ?? '').length > description.length, `${what}: the audit record keeps why: ${event?.annotations['authorization.k8s.io/reason']}`);
    }
  }
});

test('the JSON gateway answers an empty key in etcd\'s words', async () => {
  for (const path of ['/v3/kv/range', '/v3/kv/put', '/v3/kv/deleterange']) {
    const answer = await post(path, {});
    assert.equal(answer.status, 400, path);
    assert.deepEqual(answer.body, { error: 'etcdserver: key is not provided', code: 3, message: 'etcdserver: key is not provided' }, path);
  }
});

test('alarm list is served to any caller who may reach the call, audited; raising and clearing stay with system:masters', async () => {
  const listed = await call('Maintenance/Alarm', 'AlarmRequest', { action: 'GET' }, who('app-user'), 'AlarmResponse');
  assert.equal(listed.grpcStatus, 0, listed.grpcMessage);
  assert.equal((await eventOf(listed.auditID))?.annotations['authorization.k8s.io/decision'], 'allow');
  const overGateway = await post('/v3/maintenance/alarm', {}, who('app-user'));
  assert.equal(overGateway.status, 200, JSON.stringify(overGateway.body));
  for (const action of ['ACTIVATE', 'DEACTIVATE']) {
    const refused = await post('/v3/maintenance/alarm', { action, memberID: '1', alarm: 'NOSPACE' }, who('app-user'));
    assert.equal(refused.status, 403, action);
    const event = await eventOf(refused.auditID);
    assert.equal(event?.annotations['authorization.k8s.io/decision'], 'forbid');
    assert.match(event?.annotations['authorization.k8s.io/reason'] ?? '', /only the group "system:masters" may/);
  }
  assert.equal((await call('Maintenance/Alarm', 'AlarmRequest', { action: 'GET' }, who('nobody'))).grpcStatus, 7, 'the gate still decides who reaches the call');
});

test('a lease ID no member can hold is an unknown lease: time-to-live -1 with the ID asked, on gRPC and the gateway', async () => {
  const ttl = await call('Lease/LeaseTimeToLive', 'LeaseTimeToLiveRequest', { ID: int64Max }, admin, 'LeaseTimeToLiveResponse');
  assert.equal(ttl.grpcStatus, 0, ttl.grpcMessage);
  assert.deepEqual([String(ttl.messages[0]!.ID), Number(ttl.messages[0]!.TTL)], [int64Max, -1]);
  const put = await post('/v3/kv/put', { key: b64('app/leased'), value: b64('v'), lease: int64Max });
  assert.deepEqual([put.status, put.body.error], [404, 'etcdserver: requested lease not found']);
  const overGateway = await post('/v3/lease/timetolive', { ID: int64Max });
  assert.equal(overGateway.status, 200, JSON.stringify(overGateway.body));
  assert.deepEqual([overGateway.body.ID, overGateway.body.TTL], [int64Max, '-1']);
});

test('the JSON gateway\'s watch from a compacted revision streams created, then canceled with the revision compacted to', async () => {
  const first = Number(((await post('/v3/kv/put', { key: b64('gw-compacted/k'), value: b64('1') })).body.header as Record<string, string>).revision);
  const second = Number(((await post('/v3/kv/put', { key: b64('gw-compacted/k'), value: b64('2') })).body.header as Record<string, string>).revision);
  assert.equal((await post('/v3/kv/compaction', { revision: String(second) })).status, 200);
  const reply = await m1.app.inject({
    method: 'POST', url: '/v3/watch', headers: { ...admin, 'content-type': 'application/json' },
    payload: JSON.stringify({ create_request: { key: b64('gw-compacted/k'), start_revision: String(first) } }),
  });
  assert.equal(reply.statusCode, 200, reply.body);
  const lines = reply.body.trim().split('\n').map((line) => (JSON.parse(line) as { result: Record<string, unknown> }).result);
  assert.deepEqual(lines.map((r) => [r.created, r.canceled, r.compact_revision]), [[true, undefined, undefined], [undefined, true, String(second)]]);
});

test('the JSON gateway honours every field of a range as gRPC does: sorting and the revision filters', async () => {
  const revisions: number[] = [];
  for (const [key, value] of [['sorted/a', 'z'], ['sorted/b', 'x'], ['sorted/c', 'y']]) {
    revisions.push(Number(((await post('/v3/kv/put', { key: b64(key!), value: b64(value!) })).body.header as Record<string, string>).revision));
  }
  const ranges: Message[] = [
    { sort_order: 'DESCEND', sort_target: 'VALUE', limit: 2 },
    { sort_order: 'ASCEND', sort_target: 'MOD' },
    { min_mod_revision: revisions[1] },
    { max_mod_revision: revisions[1] },
    { min_create_revision: revisions[2] },
    { max_create_revision: revisions[0] },
  ];
  for (const fields of ranges) {
    const grpc = await call('KV/Range', 'RangeRequest', { key: bytes('sorted/'), range_end: bytes('sorted0'), ...fields }, admin, 'RangeResponse');
    const keysOverGrpc = ((grpc.messages[0]!.kvs ?? []) as Message[]).map((kv) => Buffer.from(kv.key as Uint8Array).toString());
    const gateway = await post('/v3/kv/range', { key: b64('sorted/'), range_end: b64('sorted0'), ...Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, typeof v === 'number' ? String(v) : v])) });
    assert.equal(gateway.status, 200, JSON.stringify(gateway.body));
    const keysOverGateway = ((gateway.body.kvs ?? []) as { key: string }[]).map((kv) => Buffer.from(kv.key, 'base64').toString());
    assert.deepEqual(keysOverGateway, keysOverGrpc, JSON.stringify(fields));
  }
  assert.equal((await post('/v3/kv/range', { key: b64('sorted/'), sort_order: 'SIDEWAYS' })).status, 400, 'a value neither path knows is refused');
});

test('the JSON gateway speaks etcd\'s gateway: uint64 IDs in decimal, Status under the proto\'s names, etcd 3.4\'s paths', async () => {
  const grpcHeader = (await call('KV/Range', 'RangeRequest', { key: bytes('app/a') }, admin, 'RangeResponse')).messages[0]!.header as Message;
  const status = await post('/v3/maintenance/status', {});
  assert.equal((status.body.header as Record<string, string>).cluster_id, String(grpcHeader.cluster_id), 'cluster_id as etcd\'s uint64, in decimal');
  for (const name of ['version', 'dbSize', 'dbSizeInUse', 'leader', 'raftIndex', 'raftTerm', 'raftAppliedIndex']) assert.ok(name in status.body, `status has ${name}: ${JSON.stringify(status.body)}`);
  for (const name of ['db_size', 'db_size_in_use', 'raft_index', 'raft_term', 'raft_applied_index', 'is_learner']) assert.ok(!(name in status.body), `status has no ${name}`);
  const granted = await post('/v3/lease/grant', { TTL: '60' });
  const lease = String(granted.body.ID);
  for (const [path, fields] of [['/v3/kv/lease/leases', {}], ['/v3/kv/lease/timetolive', { ID: lease }], ['/v3/maintenance/hash', {}], ['/v3/kv/lease/revoke', { ID: lease }]] as const) {
    const answer = await post(path, fields);
    assert.equal(answer.status, 200, `${path}: ${JSON.stringify(answer.body)}`);
  }
});

test('the JSON gateway\'s watch honours filters and the watch_id asked for, and refuses fragment (one JSON line per response here)', { timeout: 30_000 }, async () => {
  const from = Number(((await post('/v3/kv/put', { key: b64('gw-filter/k'), value: b64('1') })).body.header as Record<string, string>).revision);
  await post('/v3/kv/deleterange', { key: b64('gw-filter/k') });
  const response = await m1.app.inject({
    method: 'POST', url: '/v3/watch', headers: { ...admin, 'content-type': 'application/json' }, payloadAsStream: true,
    payload: JSON.stringify({ create_request: { key: b64('gw-filter/k'), start_revision: String(from), filters: ['NOPUT'], watch_id: '7' } }),
  });
  const stream = response.stream();
  let text = '';
  stream.on('data', (chunk: Buffer) => { text += chunk.toString(); });
  while (text.split('\n').filter((line) => line.includes('"events"')).length === 0) await once(stream, 'data');
  stream.destroy();
  const results = text.trim().split('\n').map((line) => (JSON.parse(line) as { result: { watch_id: string; events?: { type?: string }[] } }).result);
  assert.deepEqual(results.map((r) => r.watch_id), ['7', '7']);
  assert.deepEqual(results[1]!.events!.map((e) => e.type), ['DELETE'], 'the put is filtered out');
  const fragmented = await post('/v3/watch', { create_request: { key: b64('gw-filter/k'), fragment: true } });
  assert.equal(fragmented.status, 400, JSON.stringify(fragmented.body));
});
