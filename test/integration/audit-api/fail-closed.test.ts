// Fail closed: once the audit log cannot make a record durable, every request the policy records
// fails with 503 and nothing changes in the store — writes, reads and denied requests alike. A read's
// record is made durable beside its ReadIndex round, and its answer waits for both.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitUntil } from '../../support/wait.ts';
import { waitLimitMs } from '../replication/harness.ts';
import { admin, startAudited } from './harness.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('with the audit directory replaced by a file, writes, reads and denials answer 503 and the store is unchanged', async (t) => {
  // Every record goes to a new file, so the first record after the directory is gone needs a new file in it.
  const audited = await startAudited(1, { fileBytesTarget: 1 });
  t.after(() => audited.close());
  const m1 = audited.members[0]!;
  const fingerprint = async () => {
    const { hash, revision } = await m1.backend.mvcc().hash(0);
    return `${revision}:${hash}`;
  };
  const json = { ...admin, 'content-type': 'application/json' };
  const created = await m1.app.inject({ method: 'POST', url: '/api/v1/namespaces/default/configmaps', headers: json, payload: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'before' }, data: { a: '1' } }) });
  assert.equal(created.statusCode, 201, 'the log works before the fault');
  // The create's records are appended without being waited for (its RequestReceived came in its Raft
  // entry): let them reach the file, so the fault below is met by the requests that follow.
  await m1.audit.flushed();

  const dir = join(m1.dataDir, 'audit');
  await rm(dir, { recursive: true });
  await writeFile(dir, 'not a directory');
  const before = await fingerprint();

  // The read comes first: its record is written here and waited for, so it finds the fault. (A write's
  // record travels in its Raft entry and reaches this log as the write is applied: a write taken before
  // the log knows of the fault keeps its record in the WAL until the log takes records again.)
  const requests = [
    { method: 'GET' as const, url: '/api/v1/namespaces/default/configmaps/before', headers: admin },
    { method: 'POST' as const, url: '/api/v1/namespaces/default/configmaps', headers: json, payload: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'after' }, data: { a: '1' } }) },
    { method: 'POST' as const, url: '/api/v1/namespaces/default/secrets', headers: json, payload: JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { p: b64('x') } }) },
    { method: 'DELETE' as const, url: '/api/v1/namespaces/default/configmaps/before', headers: admin },
    { method: 'POST' as const, url: '/v3/kv/put', headers: admin, payload: JSON.stringify({ key: b64('k'), value: b64('v') }) },
    { method: 'GET' as const, url: '/api/v1/namespaces/default/secrets', headers: { 'x-user': 'bob', 'x-groups': 'devs' } },
  ];
  for (const request of requests) {
    const response = await m1.app.inject(request);
    assert.equal(response.statusCode, 503, `${request.method} ${request.url}: ${response.body}`);
    const body = response.json<{ message?: string; error?: string }>();
    assert.match(body.message ?? '', /audit log cannot record this request; nothing was changed/);
    assert.equal(await fingerprint(), before, `${request.method} ${request.url} changed the store`);
  }
  const kv = await m1.app.inject({ method: 'POST', url: '/v3/kv/range', headers: admin, payload: JSON.stringify({ key: b64('k') }) });
  assert.equal(kv.statusCode, 503);
  // A transaction that writes nothing is served as a read (nothing proposed): its record, made durable in
  // this member's log, is refused, so the answer is too.
  const readOnlyTxn = await m1.app.inject({ method: 'POST', url: '/v3/kv/txn', headers: admin, payload: JSON.stringify({ success: [{ request_range: { key: b64('k') } }] }) });
  assert.equal(readOnlyTxn.statusCode, 503, readOnlyTxn.body);
  assert.equal((await m1.backend.range(new TextEncoder().encode('k'), undefined, { linearizable: true })).count, 0, 'the refused KV put did not happen');
  assert.ok(m1.audit.problems().some((p) => /records are refused: .*ENOTDIR/.test(p)), m1.audit.problems().join('; '));
  // Probes the policy leaves out do not depend on the audit log.
  assert.equal((await m1.app.inject({ method: 'GET', url: '/livez', headers: admin })).statusCode, 200);
});

test('a write whose completion record is refused keeps its true answer; its RequestReceived record stands', async (t) => {
  let refuseCompletions = false;
  const audited = await startAudited(1, {}, (audit) => ({
    ...audit,
    record: (input) => refuseCompletions && input.stage === 'ResponseComplete'
      ? Promise.reject(new Error('disk full')) : audit.record(input),
  }));
  t.after(() => audited.close());
  const m1 = audited.members[0]!;
  const json = { ...admin, 'content-type': 'application/json' };
  refuseCompletions = true;
  const created = await m1.app.inject({ method: 'POST', url: '/api/v1/namespaces/default/configmaps', headers: json, payload: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'made' }, data: { a: '1' } }) });
  // The change was made before the completion record was refused: a 503 would tell the client otherwise.
  assert.equal(created.statusCode, 201, created.body);
  const read = await m1.backend.range(new TextEncoder().encode('/registry/configmaps/default/made'), undefined, { linearizable: true });
  assert.equal(read.count, 1, 'the write happened');
  const events = (await m1.events()).filter((e) => e.auditID === created.headers['audit-id']);
  assert.deepEqual(events.map((e) => [e.stage, e.verb, e.objectRef?.name]), [['RequestReceived', 'create', 'made']]);
  // A read's answer waits for its RequestReceived record only: a refused completion leaves it standing too.
  const get = await m1.app.inject({ method: 'GET', url: '/api/v1/namespaces/default/configmaps/made', headers: admin });
  assert.equal(get.statusCode, 200, get.body);
});

test('a read\'s record becomes durable while its ReadIndex round is held, before its answer leaves', async (t) => {
  const audited = await startAudited(3, {}, (audit) => ({
    ...audit,
    record: (input) => {
      const recorded = audit.record(input);
      if (input.stage === 'RequestReceived' && input.verb === 'get') void recorded.then(() => { readRecordDurable = true; }, () => undefined);
      return recorded;
    },
  }));
  t.after(() => audited.close());
  let readRecordDurable = false;
  const leader = await audited.cluster.leader();
  const follower = leader === 1 ? 2 : 1;
  const member = audited.members[follower - 1]!;
  const json = { ...admin, 'content-type': 'application/json' };
  const created = await audited.members[leader - 1]!.app.inject({ method: 'POST', url: '/api/v1/namespaces/default/configmaps', headers: json, payload: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'held' }, data: { a: '1' } }) });
  assert.equal(created.statusCode, 201, created.body);

  // The follower's ReadIndex request (and its heartbeat answers) no longer reach the leader: its round is held.
  audited.cluster.cut(follower, leader);
  let answered = false;
  const get = Promise.resolve(member.app.inject({ method: 'GET', url: '/api/v1/namespaces/default/configmaps/held', headers: admin })).finally(() => { answered = true; });
  await waitUntil(() => readRecordDurable, waitLimitMs, "the read's RequestReceived record durable while its round is held");
  assert.equal(answered, false, 'the answer waits for the ReadIndex round');
  audited.cluster.heal();
  const response = await get;
  assert.equal(response.statusCode, 200, response.body);
  await member.audit.flushed();
  const stages = (await member.events()).filter((e) => e.auditID === response.headers['audit-id']);
  assert.deepEqual(stages.map((e) => [e.stage, e.responseStatus?.code]), [['ResponseComplete', 200]]);
});

test('a refused read record withholds an answer whose linearizable read already completed: 503, no data', async (t) => {
  let refuse: ((error: Error) => void) | undefined;
  let readDone: (() => void) | undefined;
  const readCompleted = new Promise<void>((resolve) => { readDone = resolve; });
  const audited = await startAudited(1, {}, (audit) => ({
    ...audit,
    record: (input) => input.stage === 'RequestReceived' && input.verb === 'get'
      ? new Promise<void>((_, reject) => { refuse = reject; })
      : audit.record(input),
  }), undefined, {}, (backend) => ({
    ...backend,
    range: async (key, end, options) => {
      const result = await backend.range(key, end, options);
      if (options.linearizable) readDone?.();
      return result;
    },
  }));
  t.after(() => audited.close());
  const m1 = audited.members[0]!;
  const json = { ...admin, 'content-type': 'application/json' };
  const created = await m1.app.inject({ method: 'POST', url: '/api/v1/namespaces/default/configmaps', headers: json, payload: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'withheld' }, data: { a: 'visible-value' } }) });
  assert.equal(created.statusCode, 201, created.body);

  const get = m1.app.inject({ method: 'GET', url: '/api/v1/namespaces/default/configmaps/withheld', headers: admin });
  // The handler's linearizable read (ReadIndex round and local read) finished while the record was pending.
  await readCompleted;
  assert.ok(refuse !== undefined, 'the read asked for its record before its handler read');
  refuse(new Error('disk full'));
  const response = await get;
  assert.equal(response.statusCode, 503, response.body);
  assert.match(response.json<{ message: string }>().message, /audit log cannot record this request; nothing was changed/);
  assert.ok(!response.body.includes('visible-value'), 'no byte of the prepared answer left');
});
