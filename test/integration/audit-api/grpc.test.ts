// etcd's gRPC API through the one gate and audit step of the client API (app.inject, real replica, real
// audit log): answers are gRPC statuses in trailers, every call leaves one audit event with the
// status it stands for, refusals change nothing, the audit log refusing records refuses gRPC calls
// too, and what is not gRPC is told so (415, UNIMPLEMENTED, oversized messages).
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { requestBodyBytesMax } from '../../../src/config/index.ts';
import { frame, FrameReader, decode, encode, type Message, messageType } from '../../../src/etcdpb/index.ts';
import { grant } from './attacker.ts';
import { admin, type AuditedCluster, type AuditedMember, startAudited } from './harness.ts';

let audited: AuditedCluster;
let m1: AuditedMember;
before(async () => {
  audited = await startAudited(1);
  m1 = audited.members[0]!;
});
after(async () => { await audited.close(); });

const bytes = (s: string) => Buffer.from(s);

interface Call { grpcStatus: number; grpcMessage: string; messages: Message[]; auditID: string | undefined; httpStatus: number }

async function call(method: string, request: string, fields: Message, who: Record<string, string> = admin, response?: string): Promise<Call> {
  return callRaw(method, frame(encode(messageType(request), fields)), who, response);
}

async function callRaw(method: string, payload: Buffer, who: Record<string, string> = admin, response?: string, contentType = 'application/grpc'): Promise<Call> {
  const reply = await m1.app.inject({ method: 'POST', url: `/etcdserverpb.${method}`, headers: { ...who, 'content-type': contentType }, payload });
  const messages = response === undefined ? [] : new FrameReader().push(reply.rawPayload).map((m) => decode(messageType(response), m));
  return {
    grpcStatus: Number(reply.trailers['grpc-status'] ?? -1), grpcMessage: decodeURIComponent(String(reply.trailers['grpc-message'] ?? '')),
    messages, auditID: reply.headers['audit-id'] as string | undefined, httpStatus: reply.statusCode,
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

test('refusals are gRPC statuses, audited with the status they stand for, and change nothing', async () => {
  // kv-only may call the KV API on every key, and still cannot reach the Kubernetes objects under /registry/.
  await grant(m1.app, 'grpc-kv-all-keys', [{ nonResourceURLs: ['/etcdserverpb.*'], verbs: ['post'] }, { apiGroups: ['coffer.dev'], resources: ['kvkeys'], verbs: ['*'] }], 'kv-only');
  const before = await m1.backend.mvcc().hash(0);
  const nobody = { 'x-user': 'nobody' };
  const denied = await call('KV/Put', 'PutRequest', { key: bytes('g/x'), value: bytes('v') }, nobody);
  assert.deepEqual([denied.httpStatus, denied.grpcStatus], [200, 7]);
  assert.match(denied.grpcMessage, /nobody/);
  const deniedEvent = await eventOf(denied.auditID);
  assert.deepEqual([deniedEvent?.annotations?.['authorization.k8s.io/decision'], deniedEvent?.responseStatus?.code], ['forbid', 403]);
  const reserved = await call('KV/Put', 'PutRequest', { key: bytes('/registry/secrets/default/x'), value: bytes('v') }, { 'x-user': 'kv-only' });
  assert.equal(reserved.grpcStatus, 7);
  assert.match(reserved.grpcMessage, /keys under \/registry\/ hold the Kubernetes API's objects/);
  const registry = await call('KV/Range', 'RangeRequest', { key: bytes('\u0000'), range_end: bytes('\u0001') });
  assert.deepEqual([registry.grpcStatus, registry.grpcMessage], [7, 'keys starting with a zero byte are reserved for Coffer']);
  const nested = await call('KV/Txn', 'TxnRequest', { success: [{ request_txn: {} }] });
  assert.deepEqual([nested.grpcStatus, /nested transactions are not supported/.test(nested.grpcMessage)], [3, true]);
  const leased = await call('KV/Put', 'PutRequest', { key: bytes('g/l'), value: bytes('v'), lease: 7 });
  assert.deepEqual([leased.grpcStatus, leased.grpcMessage], [5, 'etcdserver: requested lease not found']);
  assert.deepEqual(await m1.backend.mvcc().hash(0), before);
});

test('what is not a gRPC call of Coffer\'s is told so: unknown methods, other content types, bad and oversized messages', async () => {
  const unknown = await callRaw('Lease/LeaseGrant', frame(new Uint8Array(0)));
  assert.deepEqual([unknown.grpcStatus, unknown.grpcMessage], [12, 'unknown method /etcdserverpb.Lease/LeaseGrant']);
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

test('when the audit log cannot record, gRPC writes and reads are UNAVAILABLE and nothing changes', async (t) => {
  const broken = await startAudited(1, { fileBytesTarget: 1 });
  t.after(() => broken.close());
  const member = broken.members[0]!;
  const dir = join(member.dataDir, 'audit');
  await rm(dir, { recursive: true });
  await writeFile(dir, 'not a directory');
  const before = await member.backend.mvcc().hash(0);
  for (const [method, type, fields] of [['KV/Put', 'PutRequest', { key: bytes('k'), value: bytes('v') }], ['KV/Range', 'RangeRequest', { key: bytes('k') }]] as const) {
    const reply = await member.app.inject({ method: 'POST', url: `/etcdserverpb.${method}`, headers: { ...admin, 'content-type': 'application/grpc' }, payload: frame(encode(messageType(type), fields)) });
    assert.equal(reply.trailers['grpc-status'], '14', `${method}: ${String(reply.trailers['grpc-message'])}`);
    assert.match(decodeURIComponent(String(reply.trailers['grpc-message'])), /audit log cannot record this request; nothing was changed/);
    assert.equal(new FrameReader().push(reply.rawPayload).length, 0, `${method}: no message leaves with a refusal`);
  }
  assert.deepEqual(await member.backend.mvcc().hash(0), before);
});
