// `npm run cluster` as a user runs it, in a fresh checkout and a network of its own (the script's ports
// are fixed: 7443, 7444, 7453…): it refuses a taken port in one line naming the holder, reports each
// member ready without leaving audit records of its polling, and names a member that fails with its log.
// With it running, `coffer status` is shown an endpoint of another cluster and names it as a problem;
// run again while one member is down, it starts only that one (the README's member restart); over a
// data dir left by a run with other members, it names the dir instead of reporting a split cluster ready,
// or waiting for a leader that too few members cannot elect.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { copyCheckout, IsolatedShell, type Job, removeCheckout } from '../../support/sandbox/index.ts';

let dir: string;
let shell: IsolatedShell;
/** The cluster the script started, from the second test to the one that stops it. */
let cluster: Job;

before(async () => {
  dir = await copyCheckout({ nodeModules: 'link', prefix: 'coffer-cluster-script-' });
  shell = await IsolatedShell.open(dir, { ...process.env, HOME: dir });
});

after(async () => {
  await shell?.close();
  await removeCheckout(dir);
});

const startMs = 180_000;

/** Members still running in the session (it sees only its own processes). */
async function membersRunning(): Promise<string> {
  return (await shell.run('pgrep -af "coffer.ts server" || true', 10_000)).output.trim();
}

test('a taken port is refused in one line that names it and its holder, before anything starts', async () => {
  const holder = await shell.start(`node -e "require('net').createServer().listen(7454, '127.0.0.1', () => console.log('holding'))"`, /holding/, 30_000);
  const refused = await shell.run('npm run -s cluster -- --members 3', startMs);
  assert.equal(refused.code, 1);
  assert.match(refused.output, /^cluster: port 7454 \(m2's peer port\) is in use by pid \d+ \(node -e require\('net'\)\.createServer\(\)\.listen\(7454.*\); stop it first/m);
  assert.equal(refused.output.trim().split('\n').length, 1, refused.output);
  await assert.rejects(readdir(join(dir, 'certs', 'members')), { code: 'ENOENT' }, 'nothing was made');
  await shell.interrupt(holder, 30_000);
});

test('each member is reported ready once the first-start objects exist, and its polling leaves no audit record', async () => {
  cluster = await shell.start('npm run -s cluster -- --members 3', /cluster: ready/, startMs);
  const output = await readFile(cluster.logFile, 'utf8');
  for (const name of ['m1', 'm2', 'm3']) assert.match(output, new RegExp(`^cluster: ${name} ready on https://127\\.0\\.0\\.1:74[456]3$`, 'm'));
  // Each audit record is durable before its request is answered: what the polling left is on disk now.
  for (const name of ['m1', 'm2', 'm3']) {
    const auditDir = join(dir, 'data', name, 'audit');
    const files = await readdir(auditDir).catch(() => []);
    const events = (await Promise.all(files.map((f) => readFile(join(auditDir, f), 'utf8')))).join('');
    assert.doesNotMatch(events, /readyz|maintenance\/status/, `${name}'s audit log holds no readiness polling`);
  }
  // Ready means the first-start objects exist: the README's next command creates a Secret in default.
  const namespaces = await shell.run('node --import tsx src/server/coffer.ts --endpoints https://127.0.0.1:7453 namespace list', 60_000);
  assert.equal(namespaces.code, 0, namespaces.output);
  assert.match(namespaces.output, /^default\b/m);
});

test('coffer status names an endpoint that answers for another cluster as a problem', async () => {
  // A lone member with m1's certificate and a data dir of its own is a cluster of its own.
  const lone = await shell.start('node --import tsx src/server/coffer.ts server --name m1 --data-dir data/lone '
    + '--listen-client https://127.0.0.1:7500 --listen-peer https://127.0.0.1:7501 --cert certs/members/m1.crt --key certs/members/m1.key '
    + '--cacert certs/ca.crt --crl certs/crl.pem --unseal-key-file certs/members/m1.unseal.key', /serving clients/, startMs);
  const status = (endpoints: string) => shell.run(`node --import tsx src/server/coffer.ts --endpoints ${endpoints} status 2>&1 >/dev/null`, 60_000);
  try {
    const mixed = await status('https://127.0.0.1:7443,https://127.0.0.1:7453,https://127.0.0.1:7500');
    assert.equal(mixed.code, 1, mixed.output);
    assert.match(mixed.output, /^coffer: problem: https:\/\/127\.0\.0\.1:7500 answers for cluster \w+, not \w+ like the others: another cluster is running there \(check --endpoints\)$/m);
    const one = await status('https://127.0.0.1:7443,https://127.0.0.1:7453');
    assert.equal(one.code, 0, one.output);
    assert.equal(one.output, '', 'no problem for the endpoints of one cluster');
  } finally {
    assert.equal((await shell.interrupt(lone, 60_000)).code, 0);
  }
});

test('run again while a member is down, it starts only that member, which catches up; its Ctrl-C stops only that one', async () => {
  // As the README says: stop a member (kill its process) and the others keep serving…
  const pid = (await shell.run('pgrep -f "server --name m2 "', 10_000)).output.trim();
  assert.match(pid, /^\d+$/, 'm2 runs');
  assert.equal((await shell.run(`kill ${pid} && while kill -0 ${pid} 2>/dev/null; do sleep 0.1; done`, 60_000)).code, 0);
  const missed = await shell.run('node --import tsx src/server/coffer.ts secret create while-m2-was-down --from-literal k=missed', 60_000);
  assert.equal(missed.code, 0, missed.output);
  // …start the cluster again: the members running are this cluster's, so only m2 starts.
  const again = await shell.start('npm run -s cluster -- --members 3', /cluster: ready/, startMs);
  const output = await readFile(again.logFile, 'utf8');
  assert.match(output, /^cluster: already running with their data in \S+\/data\/: m1 \(pid \d+\), m3 \(pid \d+\); starting only m2$/m);
  assert.match(output, /^cluster: starting coffer members m2; /m);
  assert.match(output, /^cluster: m2 ready on https:\/\/127\.0\.0\.1:7453$/m);
  assert.doesNotMatch(output, /cluster: m[13] ready|in use by/);
  // m2 caught up: it answers a linearizable read of the write it missed.
  const read = await shell.run('node --import tsx src/server/coffer.ts --endpoints https://127.0.0.1:7453 secret get while-m2-was-down --reveal', 60_000);
  assert.equal(read.code, 0, read.output);
  assert.match(read.output, /missed/);
  // With every member up, a third run has nothing to start.
  const nothing = await shell.run('npm run -s cluster -- --members 3', startMs);
  assert.equal(nothing.code, 0, nothing.output);
  assert.match(nothing.output, /^cluster: every member is already running with its data in \S+\/data\/: m1 \(pid \d+\), m2 \(pid \d+\), m3 \(pid \d+\); nothing to start$/m);
  const stopped = await shell.interrupt(again, 60_000);
  assert.equal(stopped.code, 130, stopped.output);
  assert.match(stopped.output, /^cluster: SIGINT: stopping m2$/m);
  const left = await membersRunning();
  assert.match(left, /server --name m1 /);
  assert.match(left, /server --name m3 /);
  assert.doesNotMatch(left, /server --name m2 /);
});

test('Ctrl-C stops every member', async () => {
  const stopped = await shell.interrupt(cluster, 60_000);
  // npm reports Ctrl-C as 128 + SIGINT whatever its script did; the script's own line says it stopped its members.
  assert.equal(stopped.code, 130, stopped.output);
  assert.match(stopped.output, /^cluster: SIGINT: stopping m1, m2, m3$/m);
  assert.equal(await membersRunning(), '', 'no member left running');
});

test('a run with fewer members than the data dirs\' cluster needs for a leader says so at once instead of waiting', async () => {
  // data/ holds the three-member cluster of the tests above; one member of three cannot elect a leader.
  // The README's command, verbatim.
  const fewer = await shell.run('npm run cluster -- --members 1', startMs);
  assert.equal(fewer.code, 1, fewer.output);
  assert.match(fewer.output, /^cluster: \S+\/data\/m1 belongs to a cluster of 3 voters \(m1, m2, m3\), and this run starts 1 of them, too few to elect a leader without m2, m3: run with --members 3, or remove \S+\/data\/ \(its data is lost\) or pass --data <another dir>$/m);
  assert.doesNotMatch(fewer.output, /ready|not ready within/);
  assert.equal(await membersRunning(), '', 'no member left running');
});

test('a data dir left by a run with other members is named, and the members are stopped, though each was ready', async () => {
  // A one-member cluster first: m1's data dir is then a cluster of its own, which a later start keeps.
  const one = await shell.start('npm run -s cluster -- --members 1 --data data-split', /cluster: ready/, startMs);
  assert.equal((await shell.interrupt(one, 60_000)).code, 130);
  const split = await shell.run('npm run -s cluster -- --members 3 --data data-split', startMs);
  assert.equal(split.code, 1, split.output);
  assert.match(split.output, /^cluster: the members do not form one cluster \(m2, m3 for cluster \w+; m1 for cluster \w+\): \S+\/data-split\/m1 holds another cluster's data than m2, m3 \(left by a run with other members\?\); remove \S+\/data-split\/ \(its data is lost\) or pass --data <another dir>, and run again$/m);
  assert.doesNotMatch(split.output, /cluster: ready/);
  assert.equal(await membersRunning(), '', 'no member left running');
  // The member itself says so in its log, for whoever starts it without the script.
  const warnings = (await readFile(join(dir, 'data-split', 'logs', 'm1.log'), 'utf8')).split('\n').filter((line) => line.includes('--initial-cluster names other members'));
  assert.equal(warnings.length, 1, 'said once, at the start over the old data dir');
  assert.deepEqual(JSON.parse(warnings[0]!), { ...JSON.parse(warnings[0]!), initialCluster: ['m1', 'm2', 'm3'], members: ['m1'] });
});

test('a member that fails to start is named with the last lines of its log, and the others are stopped', async () => {
  // m2's data was sealed with its key: a new key cannot open it.
  assert.equal((await shell.run('rm certs/members/m2.unseal.key && head -c 32 /dev/urandom > certs/members/m2.unseal.key && chmod 600 certs/members/m2.unseal.key', 10_000)).code, 0);
  const failed = await shell.run('npm run -s cluster -- --members 3', startMs);
  assert.equal(failed.code, 1, failed.output);
  assert.match(failed.output, /^cluster: member m2 failed \(1\); last lines of .*m2\.log:$/m);
  assert.match(failed.output, /cannot unseal/);
  assert.doesNotMatch(failed.output, /cluster: ready/);
  assert.equal(await membersRunning(), '', 'no member left running');
});
