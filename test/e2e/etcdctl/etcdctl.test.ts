// The real etcdctl 3.4 against three real `coffer server` processes over gRPC on their client ports
// (the same ports and certificates kubectl and curl use over HTTP/1.1): put/get/del with their flags,
// txn from stdin, watch (prev-kv, from a revision, a compacted start), member list, endpoint
// status/health/hashkv --cluster, compaction, defrag, alarm list; a member past its quota raising NOSPACE
// (writes that add data refused by every member, then compaction, defrag and alarm disarm); leases (grant, put --lease,
// timetolive --keys, list, keep-alive through any member, revoke seen by a watcher, expiry), lock and
// elect with two contenders (the second waits for the first to release or for its lease to end, across
// a leader kill too); and the refusals, each as etcd's clients expect them: auth (RBAC instead),
// a snapshot without a backup recipient, Coffer's keyspace, a certificate
// without rights and one limited to a key prefix by a kvkeys rule — every call audited; and the one
// port choosing HTTP/2 only for clients that offer nothing else.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { connect as connectHttp2 } from 'node:http2';
import { connect as connectTls } from 'node:tls';
import { grpcStreamsPerConnectionMax } from '../../../src/config/index.ts';
import { caLayout, issueClient, loadCa } from '../../../src/pki/index.ts';
import { Cluster, runCoffer } from '../../support/cluster/index.ts';
import { waitUntil } from '../../support/wait.ts';

const etcdctlPath = ['/usr/bin/etcdctl', '/usr/local/bin/etcdctl'].find((p) => existsSync(p));
let cluster: Cluster;
let bob: { cert: string; key: string };

interface Run { code: number; stdout: string; stderr: string }

/** etcdctl with every member as an endpoint (or only member `only`), as the admin unless `as` names another certificate; of `on` if given, else the file's cluster. */
function etcdctl(args: string[], options: { input?: string; as?: { cert: string; key: string }; timeoutMs?: number; only?: number; on?: Cluster } = {}): Promise<Run> {
  const of = options.on ?? cluster;
  const who = options.as ?? { cert: of.certs.clientCert, key: of.certs.clientKey };
  const endpoints = options.only !== undefined ? of.clientUrl(options.only) : of.names.map((_, i) => of.clientUrl(i)).join(',');
  return new Promise((resolve) => {
    const child = execFile(etcdctlPath!, [`--endpoints=${endpoints}`, `--cacert=${of.certs.ca}`, `--cert=${who.cert}`, `--key=${who.key}`, ...args],
      { timeout: options.timeoutMs ?? 30_000, env: { ...process.env, ETCDCTL_API: '3' } }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      });
    child.stdin?.end(options.input ?? '');
  });
}

async function ok(args: string[], options: { input?: string; only?: number; on?: Cluster } = {}): Promise<string> {
  const run = await etcdctl(args, options);
  assert.equal(run.code, 0, `etcdctl ${args.join(' ')}: ${run.stderr}`);
  return run.stdout;
}

/** A long-running etcdctl (watch, lock, elect) with every member as an endpoint; `output` grows as it prints. */
interface Running { child: ChildProcess; output: () => string; exited: Promise<void> }

function spawnEtcdctl(args: string[], endpoints = cluster.names.map((_, i) => cluster.clientUrl(i)).join(',')): Running {
  const child = spawn(etcdctlPath!, [`--endpoints=${endpoints}`, `--cacert=${cluster.certs.ca}`, `--cert=${cluster.certs.clientCert}`, `--key=${cluster.certs.clientKey}`, ...args]);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const exited = once(child, 'exit').then(() => undefined);
  return { child, output: () => output, exited };
}

/** The revision the next write will have: a watch from it sees every write the test makes after this call, however late it starts. */
async function nextRevision(): Promise<number> {
  return (JSON.parse(await ok(['get', 'no-such-key', '-w', 'json'])) as { header: { revision: number } }).header.revision + 1;
}

/** Starts `etcdctl watch …` and collects its output until `done` says it has what it waits for. */
async function watchUntil(args: string[], trigger: () => Promise<void>, done: (output: string) => boolean): Promise<string> {
  const watch = spawnEtcdctl(['watch', ...args]);
  let exited = false;
  void watch.exited.then(() => { exited = true; });
  await trigger();
  try {
    await waitUntil(() => done(watch.output()) || exited, 30_000, 'the watch to print what it waits for', { detail: watch.output, pollMs: 20 });
    if (!done(watch.output())) throw new Error(`etcdctl watch exited: ${watch.output()}`);
    return watch.output();
  } finally {
    watch.child.kill();
  }
}

/** The id of `etcdctl lease grant`, in the hex etcdctl prints and takes. */
async function grantLease(ttl: number): Promise<string> {
  const granted = /^lease ([0-9a-f]+) granted with TTL\((\d+)s\)$/.exec((await ok(['lease', 'grant', String(ttl)])).trim());
  assert.ok(granted, 'etcdctl printed the granted lease');
  assert.equal(Number(granted[2]), ttl);
  return granted[1]!;
}

/** Keys under `prefix`, in key order. */
async function keysUnder(prefix: string): Promise<string[]> {
  return (await ok(['get', prefix, '--prefix', '--keys-only'])).split('\n').filter((l) => l !== '');
}

before(async () => {
  assert.ok(etcdctlPath, 'etcdctl is installed (Debian: apt-get install etcd-client)');
  cluster = await Cluster.start({ size: 3, faults: false });
  await issueClient(await loadCa(cluster.certs.dir), { user: 'bob', groups: ['devs'] });
  const layout = caLayout(cluster.certs.dir);
  bob = { cert: layout.clientCert('bob'), key: layout.clientKey('bob') };
});
after(async () => { await cluster.stop(); });

test('put, get and del with their flags, as etcd answers them', async () => {
  assert.equal((await ok(['put', 'app/a', '1'])).trim(), 'OK');
  await ok(['put', 'app/b', '22']);
  await ok(['put', 'app/c', '333']);
  assert.equal((await ok(['put', 'app/b', '--ignore-value'])).trim(), 'OK');
  const missing = await etcdctl(['put', 'app/none', '--ignore-value']);
  assert.match(missing.stderr, /code = InvalidArgument desc = etcdserver: key not found/, 'ignore_value of a missing key is etcd\'s ErrKeyNotFound');
  assert.deepEqual((await ok(['put', 'app/a', 'one', '--prev-kv'])).trim().split('\n'), ['OK', 'app/a', '1']);
  assert.deepEqual((await ok(['get', 'app/', '--prefix'])).trim().split('\n'), ['app/a', 'one', 'app/b', '22', 'app/c', '333']);
  assert.deepEqual((await ok(['get', 'app/', '--prefix', '--keys-only'])).trim().split('\n').filter((l) => l !== ''), ['app/a', 'app/b', 'app/c']);
  assert.deepEqual((await ok(['get', 'app/', '--prefix', '--limit=2', '--print-value-only'])).trim().split('\n'), ['one', '22']);
  assert.deepEqual((await ok(['get', 'app/', '--prefix', '--sort-by=VALUE', '--order=DESCEND', '--print-value-only'])).trim().split('\n'), ['one', '333', '22']);
  assert.deepEqual((await ok(['get', 'app/', '--prefix', '--sort-by=MODIFY', '--order=DESCEND', '--keys-only'])).trim().split('\n').filter((l) => l !== '')[0], 'app/a');
  const limited = JSON.parse(await ok(['get', 'app/', '--prefix', '--limit=1', '-w', 'json'])) as { count: number; more?: boolean; kvs: unknown[] };
  assert.deepEqual([limited.count, limited.more, limited.kvs.length], [3, true, 1], 'count counts every key in range, more says the limit cut');
  const json = JSON.parse(await ok(['get', 'app/a', '-w', 'json'])) as { header: { revision: number }; kvs: { key: string; value: string; version: number; create_revision: number; mod_revision: number }[] };
  const kv = json.kvs[0]!;
  assert.deepEqual([Buffer.from(kv.key, 'base64').toString(), Buffer.from(kv.value, 'base64').toString(), kv.version], ['app/a', 'one', 2]);
  const kept = JSON.parse(await ok(['get', 'app/b', '-w', 'json'])) as typeof json;
  assert.deepEqual([Buffer.from(kept.kvs[0]!.value, 'base64').toString(), kept.kvs[0]!.version], ['22', 2], 'put --ignore-value wrote a new version with the value kept');
  assert.equal((await ok(['get', 'app/a', `--rev=${kv.create_revision}`, '--print-value-only'])).trim(), '1', 'a read at an old revision');
  assert.deepEqual((await ok(['get', 'app/b', '--from-key', '--keys-only'])).trim().split('\n').filter((l) => l !== '' && l.startsWith('app/')), ['app/b', 'app/c']);
  assert.deepEqual((await ok(['del', 'app/', '--prefix', '--prev-kv'])).trim().split('\n'), ['3', 'app/a', 'one', 'app/b', '22', 'app/c', '333']);
  assert.equal((await ok(['get', 'app/', '--prefix'])).trim(), '');
});

test('NOSPACE: past its quota a member raises the alarm, every member refuses writes that add data, and compaction, defrag and disarm bring writes back', async () => {
  const small = await Cluster.start({ size: 3, faults: false, memberArgs: ['--quota-backend-bytes', '1Mi'] });
  try {
    const on = { on: small };
    const big = 'x'.repeat(400 * 1024);
    for (const i of [1, 2, 3]) await ok(['put', `big/${i}`], { ...on, input: big });
    await waitUntil(async () => /alarm:NOSPACE/.test(await ok(['alarm', 'list'], on)), 30_000, 'a member to raise its NOSPACE alarm');
    assert.match(await ok(['alarm', 'list'], on), /^memberID:\d+ alarm:NOSPACE *$/m);
    for (const only of [0, 1, 2]) {
      for (const args of [['put', 'k', 'v'], ['lease', 'grant', '60'], ['txn']]) {
        const input = args[0] === 'txn' ? '\n\nput k v\n\n' : '';
        const refused = await etcdctl(args, { ...on, only, input });
        assert.match(refused.stderr, /code = ResourceExhausted desc = etcdserver: mvcc: database space exceeded/, `${args.join(' ')} through m${only + 1}`);
      }
    }
    const configMap = await small.post(1, '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'nospace' }, data: { a: 'b' } });
    assert.equal(configMap.status, 507, configMap.body);
    assert.match(configMap.body, /database space exceeded/, 'the Kubernetes API refuses a new object too');
    assert.equal((await ok(['get', 'k'], on)).trim(), '', 'no refused write changed anything');
    assert.equal((await ok(['del', 'big/', '--prefix'], on)).trim(), '3', 'a delete still applies');
    const revision = (JSON.parse(await ok(['get', 'k', '-w', 'json'], on)) as { header: { revision: number } }).header.revision;
    await ok(['compaction', String(revision), '--physical'], on);
    assert.match(await ok(['defrag'], on), /Finished defragmenting etcd member/);
    // What the quota counts, on every member: below it now, so the alarm, once disarmed, stays down.
    const statuses = JSON.parse(await ok(['endpoint', 'status', '-w', 'json'], on)) as { Endpoint: string; Status: { dbSizeInUse: number } }[];
    assert.equal(statuses.length, 3);
    for (const { Endpoint, Status } of statuses) assert.ok(Status.dbSizeInUse < 1024 * 1024, `${Endpoint} holds ${Status.dbSizeInUse} bytes after the compaction`);
    assert.match(await ok(['alarm', 'disarm'], on), /^memberID:\d+ alarm:NOSPACE *$/m);
    assert.equal((await ok(['alarm', 'list'], on)).trim(), '');
    assert.equal((await ok(['put', 'k', 'v'], on)).trim(), 'OK', 'writes apply again once the alarm is disarmed');
  } finally {
    await small.stop();
  }
});

test('txn from stdin: the compare decides the branch, at one revision', async () => {
  await ok(['put', 'tx/flag', 'on']);
  const script = 'value("tx/flag") = "on"\n\nput tx/result yes\nget tx/flag\n\nput tx/result no\n\n';
  const out = await ok(['txn'], { input: script });
  assert.deepEqual(out.trim().split('\n'), ['SUCCESS', '', 'OK', '', 'tx/flag', 'on']);
  assert.equal((await ok(['get', 'tx/result', '--print-value-only'])).trim(), 'yes');
  const failed = await ok(['txn'], { input: 'value("tx/flag") = "off"\n\nput tx/result yes\n\nput tx/result no\n\n' });
  assert.match(failed, /^FAILURE/);
  assert.equal((await ok(['get', 'tx/result', '--print-value-only'])).trim(), 'no');
  // One that writes nothing is served by the member asked, as a read (never proposed), through each member.
  for (let member = 0; member < cluster.names.length; member++) {
    const read = await ok(['txn'], { input: 'value("tx/flag") = "on"\n\nget tx/result\n\nget tx/flag\n\n', only: member });
    assert.deepEqual(read.trim().split('\n'), ['SUCCESS', '', 'tx/result', 'no'], `through member ${member}`);
  }
});

test('watch: events with their previous values, and a replay from a revision', async () => {
  const seen = await watchUntil(['w/', '--prefix', '--prev-kv', `--rev=${await nextRevision()}`], async () => {
    await ok(['put', 'w/k', 'first']);
    await ok(['put', 'w/k', 'second']);
    await ok(['del', 'w/k']);
  }, (out) => out.trim().split('\n').length >= 12);
  assert.deepEqual(seen.trim().split('\n'), ['PUT', 'w/k', 'first', 'PUT', 'w/k', 'first', 'w/k', 'second', 'DELETE', 'w/k', 'second', 'w/k']);
  const from = JSON.parse(await ok(['put', 'w/replay', 'r1', '-w', 'json'])) as { header: { revision: number } };
  await ok(['put', 'w/replay', 'r2']);
  const replayed = await watchUntil(['w/replay', `--rev=${from.header.revision}`], () => Promise.resolve(), (out) => out.trim().split('\n').length >= 6);
  assert.deepEqual(replayed.trim().split('\n'), ['PUT', 'w/replay', 'r1', 'PUT', 'w/replay', 'r2']);
});

test('compaction, then a read or watch of the compacted past is etcd\'s ErrCompacted', async () => {
  const first = JSON.parse(await ok(['put', 'cmp/k', 'v1', '-w', 'json'])) as { header: { revision: number } };
  const second = JSON.parse(await ok(['put', 'cmp/k', 'v2', '-w', 'json'])) as { header: { revision: number } };
  assert.equal((await ok(['compaction', String(second.header.revision)])).trim(), `compacted revision ${second.header.revision}`);
  const old = await etcdctl(['get', 'cmp/k', `--rev=${first.header.revision}`]);
  assert.notEqual(old.code, 0);
  assert.match(old.stderr, /etcdserver: mvcc: required revision has been compacted/);
  const watched = await etcdctl(['watch', 'cmp/k', `--rev=${first.header.revision}`], { timeoutMs: 10_000 });
  assert.match(watched.stdout + watched.stderr, /watch was canceled \(etcdserver: mvcc: required revision has been compacted\)/);
});

test('the cluster through etcd\'s tools: member list, endpoint status/health/hashkv --cluster, defrag, alarm list', async () => {
  type Members = { members: { name: string; peerURLs?: string[]; clientURLs?: string[] }[] };
  // Each member publishes its URLs through Raft once it runs (as etcd members do): --cluster needs them all.
  let members: Members;
  do members = JSON.parse(await ok(['member', 'list', '-w', 'json'])) as Members;
  while (members.members.some((m) => (m.clientURLs ?? []).length === 0));
  assert.deepEqual(members.members.map((m) => m.name).sort(), ['m1', 'm2', 'm3']);
  const statusText = await ok(['endpoint', 'status', '--cluster', '-w', 'json']);
  const statuses = JSON.parse(statusText) as { Status: { leader: number; raftTerm: number; header: { member_id: number } } }[];
  assert.equal(statuses.length, 3, statusText);
  const leaders = new Set(statuses.map((s) => String(s.Status.leader)));
  assert.equal(leaders.size, 1, 'every member names the same leader');
  assert.ok(statuses.some((s) => String(s.Status.header.member_id) === [...leaders][0]), 'the leader is one of them');
  const health = await etcdctl(['endpoint', 'health', '--cluster']);
  const healthy = `${health.stdout}${health.stderr}`.split('\n').filter((l) => /is healthy/.test(l));
  assert.equal(healthy.length, 3, `${health.stdout}${health.stderr}`);
  // Every member has applied what the leader committed before it answers a linearizable read; hashes then agree.
  await ok(['put', 'hash/k', 'v'], { only: 0 });
  for (let i = 0; i < 3; i++) await ok(['get', 'hash/k'], { only: i });
  const hashes = (await ok(['endpoint', 'hashkv', '--cluster'])).trim().split('\n').map((l) => l.split(', ')[1]);
  assert.equal(hashes.length, 3);
  assert.equal(new Set(hashes).size, 1, `equal HashKV on every member: ${hashes.join(' ')}`);
  assert.match(await ok(['defrag', '--cluster']), /Finished defragmenting etcd member/);
  assert.equal((await ok(['alarm', 'list'])).trim(), '');
});

test('what Coffer refuses, refused as etcd clients expect: auth, a snapshot from a member without a backup recipient', async () => {
  const auth = await etcdctl(['auth', 'enable']);
  assert.notEqual(auth.code, 0);
  assert.match(auth.stderr, /code = FailedPrecondition desc = Coffer does not use etcd users, roles or passwords/);
  const snapshot = await etcdctl(['snapshot', 'save', `${cluster.dir}/etcdctl.snapshot`], { only: 0 });
  assert.match(snapshot.stderr, /code = FailedPrecondition desc = Snapshot is served only as a backup sealed to a backup key, and this member has none: coffer snapshot keygen FILE, then start members with --backup-recipient FILE.pub/);
  assert.equal(existsSync(`${cluster.dir}/etcdctl.snapshot`), false, 'nothing was written');
});

test('leases: grant, put --lease, timetolive --keys, list, keep-alive through every member, revoke seen by a watcher', async () => {
  const id = await grantLease(60);
  await ok(['put', 'ls/a', '1', `--lease=${id}`]);
  await ok(['put', 'ls/b', '2', `--lease=${id}`]);
  const ttl = (await ok(['lease', 'timetolive', id, '--keys'])).trim();
  const shown = new RegExp(`^lease ${id} granted with TTL\\(60s\\), remaining\\((\\d+)s\\), attached keys\\(\\[ls/a ls/b\\]\\)$`).exec(ttl);
  assert.ok(shown, ttl);
  assert.ok(Number(shown[1]) > 50 && Number(shown[1]) <= 60, ttl);
  const list = (await ok(['lease', 'list'])).trim().split('\n');
  assert.match(list[0]!, /^found \d+ leases$/);
  assert.ok(list.includes(id), list.join(' '));
  // Each member takes a keep-alive: a follower's reaches the leader as a proposal.
  for (let i = 0; i < 3; i++) assert.equal((await ok(['lease', 'keep-alive', '--once', id], { only: i })).trim(), `lease ${id} keepalived with TTL(60)`);
  const seen = await watchUntil(['ls/', '--prefix', `--rev=${await nextRevision()}`], async () => {
    assert.equal((await ok(['lease', 'revoke', id])).trim(), `lease ${id} revoked`);
  }, (out) => out.split('\n').filter((l) => l !== '').length >= 4);
  assert.deepEqual(seen.split('\n').filter((l) => l !== ''), ['DELETE', 'ls/a', 'DELETE', 'ls/b'], 'one delete per attached key (the values are empty)');
  assert.deepEqual(await keysUnder('ls/'), []);
  assert.equal((await ok(['lease', 'timetolive', id])).trim(), `lease ${id} already expired`);
  const revokedAgain = await etcdctl(['lease', 'revoke', id]);
  assert.match(revokedAgain.stderr, /etcdserver: requested lease not found/);
  const leased = await etcdctl(['put', 'l/k', 'v', '--lease=123456789']);
  assert.match(leased.stderr, /etcdserver: requested lease not found/);
  const keptGone = await etcdctl(['lease', 'keep-alive', '--once', id]);
  assert.notEqual(keptGone.code, 0);
  assert.match(keptGone.stderr, /requested lease not found/);
});

test('a lease that is not kept alive expires and deletes its key', async () => {
  const id = await grantLease(2);
  await ok(['put', 'exp/k', 'v', `--lease=${id}`]);
  assert.deepEqual(await keysUnder('exp/'), ['exp/k']);
  await waitUntil(async () => (await keysUnder('exp/')).length === 0, 15_000, 'the lease to expire');
  assert.equal((await ok(['lease', 'timetolive', id])).trim(), `lease ${id} already expired`);
});

/** `etcdctl lock NAME`, holding the lock from when it prints its key until it is stopped; the key it printed. */
async function lockHeld(lock: Running): Promise<string> {
  return waitUntil(() => /^(e2e-lock\/[0-9a-f]+)$/m.exec(lock.output())?.[1], 30_000, 'etcdctl lock to hold the lock', { detail: lock.output, pollMs: 20 });
}

test('lock: the second contender waits until the first releases it, or until the first one\'s lease ends', async () => {
  const first = spawnEtcdctl(['lock', 'e2e-lock', '--ttl=3']);
  const firstKey = await lockHeld(first);
  const second = spawnEtcdctl(['lock', 'e2e-lock', '--ttl=3']);
  // The second contender's key is queued behind the first one's: it waits, and has printed nothing.
  await waitUntil(async () => (await keysUnder('e2e-lock/')).length === 2, 30_000, 'the second contender to queue');
  assert.equal(second.output(), '', 'the second contender does not hold the lock while the first does');
  first.child.kill('SIGINT');
  const secondKey = await lockHeld(second);
  assert.notEqual(secondKey, firstKey);
  assert.deepEqual(await keysUnder('e2e-lock/'), [secondKey], 'the first released its lock before the second got it');
  await first.exited;
  // A contender that dies without releasing: the next one waits for its lease to end.
  const third = spawnEtcdctl(['lock', 'e2e-lock', '--ttl=3']);
  await waitUntil(async () => (await keysUnder('e2e-lock/')).length === 2, 30_000, 'the third contender to queue');
  second.child.kill('SIGKILL');
  await second.exited;
  assert.equal(third.output(), '');
  const thirdKey = await lockHeld(third);
  assert.deepEqual(await keysUnder('e2e-lock/'), [thirdKey], 'the killed holder\'s key went with its lease');
  third.child.kill('SIGINT');
  await third.exited;
});

test('elect: the second candidate becomes leader only when the first resigns', async () => {
  const proclaimed = (candidate: Running, value: string) =>
    waitUntil(() => new RegExp(`^e2e-elect/[0-9a-f]+\\n${value}$`, 'm').test(candidate.output()), 30_000, `${value} to be elected`, { detail: candidate.output, pollMs: 20 });
  const first = spawnEtcdctl(['elect', 'e2e-elect', 'p1']);
  await proclaimed(first, 'p1');
  const observer = spawnEtcdctl(['elect', '-l', 'e2e-elect']);
  await waitUntil(() => /^p1$/m.test(observer.output()), 30_000, 'the observer to see p1', { detail: observer.output, pollMs: 20 });
  const second = spawnEtcdctl(['elect', 'e2e-elect', 'p2']);
  await waitUntil(async () => (await keysUnder('e2e-elect/')).length === 2, 30_000, 'the second candidate to campaign');
  assert.equal(second.output(), '', 'one leader at a time');
  first.child.kill('SIGINT');
  await proclaimed(second, 'p2');
  await waitUntil(() => /^p2$/m.test(observer.output()), 30_000, 'the observer to see p2', { detail: observer.output, pollMs: 20 });
  for (const candidate of [second, observer]) candidate.child.kill('SIGINT');
  await Promise.all([first.exited, second.exited, observer.exited]);
});

test('lock across a leader kill: the holder keeps the lock, the waiter gets it only after the holder releases', async () => {
  const first = spawnEtcdctl(['lock', 'e2e-lock-kill', '--ttl=10']);
  const firstKey = await waitUntil(() => /^(e2e-lock-kill\/[0-9a-f]+)$/m.exec(first.output())?.[1], 30_000, 'the first to hold the lock', { detail: first.output });
  const second = spawnEtcdctl(['lock', 'e2e-lock-kill', '--ttl=10']);
  await waitUntil(async () => (await keysUnder('e2e-lock-kill/')).length === 2, 30_000, 'the second contender to queue');
  const leader = await cluster.leader();
  await cluster.kill(leader);
  await cluster.leader();
  // The holder's session keeps its lease alive through the new leader: its remaining TTL rises again.
  const survivor = (leader + 1) % 3;
  const holderLease = firstKey.slice('e2e-lock-kill/'.length);
  const remaining = async () => Number(/remaining\((-?\d+)s\)/.exec(await ok(['lease', 'timetolive', holderLease], { only: survivor }))?.[1] ?? -1);
  let lowest = await remaining();
  await waitUntil(async () => {
    const now = await remaining();
    lowest = Math.min(lowest, now);
    return now > lowest;
  }, 30_000, 'a keep-alive of the holder to reach the new leader');
  const keys = await keysUnder('e2e-lock-kill/');
  assert.equal(keys.length, 2);
  assert.ok(keys.includes(firstKey), 'the holder\'s key outlived the leader change');
  assert.equal(second.output().match(/^e2e-lock-kill\//m), null, 'the waiter does not hold the lock while the holder lives');
  first.child.kill('SIGINT');
  await first.exited;
  await waitUntil(() => /^e2e-lock-kill\//m.test(second.output()), 30_000, 'the waiter to get the lock', { detail: second.output });
  assert.equal((await keysUnder('e2e-lock-kill/')).includes(firstKey), false);
  second.child.kill('SIGINT');
  await second.exited;
  await cluster.restart(leader);
});

test('Coffer\'s keyspace and a certificate without rights are refused, and every call is audited', async () => {
  // (`get "" --from-key`, etcd's "all keys", leaves them out instead: all-keys.test.ts.)
  const reserved = await etcdctl(['txn'], { input: '\nget "\\x00coffer/" "\\x00coffer0"\n\n\n' });
  // etcd's exact words, as clientv3 matches them (why — the reserved keys, bob's rules — is in the audit record).
  assert.match(reserved.stderr, /code = PermissionDenied desc = etcdserver: permission denied/);
  const denied = await etcdctl(['put', 'bob/k', 'v'], { as: bob });
  assert.match(denied.stderr, /code = PermissionDenied desc = etcdserver: permission denied/);
  const deniedWatch = await etcdctl(['watch', 'bob/k'], { as: bob, timeoutMs: 10_000 });
  assert.match(deniedWatch.stderr, /watch was canceled \(etcdserver: permission denied\)/);
  assert.equal((await ok(['get', 'bob/k'])).trim(), '', 'the refused put changed nothing');
  const events = await runCoffer(cluster, '-o', 'json', 'audit', 'query', '--user', 'bob');
  assert.equal(events.code, 0, events.stderr);
  const paths = (JSON.parse(events.stdout) as { items: { requestURI: string }[] }).items.map((e) => e.requestURI);
  assert.ok(paths.includes('/etcdserverpb.KV/Put'), `bob's refused put is in the audit log: ${paths.join(' ')}`);
  assert.ok(paths.includes('/etcdserverpb.Watch/Watch'), 'and his refused watch');
});

test('key prefixes are RBAC rules: the README\'s kvkeys role gives etcdctl its prefix and nothing past it', async () => {
  const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
  const role = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).find((text) => text.includes('kvkeys'));
  assert.ok(role !== undefined);
  const file = `${cluster.dir}/app-config-keys.yaml`;
  await writeFile(file, `${role}---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: carol-app-config-keys}\n`
    + 'subjects: [{kind: User, name: carol, apiGroup: rbac.authorization.k8s.io}]\n'
    + 'roleRef: {kind: ClusterRole, name: app-config-keys, apiGroup: rbac.authorization.k8s.io}\n');
  const applied = await runCoffer(cluster, 'policy', 'apply', '-f', file);
  assert.equal(applied.code, 0, applied.stderr);
  await issueClient(await loadCa(cluster.certs.dir), { user: 'carol', groups: [] });
  const layout = caLayout(cluster.certs.dir);
  const carol = { cert: layout.clientCert('carol'), key: layout.clientKey('carol') };
  await ok(['put', 'app/secret-elsewhere', 'x']);
  // Every member reads the new policy from its own store once the write reaches it.
  for (let member = 0; member < cluster.names.length; member++) {
    await waitUntil(async () => (await etcdctl(['put', 'app/config/db', 'v'], { as: carol, only: member })).code === 0, 30_000, `carol's put on member ${member}`);
  }
  assert.deepEqual((await etcdctl(['get', 'app/config/', '--prefix'], { as: carol })).stdout.trim().split('\n'), ['app/config/db', 'v']);
  for (const args of [['get', 'app/', '--prefix'], ['get', 'app/config/', '--from-key'], ['get', 'app/secret-elsewhere'], ['put', 'app/other', 'v'], ['del', 'app/', '--prefix']]) {
    const refused = await etcdctl(args, { as: carol });
    assert.match(refused.stderr, /code = PermissionDenied desc = etcdserver: permission denied/, `etcdctl ${args.join(' ')}`);
  }
  assert.equal((await ok(['get', 'app/secret-elsewhere', '--print-value-only'])).trim(), 'x', 'the refused delete changed nothing');
});

test('one port, two protocols: HTTP/2 only for clients that offer nothing else, with the stream limit announced', async () => {
  const tls = { ca: await readFile(cluster.certs.ca), cert: await readFile(cluster.certs.clientCert), key: await readFile(cluster.certs.clientKey) };
  const { hostname, port } = new URL(cluster.clientUrl(0));
  const negotiated = async (ALPNProtocols: string[]) => {
    const socket = connectTls({ host: hostname, port: Number(port), ...tls, ALPNProtocols });
    await once(socket, 'secureConnect');
    const protocol = socket.alpnProtocol;
    socket.destroy();
    return protocol;
  };
  assert.equal(await negotiated(['h2']), 'h2');
  assert.equal(await negotiated(['h2', 'http/1.1']), 'http/1.1', 'kubectl and curl offer both: they get HTTP/1.1');
  assert.equal(await negotiated(['http/1.1']), 'http/1.1');
  const session = connectHttp2(cluster.clientUrl(0), { ...tls, ALPNProtocols: ['h2'] });
  try {
    await once(session, 'remoteSettings');
    assert.equal(session.remoteSettings.maxConcurrentStreams, grpcStreamsPerConnectionMax);
  } finally {
    session.close();
  }
});
