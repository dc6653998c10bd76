// The `etcd3` npm client (over @grpc/grpc-js) against three real `coffer server` processes: its main
// operations — KV with prefixes and transactions (nested ones through its raw KV client), watches, leases, locks and elections — as a Node.js
// application would use them, unmodified, with Coffer's certificates.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { CompareResult, CompareTarget, Etcd3, EtcdLockFailedError, type IKeyValue } from 'etcd3';
import { Cluster } from '../../support/cluster/index.ts';
import { waitUntil } from '../../support/wait.ts';

let cluster: Cluster;
let client: Etcd3;

before(async () => {
  cluster = await Cluster.start({ size: 3, faults: false });
  client = new Etcd3({
    hosts: cluster.names.map((_, i) => cluster.clientUrl(i)),
    credentials: {
      rootCertificate: await readFile(cluster.certs.ca), certChain: await readFile(cluster.certs.clientCert), privateKey: await readFile(cluster.certs.clientKey),
    },
  });
});
after(async () => {
  client.close();
  await cluster.stop();
});

test('KV: put, get, prefix reads, delete and a transaction, as the client reports them', async () => {
  await client.put('app/a').value('1');
  await client.put('app/b').value('2');
  assert.equal(await client.get('app/a').string(), '1');
  assert.deepEqual(await client.getAll().prefix('app/').strings(), { 'app/a': '1', 'app/b': '2' });
  assert.equal(await client.getAll().prefix('app/').count(), 2);
  assert.deepEqual(await client.getAll().prefix('app/').sort('Key', 'Descend').keys(), ['app/b', 'app/a']);
  const swapped = await client.if('app/a', 'Value', '==', '1').then(client.put('app/a').value('one')).else(client.put('app/a').value('lost')).commit();
  assert.equal(swapped.succeeded, true);
  const missed = await client.if('app/a', 'Value', '==', '1').then(client.put('app/a').value('again')).commit();
  assert.equal(missed.succeeded, false);
  assert.equal(await client.get('app/a').string(), 'one');
  const deleted = await client.delete().prefix('app/').exec();
  assert.equal(deleted.deleted, '2');
  assert.equal(await client.get('app/a').string(), null);
});

test('a nested transaction through the client\'s raw KV service: request_txn in, response_txn out, one revision', async () => {
  const key = (k: string) => Buffer.from(k);
  await client.put('raw/flag').value('on');
  const answer = await client.kv.txn({
    compare: [{ key: key('raw/flag'), target: CompareTarget.Value, result: CompareResult.Equal, value: key('on') }],
    success: [
      { request_put: { key: key('raw/a'), value: key('1') } },
      {
        request_txn: {
          compare: [{ key: key('raw/a'), target: CompareTarget.Version, result: CompareResult.Greater, version: '0' }],
          success: [{ request_put: { key: key('raw/never'), value: key('x') } }],
          failure: [{ request_range: { key: key('raw/a') } }],
        },
      },
    ],
  });
  assert.equal(answer.succeeded, true);
  const inner = answer.responses[1]!.response_txn;
  assert.equal(inner.succeeded, false, 'the inner compare saw the state before the transaction');
  const read = inner.responses[0]!.response_range.kvs[0]!;
  assert.deepEqual([read.value.toString(), read.mod_revision], ['1', answer.header.revision]);
  assert.equal(await client.get('raw/never').string(), null);
});

test('watch: a prefix watcher sees each put and delete once, in order', async () => {
  const watcher = await client.watch().prefix('watched/').create();
  const seen: string[] = [];
  watcher.on('put', (kv: IKeyValue) => seen.push(`put ${kv.key.toString()}=${kv.value.toString()}`));
  watcher.on('delete', (kv: IKeyValue) => seen.push(`delete ${kv.key.toString()}`));
  try {
    await client.put('watched/x').value('1');
    await client.put('watched/x').value('2');
    await client.put('elsewhere').value('not watched');
    await client.delete().key('watched/x');
    await waitUntil(() => seen.length >= 3, 30_000, 'three events', { detail: () => seen.join(', ') });
    assert.deepEqual(seen, ['put watched/x=1', 'put watched/x=2', 'delete watched/x']);
  } finally {
    await watcher.cancel();
  }
});

test('leases: a put on a lease, a keep-alive, and the revoke taking the key with it', async () => {
  const lease = client.lease(60, { autoKeepAlive: false });
  await lease.put('leased/a').value('1');
  assert.equal(await client.get('leased/a').string(), '1');
  assert.equal((await lease.keepaliveOnce()).TTL, '60');
  await lease.revoke();
  assert.equal(await client.get('leased/a').string(), null);
});

test('lock: a second client cannot take a held lock, and takes it once released', async () => {
  const held = await client.lock('npm-lock').ttl(10).acquire();
  await assert.rejects(client.lock('npm-lock').ttl(10).acquire(), EtcdLockFailedError);
  await held.release();
  const next = await client.lock('npm-lock').ttl(10).acquire();
  await next.release();
});

test('election: one leader at a time; the second candidate leads once the first resigns', async () => {
  const election = client.election('npm-election', 10);
  const first = election.campaign('c1');
  await first.wait();
  assert.equal(await election.leader(), 'c1');
  const second = election.campaign('c2');
  let secondLeads = false;
  const elected = second.wait().then(() => { secondLeads = true; });
  await waitUntil(async () => (await client.getAll().prefix('election/npm-election/').count()) === 2, 30_000, 'the second candidate to campaign');
  assert.equal(secondLeads, false, 'the second waits while the first leads');
  await first.resign();
  await elected;
  assert.equal(await election.leader(), 'c2');
  await second.resign();
});
