/**
 * The KV client against a real etcd 3.4 (Debian's etcd-server) with mutual TLS: the JSON gateway
 * shapes this client assumes are etcd's own, so Coffer (which implements the same shapes) and etcd
 * can be driven — and benchmarked — through one client.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientError, type KvClient, text } from '../../../src/client/index.ts';
import { Cluster } from '../../support/cluster/index.ts';

describe('KvClient against etcd 3.4 (1 member, TLS)', () => {
  let cluster: Cluster;
  let kv: KvClient;

  before(async () => {
    cluster = await Cluster.start({ size: 1, backend: 'etcd' });
    kv = cluster.client(0);
  });

  after(() => cluster.stop());

  test('put returns the new revision and prev_kv; get reads value, versions and revisions', async () => {
    const first = await kv.put('c/a', 'one');
    const second = await kv.put('c/a', 'two', { prevKv: true });
    assert.equal(second.header.revision, first.header.revision + 1);
    assert.equal(text(second.prevKv?.value ?? new Uint8Array()), 'one');
    const got = await kv.get('c/a');
    assert.equal(text(got?.value ?? new Uint8Array()), 'two');
    assert.equal(got?.version, 2);
    assert.equal(got?.createRevision, first.header.revision);
    assert.equal(got?.modRevision, second.header.revision);
    assert.equal(await kv.get('c/none'), undefined);
  });

  test('binary keys and values round-trip byte for byte', async () => {
    const key = new Uint8Array([0x63, 0x2f, 0x00, 0xff, 0x80]);
    const value = new Uint8Array(256).map((_, i) => i);
    await kv.put(key, value);
    assert.deepEqual((await kv.get(key))?.value, value);
  });

  test('range by prefix with limit, count_only, keys_only and a past revision', async () => {
    const start = (await kv.put('r/1', 'a')).header.revision;
    await kv.put('r/2', 'b');
    await kv.put('r/3', 'c');
    const limited = await kv.range('r/', { prefix: true, limit: 2 });
    assert.deepEqual(limited.kvs.map((k) => text(k.key)), ['r/1', 'r/2']);
    assert.equal(limited.count, 3);
    assert.equal(limited.more, true);
    assert.equal((await kv.range('r/', { prefix: true, countOnly: true })).kvs.length, 0);
    assert.equal((await kv.range('r/', { prefix: true, countOnly: true })).count, 3);
    const keysOnly = await kv.range('r/', { prefix: true, keysOnly: true });
    assert.deepEqual(keysOnly.kvs.map((k) => k.value.length), [0, 0, 0]);
    const past = await kv.range('r/', { prefix: true, revision: start, serializable: true });
    assert.deepEqual(past.kvs.map((k) => text(k.key)), ['r/1']);
  });

  test('deleteRange by prefix reports the count and the previous entries', async () => {
    await kv.put('d/1', 'x');
    await kv.put('d/2', 'y');
    const result = await kv.deleteRange('d/', { prefix: true, prevKv: true });
    assert.equal(result.deleted, 2);
    assert.deepEqual(result.prevKvs.map((k) => text(k.value)), ['x', 'y']);
    assert.equal((await kv.range('d/', { prefix: true })).count, 0);
  });

  test('txn: compare-and-set on value, version, mod and create revision takes the right branch', async () => {
    const created = await kv.txn({
      compare: [{ key: 't/k', target: 'VERSION', result: 'EQUAL', version: 0 }],
      success: [{ put: { key: 't/k', value: 'v1' } }],
    });
    assert.equal(created.succeeded, true);
    const rev = created.header.revision;
    const stale = await kv.txn({
      compare: [{ key: 't/k', target: 'VALUE', result: 'EQUAL', value: 'v0' }],
      success: [{ put: { key: 't/k', value: 'bad' } }],
      failure: [{ range: { key: 't/k' } }],
    });
    assert.equal(stale.succeeded, false);
    const read = stale.responses[0];
    assert.ok(read?.type === 'range');
    assert.equal(text(read.kvs[0]?.value ?? new Uint8Array()), 'v1');
    const cas = await kv.txn({
      compare: [
        { key: 't/k', target: 'MOD', result: 'EQUAL', modRevision: rev },
        { key: 't/k', target: 'CREATE', result: 'EQUAL', createRevision: rev },
        { key: 't/k', target: 'VERSION', result: 'LESS', version: 2 },
      ],
      success: [{ put: { key: 't/k', value: 'v2' } }, { deleteRange: { key: 't/other' } }],
    });
    assert.equal(cas.succeeded, true);
    assert.deepEqual(cas.responses.map((r) => r.type), ['put', 'deleteRange']);
    assert.equal(text((await kv.get('t/k'))?.value ?? new Uint8Array()), 'v2');
  });

  test('compaction: reading below the compacted revision is REJECTED with gRPC OutOfRange (11)', async () => {
    const old = (await kv.put('k/c', '1')).header.revision;
    const now = (await kv.put('k/c', '2')).header.revision;
    await kv.compact(now);
    let error: unknown;
    try {
      await kv.range('k/c', { revision: old });
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof ClientError);
    assert.deepEqual([error.code, error.status, error.grpcCode, error.indeterminate], ['REJECTED', 400, 11, false]);
  });

  test('status and member list agree on the member id, and name the leader', async () => {
    const status = await kv.status();
    const members = await kv.memberList();
    assert.equal(members.members.length, 1);
    assert.equal(members.members[0]?.id, status.header.memberId);
    assert.equal(status.leader, status.header.memberId);
    assert.equal(members.members[0]?.name, 'm1');
    assert.ok(status.raftIndex > 0 && status.raftAppliedIndex > 0 && status.dbSize > 0);
    assert.match(status.version, /^3\.4\./);
  });
});
