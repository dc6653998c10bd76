// What a KV transaction may cost the cluster, through the gateway over a real 3-member cluster: one that
// writes nothing is served by the member that took it, as etcd serves it — after a ReadIndex round (or
// none, if its ranges ask to be serializable), never proposed, so the Raft log does not move and no other
// member reads for it — and every read of one transaction shares rangeResultBytesMax, so a small request
// of many ranges over a prefix is refused whole instead of building N times the prefix, while the member
// goes on serving others. (That the applier refuses such a transaction that also writes alike on every
// member: test/unit/mvcc/read-txn.test.ts.) Until 2026-12-06 a ~1 KB txn of 16 ranges over 8 MiB was
// applied through Raft: every member decrypted 128 MiB, the answering one built it all, and another
// tenant's put waited 4.5 s; 64 ranges: 500 and +1.4 GiB.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildClientApi } from '../../../src/api/index.ts';
import { rangeResultBytesMax } from '../../../src/config/index.ts';
import { backendOf, InProcessCluster } from '../replication/harness.ts';

let cluster: InProcessCluster;
let leaderId: number;
let followerId: number;
/** The gateway on the leader and on a follower. */
const apps = new Map<number, FastifyInstance>();
const admin = { user: 'admin', groups: ['system:masters'], kind: 'client' as const };

before(async () => {
  cluster = await InProcessCluster.start(3);
  leaderId = await cluster.leader();
  followerId = [1, 2, 3].find((id) => id !== leaderId)!;
  for (const id of [leaderId, followerId]) {
    const app = buildClientApi({ backend: backendOf(cluster.replica(id)), identify: () => admin });
    await app.ready();
    apps.set(id, app);
  }
});

after(async () => {
  for (const app of apps.values()) await app.close();
  await cluster.close();
});

const b64 = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s) : s).toString('base64');

async function post(member: number, url: string, body: unknown) {
  const response = await apps.get(member)!.inject({ method: 'POST', url, payload: JSON.stringify(body) });
  return { status: response.statusCode, body: response.json<Record<string, unknown>>(), bytes: response.body.length };
}

/** Each member's last log index. */
const logIndexes = () => [1, 2, 3].map((id) => cluster.replica(id).status().raftIndex);

test('a transaction that writes nothing is served by the member that took it: linearizable, and never proposed', async () => {
  const put = await post(leaderId, '/v3/kv/put', { key: b64('ro/a'), value: b64('1') });
  assert.equal(put.status, 200);
  const before = logIndexes();
  const txn = {
    compare: [{ key: b64('ro/a'), target: 'VALUE', result: 'EQUAL', value: b64('1') }],
    success: [{ request_range: { key: b64('ro/'), range_end: b64('ro0') } }, { request_txn: { success: [{ request_range: { key: b64('ro/a'), count_only: true } }] } }],
    failure: [],
  };
  // On the follower right after the write: the ReadIndex round makes it see the write.
  const read = await post(followerId, '/v3/kv/txn', txn);
  assert.equal(read.status, 200, JSON.stringify(read.body));
  assert.equal(read.body.succeeded, true);
  const responses = read.body.responses as { response_range?: { kvs: { key: string; value: string }[] }; response_txn?: { responses: { response_range: { count: string } }[] } }[];
  assert.deepEqual(responses[0]?.response_range?.kvs.map((kv) => [kv.key, kv.value]), [[b64('ro/a'), b64('1')]]);
  assert.equal(responses[1]?.response_txn?.responses[0]?.response_range.count, '1');
  assert.equal((read.body.header as { revision: string }).revision, (put.body.header as { revision: string }).revision);
  // Serializable ranges only: read as the member holds it, without the round.
  const serializable = await post(leaderId, '/v3/kv/txn', { success: [{ request_range: { key: b64('ro/a'), serializable: true } }] });
  assert.equal(serializable.status, 200);
  assert.deepEqual(logIndexes(), before, 'no transaction that writes nothing was proposed');
  // One that writes is proposed, as before.
  const write = await post(leaderId, '/v3/kv/txn', { success: [{ request_range: { key: b64('ro/a') } }, { request_put: { key: b64('ro/b'), value: b64('2') } }] });
  assert.equal(write.status, 200);
  assert.ok(cluster.replica(leaderId).status().raftIndex > before[leaderId - 1]!, 'a transaction that writes goes through the log');
});

test('the reads of one transaction share rangeResultBytesMax: many ranges of a prefix are refused whole, and the member serves others meanwhile', async () => {
  const value = b64(Buffer.alloc(1024 * 1024, 0x61));
  for (let i = 0; i < 8; i++) assert.equal((await post(leaderId, '/v3/kv/put', { key: b64(`app/${i}`), value })).status, 200);
  const prefix = { key: b64('app/'), range_end: b64('app0') };
  // 16 ranges of 8 MiB (a request under 1 KB): 128 MiB asked for, refused once 64 MiB were read.
  const many = JSON.stringify({ success: Array.from({ length: 16 }, () => ({ request_range: prefix })) });
  const before = logIndexes();
  const txn = apps.get(followerId)!.inject({ method: 'POST', url: '/v3/kv/txn', payload: many });
  const other = await post(followerId, '/v3/kv/put', { key: b64('other/x'), value: b64('v') });
  assert.equal(other.status, 200, 'another caller is served while the transaction reads');
  const refused = await txn;
  assert.equal(refused.statusCode, 400, refused.body.slice(0, 300));
  const error = refused.json<{ code: number; error: string }>();
  assert.equal(error.code, 3);
  assert.match(error.error, new RegExp(`rangeResultBytesMax \\(${rangeResultBytesMax}\\)`));
  assert.doesNotMatch(error.error, /\d+ bytes/, 'the refusal names the limit, not how much was read');
  assert.equal(cluster.replica(leaderId).status().raftIndex, before[leaderId - 1]! + 1, 'only the other caller\'s put was proposed');
  // Under the budget the transaction is answered.
  const two = await post(followerId, '/v3/kv/txn', { success: [{ request_range: prefix }, { request_range: prefix }] });
  assert.equal(two.status, 200);
  assert.equal((two.body.responses as unknown[]).length, 2);
});

test('a serializable read at a revision this member has not applied yet waits for it instead of answering "future revision"', async () => {
  // The follower hears nothing from the leader: a write commits with the third member, past what it holds.
  cluster.cut(leaderId, followerId);
  try {
    const put = await post(leaderId, '/v3/kv/put', { key: b64('stm/x'), value: b64('7') });
    assert.equal(put.status, 200);
    const revision = (put.body.header as { revision: string }).revision;
    assert.ok(Number(revision) > cluster.replica(followerId).mvcc().currentRevision(), 'the follower has not applied the write');
    // As clientv3's STM reads, at the revision another member served it, serializable, over any endpoint.
    const range = { key: b64('stm/x'), revision, serializable: true };
    const reads = [
      apps.get(followerId)!.inject({ method: 'POST', url: '/v3/kv/range', payload: JSON.stringify(range) }),
      apps.get(followerId)!.inject({ method: 'POST', url: '/v3/kv/txn', payload: JSON.stringify({ success: [{ request_range: range }] }) }),
    ];
    cluster.heal();
    const [plain, txn] = await Promise.all(reads);
    assert.equal(plain!.statusCode, 200, plain!.body.slice(0, 300));
    assert.deepEqual(plain!.json<{ kvs: { value: string }[] }>().kvs.map((kv) => kv.value), [b64('7')]);
    assert.equal(txn!.statusCode, 200, txn!.body.slice(0, 300));
    const responses = txn!.json<{ responses: { response_range: { kvs: { value: string }[] } }[] }>().responses;
    assert.deepEqual(responses[0]?.response_range.kvs.map((kv) => kv.value), [b64('7')]);
    // A revision no member has reached is still refused.
    const future = await post(followerId, '/v3/kv/range', { ...range, revision: String(Number(revision) + 1000) });
    assert.equal(future.status, 400);
    assert.match(JSON.stringify(future.body), /future revision/);
  } finally {
    cluster.heal();
  }
});

test('a transaction of compares only asks nothing to be serializable: on a member behind the leader it is linearizable, and sees the write before it', async () => {
  cluster.cut(leaderId, followerId);
  try {
    const put = await post(leaderId, '/v3/kv/put', { key: b64('cmp-only/x'), value: b64('new') });
    assert.equal(put.status, 200);
    assert.ok(Number((put.body.header as { revision: string }).revision) > cluster.replica(followerId).mvcc().currentRevision(), 'the follower has not applied the write');
    const compared = apps.get(followerId)!.inject({
      method: 'POST', url: '/v3/kv/txn', payload: JSON.stringify({ compare: [{ key: b64('cmp-only/x'), target: 'VALUE', result: 'EQUAL', value: b64('new') }] }),
    });
    cluster.heal();
    const answer = await compared;
    assert.equal(answer.statusCode, 200, answer.body.slice(0, 300));
    assert.equal(answer.json<{ succeeded?: boolean }>().succeeded, true, 'the compare saw the write committed before it');
  } finally {
    cluster.heal();
  }
});
