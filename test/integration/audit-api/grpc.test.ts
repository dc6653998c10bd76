// etcd's gRPC API through the one gate and audit step of the client API (app.inject, real replica, real
// audit log): answers are gRPC statuses in trailers, every call leaves one audit event with the
// status it stands for, refusals change nothing, the audit log refusing records refuses gRPC calls
// too, and what is not gRPC is told so (415, UNIMPLEMENTED, oversized messages). The Lease service: grant,
// put with a lease, time-to-live with keys, the list, keep-alive on its stream, revoke deleting the
// attached keys, expiry through the lessor, the lock recipe's txn, its refusals, and the same calls
// on the JSON gateway.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { requestBodyBytesMax, txnNestingLevelsMax, txnOpsMax } from '../../../src/config/index.ts';
import { frame, FrameReader, decode, encode, type Message, messageType } from '../../../src/etcdpb/index.ts';
import { grant } from './attacker.ts';
import { waitUntil } from '../../support/wait.ts';
import { admin, type AuditedCluster, type AuditedMember, startAudited } from './harness.ts';

let audited: AuditedCluster;
let m1: AuditedMember;
before(async () => {
  audited = await startAudited(1);
  m1 = audited.members[0]!;
});
after(async () => { await audited.close(); });

const bytes = (s: string) => Buffer.from(s);
const text = (b: unknown) => Buffer.from(b as Uint8Array).toString();

/** `detail`: Coffer's fuller words (coffer-detail) beside etcd's exact description in grpcMessage. */
interface Call { grpcStatus: number; grpcMessage: string; detail: string; messages: Message[]; auditID: string | undefined; httpStatus: number }

async function call(method: string, request: string, fields: Message, who: Record<string, string> = admin, response?: string): Promise<Call> {
  return callRaw(method, frame(encode(messageType(request), fields)), who, response);
}

async function callRaw(method: string, payload: Buffer, who: Record<string, string> = admin, response?: string, contentType = 'application/grpc'): Promise<Call> {
  const reply = await m1.app.inject({ method: 'POST', url: `/etcdserverpb.${method}`, headers: { ...who, 'content-type': contentType }, payload });
  const messages = response === undefined ? [] : new FrameReader().push(reply.rawPayload).map((m) => decode(messageType(response), m));
  return {
    grpcStatus: Number(reply.trailers['grpc-status'] ?? -1), grpcMessage: decodeURIComponent(String(reply.trailers['grpc-message'] ?? '')),
    detail: decodeURIComponent(String(reply.trailers['coffer-detail'] ?? '')), messages, auditID: reply.headers['audit-id'] as string | undefined, httpStatus: reply.statusCode,
  };
}

async function eventOf(auditID: string | undefined) {
  assert.ok(auditID);
  return (await m1.events()).find((e) => e.auditID === auditID);
}

test('a write and a read over gRPC: answered in etcd\'s messages with status OK, each audited once with its outcome', async () => {
  const put = await call('KV/Put', 'PutRequest', { key: bytes('g/a'), value: bytes('1') }, admin, 'PutResponse');
  assert.deepEqual([put.httpStatus, put.grpcStatus], [200, 0]);
  assert.ok(Number(put.messages[0]?.header && (put.messages[0].header as Message).revision) > 0);
  const range = await call('KV/Range', 'RangeRequest', { key: bytes('g/a') }, admin, 'RangeResponse');
  assert.equal(range.grpcStatus, 0);
  const kvs = range.messages[0]!.kvs as Message[];
  assert.deepEqual([Buffer.from(kvs[0]!.key as Uint8Array).toString(), Buffer.from(kvs[0]!.value as Uint8Array).toString()], ['g/a', '1']);
  for (const answered of [put, range]) {
    const event = await eventOf(answered.auditID);
    assert.equal(event?.responseStatus?.code, 200);
    assert.equal(event?.annotations?.['authorization.k8s.io/decision'], 'allow');
  }
  assert.equal((await eventOf(put.auditID))?.requestURI, '/etcdserverpb.KV/Put');
});

test('sorting and revision filters apply to the whole range; count counts every key in it', async () => {
  for (const [key, value] of [['s/a', 'z'], ['s/b', 'x'], ['s/c', 'y']]) await call('KV/Put', 'PutRequest', { key: bytes(key!), value: bytes(value!) });
  const sorted = await call('KV/Range', 'RangeRequest', { key: bytes('s/'), range_end: bytes('s0'), sort_order: 'DESCEND', sort_target: 'VALUE', limit: 2, keys_only: true }, admin, 'RangeResponse');
  const answer = sorted.messages[0]!;
  assert.deepEqual((answer.kvs as Message[]).map((kv) => Buffer.from(kv.key as Uint8Array).toString()), ['s/a', 's/c']);
  assert.deepEqual((answer.kvs as Message[]).map((kv) => (kv.value as Uint8Array).length), [0, 0], 'keys_only after sorting by value');
  assert.deepEqual([Number(answer.count), answer.more], [3, true]);
  const newest = Number(((await call('KV/Range', 'RangeRequest', { key: bytes('s/c') }, admin, 'RangeResponse')).messages[0]!.kvs as Message[])[0]!.mod_revision);
  assert.ok(newest > 0);
  const filtered = await call('KV/Range', 'RangeRequest', { key: bytes('s/'), range_end: bytes('s0'), min_mod_revision: newest }, admin, 'RangeResponse');
  assert.deepEqual((filtered.messages[0]!.kvs as Message[]).map((kv) => Buffer.from(kv.key as Uint8Array).toString()), ['s/c']);
});

const nestedValue = 'nested-value-7f3a';

function varint(n: number): Buffer {
  const out: number[] = [];
  for (; n >= 0x80; n >>>= 7) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return Buffer.from(out);
}

test('a nested transaction over gRPC: request_txn decoded at every level, response_txn answered, ranges sorted inside, one revision', async () => {
  for (const [key, value] of [['n/a', 'z'], ['n/b', 'x'], ['n/c', 'y']]) await call('KV/Put', 'PutRequest', { key: bytes(key!), value: bytes(value!) });
  const answer = await call('KV/Txn', 'TxnRequest', {
    success: [
      { request_put: { key: bytes('n/d'), value: bytes(nestedValue) } },
      {
        request_txn: {
          compare: [{ key: bytes('n/d'), target: 'CREATE', result: 'GREATER', create_revision: 0 }],
          success: [{ request_put: { key: bytes('n/never'), value: bytes('v') } }],
          failure: [{ request_range: { key: bytes('n/'), range_end: bytes('n0'), sort_order: 'ASCEND', sort_target: 'VALUE', limit: 2 } }],
        },
      },
    ],
  }, admin, 'TxnResponse');
  assert.equal(answer.grpcStatus, 0, answer.grpcMessage);
  const message = answer.messages[0]!;
  const responses = message.responses as Message[];
  const inner = responses[1]!.response_txn as Message;
  assert.equal(inner.succeeded, false, 'the inner compare saw the state before the transaction: no n/d yet');
  const range = (inner.responses as Message[])[0]!.response_range as Message;
  assert.deepEqual((range.kvs as Message[]).map((kv) => text(kv.value)), [nestedValue, 'x'], 'sorted by value over the whole range, then limited');
  assert.deepEqual([Number(range.count), range.more], [4, true]);
  const revision = Number((message.header as Message).revision);
  assert.deepEqual([Number((inner.header as Message).revision), Number(((responses[0]!.response_put as Message).header as Message).revision)], [revision, revision]);
  const never = await call('KV/Range', 'RangeRequest', { key: bytes('n/never') }, admin, 'RangeResponse');
  assert.deepEqual(never.messages[0]!.kvs, []);
  // The audit record describes the call, never the values its request or answer carry.
  const event = await eventOf(answer.auditID);
  assert.equal(event?.responseStatus?.code, 200);
  assert.ok(!JSON.stringify(event).includes(nestedValue) && !JSON.stringify(event).includes(Buffer.from(nestedValue).toString('base64')));
});

test('a nested transaction\'s refusals carry etcd\'s messages, or name Coffer\'s limit, and change nothing', async () => {
  const before = await m1.backend.mvcc().hash(0);
  const put = (key: string) => ({ request_put: { key: bytes(key), value: bytes('v') } });
  const duplicate = await call('KV/Txn', 'TxnRequest', { success: [{ request_txn: { success: [put('d/k')] } }, put('d/k')] });
  assert.deepEqual([duplicate.grpcStatus, duplicate.grpcMessage], [3, 'etcdserver: duplicate key given in txn request']);
  const wide = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => put(`${prefix}${i}`));
  const tooMany = await call('KV/Txn', 'TxnRequest', { success: [...wide(100, 'o/'), { request_txn: { success: wide(txnOpsMax - 100, 'i/') } }] });
  assert.deepEqual([tooMany.grpcStatus, tooMany.grpcMessage], [3, 'etcdserver: too many operations in txn request']);
  let deep: Message = { success: [put('deep')] };
  for (let level = 1; level <= txnNestingLevelsMax; level++) deep = { success: [{ request_txn: deep }] };
  const tooDeep = await call('KV/Txn', 'TxnRequest', deep);
  assert.deepEqual([tooDeep.grpcStatus, tooDeep.grpcMessage], [3, 'a transaction nested 17 levels deep exceeds txnNestingLevelsMax (16)']);
  // Deeper than protobufjs encodes: the bytes are built by hand (TxnRequest.success = 2, RequestOp.request_txn = 4).
  const wrap = (field: number, inner: Buffer) => Buffer.concat([Buffer.from([(field << 3) | 2]), varint(inner.length), inner]);
  let bytes200 = Buffer.alloc(0);
  for (let level = 1; level < 200; level++) bytes200 = wrap(2, wrap(4, bytes200));
  const farTooDeep = await callRaw('KV/Txn', frame(bytes200));
  assert.equal(farTooDeep.grpcStatus, 3, farTooDeep.grpcMessage);
  assert.deepEqual(await m1.backend.mvcc().hash(0), before);
});

test('refusals are gRPC statuses, audited with the status they stand for, and change nothing', async () => {
  // kv-only may call the KV API on every key, and still cannot reach the Kubernetes objects under /registry/.
  await grant(m1.app, 'grpc-kv-all-keys', [{ nonResourceURLs: ['/etcdserverpb.*'], verbs: ['post'] }, { apiGroups: ['coffer.dev'], resources: ['kvkeys'], verbs: ['*'] }], 'kv-only');
  const before = await m1.backend.mvcc().hash(0);
  const nobody = { 'x-user': 'nobody' };
  const denied = await call('KV/Put', 'PutRequest', { key: bytes('g/x'), value: bytes('v') }, nobody);
  assert.deepEqual([denied.httpStatus, denied.grpcStatus], [200, 7]);
  assert.deepEqual([denied.grpcMessage, /nobody/.test(denied.detail)], ['etcdserver: permission denied', true]);
  const deniedEvent = await eventOf(denied.auditID);
  assert.deepEqual([deniedEvent?.annotations?.['authorization.k8s.io/decision'], deniedEvent?.responseStatus?.code], ['forbid', 403]);
  const reserved = await call('KV/Put', 'PutRequest', { key: bytes('/registry/secrets/default/x'), value: bytes('v') }, { 'x-user': 'kv-only' });
  assert.deepEqual([reserved.grpcStatus, reserved.grpcMessage], [7, 'etcdserver: permission denied']);
  assert.match(reserved.detail, /keys under \/registry\/ hold the Kubernetes API's objects/);
  const registry = await call('KV/Range', 'RangeRequest', { key: bytes('\u0000'), range_end: bytes('\u0001') });
  assert.deepEqual([registry.grpcStatus, registry.grpcMessage, registry.detail], [7, 'etcdserver: permission denied', 'keys starting with a zero byte are reserved for Coffer']);
  const nested = await call('KV/Txn', 'TxnRequest', { success: [{ request_txn: { failure: [{ request_put: { key: bytes('/registry/secrets/default/x'), value: bytes('v') } }] } }] }, { 'x-user': 'kv-only' });
  assert.deepEqual([nested.grpcStatus, /keys under \/registry\/ hold the Kubernetes API's objects/.test(nested.detail)], [7, true]);
  const leased = await call('KV/Put', 'PutRequest', { key: bytes('g/l'), value: bytes('v'), lease: 7 });
  assert.deepEqual([leased.grpcStatus, leased.grpcMessage], [5, 'etcdserver: requested lease not found']);
  assert.deepEqual(await m1.backend.mvcc().hash(0), before);
});

test('what is not a gRPC call of Coffer\'s is told so: unknown methods, other content types, bad and oversized messages', async () => {
  const unknown = await callRaw('KV/Frobnicate', frame(new Uint8Array(0)));
  assert.deepEqual([unknown.grpcStatus, unknown.grpcMessage], [12, 'unknown method /etcdserverpb.KV/Frobnicate']);
  const json = await callRaw('KV/Range', Buffer.from('{"key":"YQ=="}'), admin, undefined, 'application/json');
  assert.equal(json.httpStatus, 415);
  const garbage = await callRaw('KV/Range', frame(Buffer.from([0xff, 0xff, 0xff])));
  assert.equal(garbage.grpcStatus, 3);
  const oversized = Buffer.alloc(5);
  oversized.writeUInt32BE(requestBodyBytesMax + 1, 1);
  const tooLarge = await callRaw('KV/Put', Buffer.concat([oversized, Buffer.alloc(16)]));
  assert.deepEqual([tooLarge.grpcStatus, tooLarge.grpcMessage], [3, 'etcdserver: request is too large']);
  const compressed = frame(encode(messageType('RangeRequest'), { key: bytes('a') }));
  compressed.writeUInt8(1, 0);
  assert.equal((await callRaw('KV/Range', compressed)).grpcStatus, 3);
  const twoMessages = Buffer.concat([frame(encode(messageType('RangeRequest'), { key: bytes('a') })), frame(encode(messageType('RangeRequest'), { key: bytes('b') }))]);
  assert.equal((await callRaw('KV/Range', twoMessages)).grpcStatus, 3, 'a unary call carries exactly one message');
});

test('a membership change Raft cannot make is FailedPrecondition, audited, and changes nothing: removing the last voter', async () => {
  const id = Number(m1.backend.status().memberId);
  const removed = await call('Cluster/MemberRemove', 'MemberRemoveRequest', { ID: id });
  assert.deepEqual([removed.grpcStatus, removed.grpcMessage], [9, `etcdserver: membership change refused: raft conf change invalid: removeNode of node ${id} would leave no voter`]);
  assert.equal((await eventOf(removed.auditID))?.responseStatus?.code, 400);
  const gateway = await m1.app.inject({ method: 'POST', url: '/v3/cluster/member/remove', headers: admin, payload: { ID: String(id) } });
  assert.equal(gateway.statusCode, 400, gateway.body);
  const list = await call('Cluster/MemberList', 'MemberListRequest', {}, admin, 'MemberListResponse');
  assert.deepEqual((list.messages[0]!.members as Message[]).map((m) => Number(m.ID)), [id]);
});

test('when the audit log cannot record, gRPC writes and reads are UNAVAILABLE and nothing changes', async (t) => {
  const broken = await startAudited(1, { fileBytesTarget: 1 });
  t.after(() => broken.close());
  const member = broken.members[0]!;
  const dir = join(member.dataDir, 'audit');
  await rm(dir, { recursive: true });
  await writeFile(dir, 'not a directory');
  const before = await member.backend.mvcc().hash(0);
  // The read first: its record is written in this log and waited for, so it finds the fault (a write's
  // record travels in its Raft entry and reaches this log only as the write is applied).
  for (const [method, type, fields] of [['KV/Range', 'RangeRequest', { key: bytes('k') }], ['KV/Put', 'PutRequest', { key: bytes('k'), value: bytes('v') }]] as const) {
    const reply = await member.app.inject({ method: 'POST', url: `/etcdserverpb.${method}`, headers: { ...admin, 'content-type': 'application/grpc' }, payload: frame(encode(messageType(type), fields)) });
    assert.equal(reply.trailers['grpc-status'], '14', `${method}: ${String(reply.trailers['grpc-message'])}`);
    assert.match(decodeURIComponent(String(reply.trailers['grpc-message'])), /audit log cannot record this request; nothing was changed/);
    assert.equal(new FrameReader().push(reply.rawPayload).length, 0, `${method}: no message leaves with a refusal`);
  }
  assert.deepEqual(await member.backend.mvcc().hash(0), before);
});

// ── Lease ────────────────────────────────────────────────────────────────────────────────────────

interface LeaseAnswer { grpcStatus: number; grpcMessage: string; rawMessage: string; messages: Message[]; auditID: string | undefined }

/** A call of one or more messages (a keep-alive stream's), its answers decoded. */
async function callMany(method: string, request: string, fields: Message | Message[], response: string, who: Record<string, string> = admin): Promise<LeaseAnswer> {
  const payload = Buffer.concat((Array.isArray(fields) ? fields : [fields]).map((f) => frame(encode(messageType(request), f))));
  const reply = await m1.app.inject({ method: 'POST', url: `/etcdserverpb.${method}`, headers: { ...who, 'content-type': 'application/grpc' }, payload });
  return {
    grpcStatus: Number(reply.trailers['grpc-status'] ?? -1), grpcMessage: decodeURIComponent(String(reply.trailers['grpc-message'] ?? '')),
    rawMessage: String(reply.trailers['grpc-message'] ?? ''), messages: new FrameReader().push(reply.rawPayload).map((m) => decode(messageType(response), m)), auditID: reply.headers['audit-id'] as string | undefined,
  };
}

async function grantLease(ttl: number, id = 0): Promise<number> {
  const granted = await callMany('Lease/LeaseGrant', 'LeaseGrantRequest', { TTL: ttl, ID: id }, 'LeaseGrantResponse');
  assert.equal(granted.grpcStatus, 0, granted.grpcMessage);
  return Number(granted.messages[0]!.ID);
}

async function put(key: string, lease: number): Promise<LeaseAnswer> {
  return callMany('KV/Put', 'PutRequest', { key: bytes(key), value: bytes('v'), lease }, 'PutResponse');
}

async function get(key: string): Promise<Message[]> {
  return (await callMany('KV/Range', 'RangeRequest', { key: bytes(key) }, 'RangeResponse')).messages[0]!.kvs as Message[];
}

test('HashKV covers the leases: a lease granted without keys changes the hash at the same revision, and its revoke restores it', async () => {
  const hashKv = async (): Promise<[revision: number, hash: number]> => {
    const answer = await callMany('Maintenance/HashKV', 'HashKVRequest', { revision: 0 }, 'HashKVResponse');
    assert.equal(answer.grpcStatus, 0, answer.grpcMessage);
    return [Number((answer.messages[0]!.header as Message).revision), Number(answer.messages[0]!.hash)];
  };
  const before = await hashKv();
  const id = await grantLease(600);
  const granted = await hashKv();
  assert.equal(granted[0], before[0], 'a grant takes no revision');
  assert.notEqual(granted[1], before[1]);
  const revoked = await callMany('Lease/LeaseRevoke', 'LeaseRevokeRequest', { ID: id }, 'LeaseRevokeResponse');
  assert.equal(revoked.grpcStatus, 0, revoked.grpcMessage);
  assert.deepEqual(await hashKv(), before);
});

test('grant, attach, time-to-live with keys, list, keep-alive and revoke over gRPC, each audited once', async () => {
  const id = await grantLease(600);
  assert.ok(id > 0, 'the server chose an id');
  assert.equal((await put('l/a', id)).grpcStatus, 0);
  assert.equal((await put('l/b', id)).grpcStatus, 0);
  assert.equal(Number((await get('l/a'))[0]!.lease), id, 'the key names its lease');

  const ttl = await callMany('Lease/LeaseTimeToLive', 'LeaseTimeToLiveRequest', { ID: id, keys: true }, 'LeaseTimeToLiveResponse');
  const status = ttl.messages[0]!;
  assert.equal(Number(status.grantedTTL), 600);
  assert.ok(Number(status.TTL) > 590 && Number(status.TTL) <= 600, `remaining ${String(status.TTL)}`);
  assert.deepEqual((status.keys as Uint8Array[]).map(text), ['l/a', 'l/b']);

  const list = await callMany('Lease/LeaseLeases', 'LeaseLeasesRequest', {}, 'LeaseLeasesResponse');
  assert.ok((list.messages[0]!.leases as Message[]).some((l) => Number(l.ID) === id));

  const kept = await callMany('Lease/LeaseKeepAlive', 'LeaseKeepAliveRequest', [{ ID: id }, { ID: 424242 }], 'LeaseKeepAliveResponse');
  assert.equal(kept.grpcStatus, 0, kept.grpcMessage);
  assert.deepEqual(kept.messages.map((m) => [Number(m.ID), Number(m.TTL)]), [[id, 600], [424242, 0]], 'an unknown lease is answered TTL 0');

  const revoked = await callMany('Lease/LeaseRevoke', 'LeaseRevokeRequest', { ID: id }, 'LeaseRevokeResponse');
  assert.equal(revoked.grpcStatus, 0, revoked.grpcMessage);
  assert.deepEqual([await get('l/a'), await get('l/b')], [[], []], 'the attached keys are gone');
  const again = await callMany('Lease/LeaseRevoke', 'LeaseRevokeRequest', { ID: id }, 'LeaseRevokeResponse');
  assert.deepEqual([again.grpcStatus, again.grpcMessage], [5, 'etcdserver: requested lease not found']);
  const gone = await callMany('Lease/LeaseTimeToLive', 'LeaseTimeToLiveRequest', { ID: id }, 'LeaseTimeToLiveResponse');
  assert.equal(Number(gone.messages[0]!.TTL), -1, 'a lease gone has TTL -1, as etcd answers');

  const events = await m1.events();
  for (const answer of [ttl, list, kept, revoked, again]) {
    assert.equal(events.filter((e) => e.auditID === answer.auditID).length, 1, 'one audit event per call, the keep-alive stream included');
  }
  assert.equal(events.find((e) => e.auditID === again.auditID)?.responseStatus?.code, 404);
});

test('a lease expires through the leader\'s lessor: its key is deleted and a watcher-visible revision is written', async () => {
  const id = await grantLease(1);
  assert.equal((await put('exp/a', id)).grpcStatus, 0);
  const before = m1.backend.status().revision;
  await waitUntil(async () => (await get('exp/a')).length === 0, 10_000, 'the lease to expire and delete its key');
  assert.ok(m1.backend.status().revision > before);
  assert.equal(m1.backend.mvcc().lease(id), undefined);
});

test('the lock recipe\'s txn: put with a lease if absent, and the owner by a sorted range inside the txn', async () => {
  const first = await grantLease(600);
  const second = await grantLease(600);
  const lock = (lease: number) => callMany('KV/Txn', 'TxnRequest', {
    compare: [{ key: bytes(`lock/${lease}`), target: 'CREATE', result: 'EQUAL', create_revision: 0 }],
    success: [{ request_put: { key: bytes(`lock/${lease}`), value: bytes(''), lease } }, { request_range: { key: bytes('lock/'), range_end: bytes('lock0'), sort_order: 'ASCEND', sort_target: 'CREATE', limit: 1 } }],
    failure: [{ request_range: { key: bytes(`lock/${lease}`) } }],
  }, 'TxnResponse');
  const owner = (answer: LeaseAnswer) => text((((answer.messages[0]!.responses as Message[])[1]!.response_range as Message).kvs as Message[])[0]!.key);
  assert.equal(owner(await lock(second)), `lock/${second}`);
  assert.equal(owner(await lock(first)), `lock/${second}`, 'the oldest waiter owns the lock, whatever the key order');
  const compare = await callMany('KV/Txn', 'TxnRequest', { compare: [{ key: bytes(`lock/${first}`), target: 'LEASE', result: 'EQUAL', lease: first }] }, 'TxnResponse');
  assert.equal(compare.messages[0]!.succeeded, true, 'a compare on the lease');
  for (const id of [first, second]) await callMany('Lease/LeaseRevoke', 'LeaseRevokeRequest', { ID: id }, 'LeaseRevokeResponse');
});

test('refused: a put to an unknown lease; a revoke of a lease holding keys the caller may not delete, whose other keys stay hidden', async () => {
  const unknown = await put('g/l', 987654);
  assert.deepEqual([unknown.grpcStatus, unknown.grpcMessage], [5, 'etcdserver: requested lease not found']);
  assert.equal(unknown.rawMessage, 'etcdserver: requested lease not found', 'sent as it reads: the etcd3 client matches it after decodeURI');
  await grant(m1.app, 'grpc-kv-prefix', [{ nonResourceURLs: ['/etcdserverpb.*'], verbs: ['post'] }, { apiGroups: ['coffer.dev'], resources: ['kvkeys'], resourceNames: ['kv/'], verbs: ['*'] }], 'kv-lease');
  const kvUser = { 'x-user': 'kv-lease' };
  // kv-lease's own lease; system:masters may attach keys to any lease.
  const granted = await callMany('Lease/LeaseGrant', 'LeaseGrantRequest', { TTL: 600 }, 'LeaseGrantResponse', kvUser);
  const id = Number(granted.messages[0]!.ID);
  assert.equal((await put('/registry/leased', id)).grpcStatus, 0, 'system:masters may attach a reserved key');
  assert.equal((await put('other/leased', id)).grpcStatus, 0);
  assert.equal((await put('kv/leased', id)).grpcStatus, 0);
  const ttl = await callMany('Lease/LeaseTimeToLive', 'LeaseTimeToLiveRequest', { ID: id, keys: true }, 'LeaseTimeToLiveResponse', kvUser);
  assert.deepEqual((ttl.messages[0]!.keys as Uint8Array[]).map(text), ['kv/leased'], 'only the keys under the caller\'s prefix are listed');
  const revoke = await callMany('Lease/LeaseRevoke', 'LeaseRevokeRequest', { ID: id }, 'LeaseRevokeResponse', kvUser);
  assert.equal(revoke.grpcStatus, 7, revoke.grpcMessage);
  assert.equal((await get('kv/leased')).length, 1, 'the refused revoke deleted nothing');
  assert.equal((await callMany('Lease/LeaseRevoke', 'LeaseRevokeRequest', { ID: id }, 'LeaseRevokeResponse')).grpcStatus, 0);
});

test('the JSON gateway serves the same lease calls', async () => {
  const post = async (url: string, payload: object) => {
    const reply = await m1.app.inject({ method: 'POST', url, headers: admin, payload });
    assert.equal(reply.statusCode, 200, `${url}: ${reply.body}`);
    return reply.json<Record<string, unknown>>();
  };
  const granted = await post('/v3/lease/grant', { TTL: '600' });
  const id = String(granted.ID);
  await post('/v3/kv/put', { key: bytes('j/a').toString('base64'), value: 'dg==', lease: id });
  const ttl = await post('/v3/lease/timetolive', { ID: id, keys: true });
  assert.deepEqual([ttl.grantedTTL, ttl.keys], ['600', [bytes('j/a').toString('base64')]]);
  const { result } = await post('/v3/lease/keepalive', { ID: id }) as { result: { ID: string; TTL: string } };
  assert.deepEqual([result.ID, result.TTL], [id, '600']);
  assert.ok(((await post('/v3/lease/leases', {})).leases as { ID: string }[]).some((l) => l.ID === id));
  await post('/v3/lease/revoke', { ID: id });
  const range = await post('/v3/kv/range', { key: bytes('j/a').toString('base64') });
  assert.equal(range.kvs, undefined, 'the revoke deleted the key');
  const missing = await m1.app.inject({ method: 'POST', url: '/v3/lease/revoke', headers: admin, payload: { ID: id } });
  assert.equal(missing.statusCode, 404);
});

test('Maintenance Status gives the store\'s sizes to system:masters only: they move by the bytes of each value written', async () => {
  // May call the etcd API, holds no key and no Secret right.
  await grant(m1.app, 'status-only', [{ nonResourceURLs: ['/v3/*', '/etcdserverpb.*'], verbs: ['post'] }], 'status-only');
  const caller = { 'x-user': 'status-only', 'x-groups': 'dev' };
  const sizes = async (who: Record<string, string>) => {
    const grpc = await call('Maintenance/Status', 'StatusRequest', {}, who, 'StatusResponse');
    assert.equal(grpc.grpcStatus, 0, grpc.grpcMessage);
    const json = await m1.app.inject({ method: 'POST', url: '/v3/maintenance/status', headers: who, payload: {} });
    assert.equal(json.statusCode, 200, json.body);
    const fields = json.json<{ dbSize?: string; dbSizeInUse?: string }>();
    return [Number(grpc.messages[0]!.dbSize ?? 0), Number(grpc.messages[0]!.dbSizeInUse ?? 0), Number(fields.dbSize ?? 0), Number(fields.dbSizeInUse ?? 0)];
  };
  const secret = (name: string, length: number) => m1.app.inject({
    method: 'POST', url: '/api/v1/namespaces/default/secrets', headers: admin,
    payload: { apiVersion: 'v1', kind: 'Secret', metadata: { name }, data: { password: Buffer.from('x'.repeat(length)).toString('base64') } },
  });
  const before = await sizes(admin);
  assert.equal((await secret('status-sized', 300)).statusCode, 201);
  const after = await sizes(admin);
  assert.ok(after[1]! > before[1]! && after[3]! > before[3]!, `a master sees the store grow: ${before.join(' ')} → ${after.join(' ')}`);
  assert.deepEqual(await sizes(caller), [0, 0, 0, 0]);
});
