// `coffer member …` and `coffer status` as users run them, against a real 3-member cluster; the last
// tests are `coffer status` when things go wrong: a member of another cluster among the endpoints, and
// two of three members killed (quorum lost). It always prints one row per member, names each problem on
// stderr and exits 1.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { KvClient } from '../../../src/client/index.ts';
import { Cluster, cofferBackend, delay, freePorts, MemberProcess, runCoffer } from '../../support/cluster/index.ts';

let cluster: Cluster;
const coffer = (...args: string[]) => runCoffer(cluster, ...args);

before(async () => {
  cluster = await Cluster.start({ size: 3, backend: 'coffer' });
  await cluster.waitReady();
  await cluster.waitPublished();
  // Ready (audit log open, first-start objects in place): a member reports nothing wrong with itself.
  for (const i of [0, 1, 2]) while ((await cluster.get(i, '/readyz')).status !== 200) await delay(50);
});

after(async () => {
  await cluster.stop();
});

test('member list names the three members and the leader', async () => {
  const { stdout, code } = await coffer('member', 'list');
  assert.equal(code, 0);
  for (const name of ['m1', 'm2', 'm3']) assert.match(stdout, new RegExp(`\\b${name}\\b`));
  assert.match(stdout, /voter \(leader\)/);
});

test('status -o json reports every member at one term with a common leader', async () => {
  const { stdout, code } = await coffer('-o', 'json', 'status');
  assert.equal(code, 0, stdout);
  const rows = JSON.parse(stdout) as Array<{ name?: string; leader?: string; term?: number; errors?: string[]; kekSource?: string; activeDek?: number; certificateNotAfter?: string }>;
  assert.equal(rows.length, 3);
  assert.deepEqual(rows.map((r) => r.name), ['m1', 'm2', 'm3']);
  assert.deepEqual(rows.map((r) => r.errors), [undefined, undefined, undefined]);
  for (const r of rows) {
    assert.equal(r.kekSource, 'keyFile');
    assert.equal(r.activeDek, 1);
    assert.ok(Date.parse(r.certificateNotAfter ?? '') > Date.now(), 'the member certificate expiry is reported');
  }
  assert.equal(new Set(rows.map((r) => r.leader)).size, 1, 'one leader seen by all');
});

test('member add prints how to start the new member; remove takes it out and its name is then unknown', async () => {
  const added = await coffer('member', 'add', 'm9', '--peer-url', 'https://127.0.0.1:1', '--learner');
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /added member m9 with id (\d+) as a learner; start it with:\n {2}coffer server --name m9 --join --member-id \1 --cluster-id \w+/);
  // The whole command: every flag `coffer server` requires, the files where `coffer ca issue --member m9` puts them.
  assert.doesNotMatch(added.stdout, /…/);
  const start = added.stdout.split('\n').filter((l) => l.startsWith('  ') && !l.trimStart().startsWith('#')).join('\n').replace(/ \\\n\s*/g, ' ');
  const members = join(dirname(cluster.certs.ca), 'members');
  for (const flags of ['--data-dir data/m9', '--listen-client https://', '--listen-peer https://127.0.0.1:1', `--initial-cluster m1=`, `m9=https://127.0.0.1:1`,
    `--cert ${join(members, 'm9.crt')} --key ${join(members, 'm9.key')} --cacert ${cluster.certs.ca} --crl ${cluster.certs.crl}`, `--unseal-key-file ${join(members, 'm9.unseal.key')}`]) {
    assert.ok(start.includes(flags), `${flags} in: ${start}`);
  }
  const removed = await coffer('member', 'remove', 'm9');
  assert.equal(removed.code, 0, removed.stderr);
  const again = await coffer('member', 'remove', 'm9');
  assert.notEqual(again.code, 0);
  assert.equal(again.stderr.trim().split('\n').length, 1, 'one line on stderr');
  assert.match(again.stderr, /no member named "m9"/);
});

test('with every member up, status prints a row per member, names no problem and exits 0', async () => {
  const { stdout, stderr, code } = await coffer('status');
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /problem/);
  for (const name of ['m1', 'm2', 'm3']) assert.match(stdout, new RegExp(`\\s${name}\\s`));
});

test('an endpoint that answers for another cluster is named as such, and status exits 1', async (t) => {
  // A one-member cluster on the same CA, as `npm start` beside `npm run cluster` makes one.
  const dir = await mkdtemp(join(tmpdir(), 'coffer-other-'));
  const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
  const spec = {
    index: 0, name: 'm1', dataDir: join(dir, 'data'), clientPort, peerPort, initialCluster: `m1=https://127.0.0.1:${peerPort}`,
    advertisedPeerUrl: `https://127.0.0.1:${peerPort}`, certs: cluster.certs, keyFile: join(dir, 'm1.key'),
  };
  await cofferBackend.prepare(spec);
  const other = new MemberProcess('other', join(dir, 'other.log'));
  other.start(cofferBackend.command(spec));
  t.after(async () => {
    await other.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const otherUrl = `https://127.0.0.1:${clientPort}`;
  const client = new KvClient({ endpoints: [otherUrl], tls: cluster.clientTls(), requestTimeoutMs: 1_000 });
  t.after(() => client.close());
  for (;;) {
    const leader = await client.status().then((s) => s.leader, () => '0');
    if (leader !== '0') break;
    assert.ok(other.running, 'the other member exited');
    await delay(50);
  }
  const endpoints = [0, 1, 2].map((i) => cluster.clientUrl(i)).concat(otherUrl).join(',');
  const { stdout, stderr, code } = await coffer('--endpoints', endpoints, 'status');
  assert.equal(code, 1, stderr);
  assert.match(stderr, new RegExp(`coffer: problem: ${otherUrl} answers for cluster \\w+, not \\w+ like the others: another cluster is running there`));
  assert.match(stdout, new RegExp(`${otherUrl}.*another cluster`));
});

test('with two of three members killed, status prints all three rows, says quorum is lost and exits 1', async () => {
  const survivor = 0;
  await cluster.kill(1);
  await cluster.kill(2);
  // The survivor steps down once it has not heard a majority for an election timeout.
  const client = cluster.client(survivor, { requestTimeoutMs: 1_000 });
  while ((await client.status()).leader !== '0') await delay(50);

  const { stdout, stderr, code } = await coffer('status');
  assert.equal(code, 1);
  const rows = stdout.trimEnd().split('\n').slice(1);
  assert.equal(rows.length, 3, stdout);
  for (const name of ['m2', 'm3']) {
    assert.match(stdout, new RegExp(`\\s${name}\\s.*(ECONNREFUSED|connect|unreachable)`, 'i'), `the row of ${name} carries its error`);
    assert.match(stderr, new RegExp(`coffer: problem: member ${name} \\(https://127\\.0\\.0\\.1:\\d+/?\\) does not answer`));
  }
  assert.match(stdout, /\sm1\s.*\snone\s/, 'the survivor knows no leader');
  assert.match(stderr, /coffer: problem: no leader: quorum lost — 1 of 3 voting members answer, 2 are needed/);
  assert.match(stderr.trimEnd().split('\n').at(-1)!, /^coffer: status found 3 problem\(s\)$/);

  const json = await coffer('-o', 'json', 'status');
  assert.equal(json.code, 1);
  const parsed = JSON.parse(json.stdout) as Array<{ name?: string; errors?: string[]; leader?: string }>;
  assert.deepEqual(parsed.map((r) => r.name).sort(), ['m1', 'm2', 'm3']);
  assert.equal(parsed.filter((r) => (r.errors ?? []).length > 0).length, 2);
});
