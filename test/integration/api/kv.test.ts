// The KV API through app.inject() over a real single-member replica (real WAL, store and keyring).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildClientApi } from '../../../src/api/index.ts';
import { txnNestingLevelsMax } from '../../../src/config/index.ts';
import { backendOf, InProcessCluster } from '../replication/harness.ts';

let cluster: InProcessCluster;
let app: FastifyInstance;
const admin = { user: 'admin', groups: ['system:masters'], kind: 'client' as const };
const viewer = { user: 'viewer', groups: ['viewers'], kind: 'client' as const };

before(async () => {
  cluster = await InProcessCluster.start(1);
  await cluster.leader();
  const replica = cluster.replica(1);
  const backend = backendOf(replica);
  app = buildClientApi({
    backend,
    identify: (request) => (request.headers['x-test-user'] === 'viewer' ? viewer : request.headers['x-test-user'] === 'none' ? undefined : admin),
  });
  await app.ready();
});

after(async () => {
  await app.close();
  await cluster.close();
});

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A txn body `levels` levels deep, a put at the bottom. */
function nestedTxnJson(levels: number): Record<string, unknown> {
  let body: Record<string, unknown> = { success: [{ request_put: { key: b64('deep'), value: b64('v') } }] };
  for (let level = 1; level < levels; level++) body = { success: [{ request_txn: body }] };
  return body;
}
async function post(url: string, body: unknown, user?: string) {
  const response = await app.inject({ method: 'POST', url, payload: typeof body === 'string' ? body : JSON.stringify(body), headers: user ? { 'x-test-user': user } : {} });
  return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
}

test('put then range returns the value with revisions as decimal strings', async () => {
  const put = await post('/v3/kv/put', { key: b64('alpha'), value: b64('one') });
  assert.equal(put.status, 200);
  const header = put.body.header as Record<string, string>;
  assert.match(header.revision ?? '', /^\d+$/);
  const range = await post('/v3/kv/range', { key: b64('alpha') });
  assert.equal(range.status, 200);
  assert.deepEqual(range.body.kvs, [{ key: b64('alpha'), value: b64('one'), create_revision: header.revision, mod_revision: header.revision, version: '1' }]);
  assert.equal(range.body.count, '1');
});

test('txn compare-and-set succeeds once, then fails on the changed value', async () => {
  await post('/v3/kv/put', { key: b64('reg'), value: b64('a') });
  const cas = (from: string, to: string) => post('/v3/kv/txn', {
    compare: [{ key: b64('reg'), target: 'VALUE', result: 'EQUAL', value: b64(from) }],
    success: [{ request_put: { key: b64('reg'), value: b64(to) } }],
    failure: [{ request_range: { key: b64('reg') } }],
  });
  const first = await cas('a', 'b');
  assert.equal(first.body.succeeded, true);
  const second = await cas('a', 'c');
  assert.equal(second.body.succeeded, undefined, 'succeeded: false is left out, as the gateway does');
  const responses = second.body.responses as Array<{ response_range: { kvs: Array<{ value: string }> } }>;
  assert.equal(responses[0]?.response_range.kvs[0]?.value, b64('b'));
});

test('a nested txn over the gateway: request_txn at every level, response_txn in the gateway\'s shape, one revision for all', async () => {
  await post('/v3/kv/put', { key: b64('nest/flag'), value: b64('on') });
  const nested = await post('/v3/kv/txn', {
    compare: [{ key: b64('nest/flag'), target: 'VALUE', result: 'EQUAL', value: b64('on') }],
    success: [
      { request_put: { key: b64('nest/a'), value: b64('1') } },
      {
        request_txn: {
          compare: [{ key: b64('nest/a'), target: 'VERSION', result: 'GREATER', version: '0' }],
          success: [{ request_put: { key: b64('nest/never'), value: b64('x') } }],
          failure: [{ request_range: { key: b64('nest/a') } }, { requestTxn: { success: [{ request_put: { key: b64('nest/b'), value: b64('2') } }] } }],
        },
      },
    ],
  });
  assert.equal(nested.status, 200, JSON.stringify(nested.body));
  const revision = (nested.body.header as Record<string, string>).revision;
  assert.deepEqual(nested.body, {
    header: nested.body.header, succeeded: true,
    responses: [
      { response_put: { header: {} } },
      {
        // The inner compare saw the state before the transaction (no nest/a yet), so its failure branch ran; its read sees the put before it.
        response_txn: {
          header: {},
          responses: [
            { response_range: { header: {}, kvs: [{ key: b64('nest/a'), value: b64('1'), create_revision: revision, mod_revision: revision, version: '1' }], count: '1' } },
            { response_txn: { header: {}, succeeded: true, responses: [{ response_put: { header: {} } }] } },
          ],
        },
      },
    ],
  });
  const written = await post('/v3/kv/range', { key: b64('nest/'), range_end: b64('nest0'), keys_only: true });
  const kvs = written.body.kvs as Array<{ key: string; mod_revision: string }>;
  assert.deepEqual(kvs.filter((kv) => kv.key !== b64('nest/flag')).map((kv) => [kv.key, kv.mod_revision]), [[b64('nest/a'), revision], [b64('nest/b'), revision]]);
});

test('deleterange reports what it deleted and a later range finds nothing', async () => {
  await post('/v3/kv/put', { key: b64('gone'), value: b64('x') });
  const deleted = await post('/v3/kv/deleterange', { key: b64('gone'), prev_kv: true });
  assert.equal(deleted.body.deleted, '1');
  const range = await post('/v3/kv/range', { key: b64('gone'), serializable: true });
  assert.equal(range.body.kvs, undefined);
});

test('a compacted revision is refused with the gateway error shape', async () => {
  const put = await post('/v3/kv/put', { key: b64('c'), value: b64('1') });
  const revision = Number((put.body.header as Record<string, string>).revision);
  await post('/v3/kv/put', { key: b64('c'), value: b64('2') });
  assert.equal((await post('/v3/kv/compaction', { revision: String(revision + 1) })).status, 200);
  const old = await post('/v3/kv/range', { key: b64('c'), revision: String(revision) });
  assert.equal(old.status, 400);
  assert.equal(old.body.code, 11);
  assert.match(String(old.body.error), /compacted/);
});

test('bad input gets a 400 naming the field and changes nothing', async () => {
  const before = await post('/v3/maintenance/status', {});
  for (const [url, body, field] of [
    ['/v3/kv/put', { value: b64('v') }, /^etcdserver: key is not provided$/],
    ['/v3/kv/put', { key: 'not base64!', value: b64('v') }, /key: must be base64/],
    ['/v3/kv/range', { key: b64('k'), limit: -1 }, /limit: must be a non-negative integer/],
    ['/v3/kv/txn', { success: [{ request_put: { key: b64('k') }, request_range: { key: b64('k') } }] }, /success\[0\]: must hold exactly one/],
    ['/v3/kv/txn', { failure: [{ request_txn: { success: [{ request_txn: { compare: [{ key: 'not base64!' }] } }] } }] },
      /failure\[0\]\.request_txn\.success\[0\]\.request_txn\.compare\[0\]\.key: must be base64/],
    ['/v3/kv/txn', { success: [{ request_put: { key: b64('k') } }, { request_txn: { failure: [{ request_put: { key: b64('k') } }] } }] }, /^duplicate key given in txn request/],
    ['/v3/kv/txn', nestedTxnJson(txnNestingLevelsMax + 1), /17 levels deep exceeds txnNestingLevelsMax \(16\)/],
    // Far deeper: refused at the same level, before the decoder recurses further.
    ['/v3/kv/txn', `${'{"success":[{"request_txn":'.repeat(4999)}{}${'}]}'.repeat(4999)}`, /17 levels deep exceeds txnNestingLevelsMax \(16\)/],
    ['/v3/kv/put', '{not json', /not valid JSON/],
  ] as const) {
    const response = await post(url, body);
    assert.equal(response.status, 400, `${url} ${JSON.stringify(body)}`);
    assert.match(String(response.body.error), field);
  }
  const afterStatus = await post('/v3/maintenance/status', {});
  assert.equal((afterStatus.body.header as Record<string, string>).revision, (before.body.header as Record<string, string>).revision);
});

test('reserved keys, callers without rights and callers without a certificate are refused', async () => {
  assert.equal((await post('/v3/kv/range', { key: Buffer.from('\0coffer/members/').toString('base64') })).status, 403);
  assert.equal((await post('/v3/kv/put', { key: b64('k'), value: b64('v') }, 'viewer')).status, 403);
  assert.equal((await post('/v3/kv/put', { key: b64('k'), value: b64('v') }, 'none')).status, 401);
  assert.equal((await post('/v3/nothing', {})).status, 404);
});

test('member list names the member', async () => {
  const list = await post('/v3/cluster/member/list', {});
  assert.deepEqual(list.body.members, [{ ID: '1', name: 'm1', peerURLs: ['mem://m1'], clientURLs: ['mem://m1/client'] }]);
});

test('health endpoints: live and ready with a leader that applied what it knows committed', async () => {
  for (const url of ['/livez', '/readyz', '/healthz']) {
    const response = await app.inject({ method: 'GET', url });
    assert.equal(response.statusCode, 200, url);
    assert.equal(response.body, 'ok');
  }
});

test('the gateway adds a member with or without a name and moves its peer URL; bad requests change nothing', async () => {
  const listed = async () => (await post('/v3/cluster/member/list', {})).body.members as { ID: string; name?: string; peerURLs: string[] }[];
  const initial = await listed();
  for (const [body, field] of [
    [{ peerURLs: ['http://127.0.0.1:7999'] }, 'is not an https URL'],
    [{ peerURLs: ['not a url'] }, 'is not an https URL'],
    [{ peerURLs: ['https://127.0.0.1:7999', 'https://127.0.0.1:7998'] }, 'exactly one URL'],
    [{ peerURLs: ['https://127.0.0.1:7999'], name: 5 }, 'must be a string'],
  ] as const) {
    const refused = await post('/v3/cluster/member/add', body);
    assert.equal(refused.status, 400, JSON.stringify(body));
    assert.match(String(refused.body.message), new RegExp(field));
  }
  assert.deepEqual(await listed(), initial, 'the refused adds changed nothing');

  const unnamed = await post('/v3/cluster/member/add', { peerURLs: ['https://127.0.0.1:7999'], isLearner: true });
  assert.equal(unnamed.status, 200, JSON.stringify(unnamed.body));
  const id = (unnamed.body.member as { ID: string }).ID;
  assert.deepEqual((await listed()).find((m) => m.ID === id), { ID: id, peerURLs: ['https://127.0.0.1:7999'], isLearner: true }, 'an unnamed slot');

  assert.equal((await post('/v3/cluster/member/update', { ID: id, peerURLs: ['http://127.0.0.1:7998'] })).status, 400);
  const unknown = await post('/v3/cluster/member/update', { ID: '999', peerURLs: ['https://127.0.0.1:7998'] });
  assert.deepEqual([unknown.status, unknown.body.message], [404, 'etcdserver: member not found']);
  const other = await post('/v3/cluster/member/add', { peerURLs: ['https://127.0.0.1:7997'], isLearner: true });
  const otherId = (other.body.member as { ID: string }).ID;
  const taken = await post('/v3/cluster/member/update', { ID: id, peerURLs: ['https://127.0.0.1:7997/'] });
  assert.deepEqual([taken.status, taken.body.message], [409, 'etcdserver: Peer URLs already exists'], 'another member\'s URL');
  assert.equal((await post('/v3/cluster/member/remove', { ID: otherId })).status, 200);
  const moved = await post('/v3/cluster/member/update', { ID: id, peerURLs: ['https://127.0.0.1:7998'] });
  assert.equal(moved.status, 200, JSON.stringify(moved.body));
  assert.deepEqual((await listed()).find((m) => m.ID === id)?.peerURLs, ['https://127.0.0.1:7998']);

  assert.equal((await post('/v3/cluster/member/remove', { ID: id })).status, 200);
  assert.deepEqual(await listed(), initial);
});

test('the gateway raises, lists and clears a NOSPACE alarm: while it stands writes that add data are 507 and deletes apply; defragment answers', async () => {
  const memberID = String(cluster.replica(1).status().memberId);
  await post('/v3/kv/put', { key: b64('alarm/kept'), value: b64('v') });
  const raised = await post('/v3/maintenance/alarm', { action: 'ACTIVATE', memberID, alarm: 'NOSPACE' });
  assert.deepEqual([raised.status, raised.body.alarms], [200, [{ memberID, alarm: 'NOSPACE' }]]);
  assert.deepEqual((await post('/v3/maintenance/alarm', {})).body.alarms, [{ memberID, alarm: 'NOSPACE' }], 'GET is the default action');
  const again = await post('/v3/maintenance/alarm', { action: 'ACTIVATE', memberID, alarm: 'NOSPACE' });
  assert.deepEqual(again.body.alarms, [], 'raising a standing alarm changes nothing, so it is not named');

  assert.deepEqual((await post('/v3/maintenance/status', {})).body.errors, [`memberID:${memberID} alarm:NOSPACE`], 'the member status names the alarm');
  const refused = await post('/v3/kv/put', { key: b64('alarm/new'), value: b64('v') });
  assert.deepEqual([refused.status, refused.body.message], [507, 'etcdserver: mvcc: database space exceeded']);
  assert.equal((await post('/v3/lease/grant', { TTL: '60' })).status, 507);
  assert.equal((await post('/v3/kv/deleterange', { key: b64('alarm/kept') })).body.deleted, '1', 'a delete applies');
  assert.equal((await post('/v3/maintenance/defragment', {})).status, 200);

  assert.equal((await post('/v3/maintenance/alarm', { action: 'ACTIVATE', memberID: '999', alarm: 'NOSPACE' })).status, 404, 'no such member');
  assert.equal((await post('/v3/maintenance/alarm', { action: 'ACTIVATE', memberID, alarm: 'CORRUPT' })).status, 400, 'Coffer raises no CORRUPT alarm');
  assert.equal((await post('/v3/maintenance/alarm', { action: 'ACTIVATE', memberID, alarm: 'NOSPACE' }, 'viewer')).status, 403);

  const cleared = await post('/v3/maintenance/alarm', { action: 'DEACTIVATE', memberID, alarm: 'NOSPACE' });
  assert.deepEqual(cleared.body.alarms, [{ memberID, alarm: 'NOSPACE' }]);
  assert.deepEqual((await post('/v3/maintenance/alarm', { action: 'GET' })).body.alarms, []);
  assert.equal((await post('/v3/maintenance/status', {})).body.errors, undefined, 'and no longer once cleared');
  assert.equal((await post('/v3/kv/put', { key: b64('alarm/new'), value: b64('v') })).status, 200, 'writes apply again');
});
