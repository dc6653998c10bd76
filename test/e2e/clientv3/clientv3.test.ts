// etcd's Go client (clientv3 3.4, built in GOPATH mode against Debian's golang-etcd-server-dev) against
// three real `coffer server` processes over gRPC: software transactional memory (concurrency.NewSTM)
// conserving a total under concurrent transfers; a watch that keeps delivering — in order, without a gap
// or a repeat, equal to a replay of the same history — while every member is restarted under it in turn;
// concurrency.Mutex keeping two contenders' read-then-write increments exact across a leader kill; and
// concurrency.Election handing office from one session to the next; nested transactions (clientv3.OpTxn)
// choosing each level's branch, at one revision, a duplicate key refused with etcd's error; compares over
// a key range (Cmp.WithPrefix) holding only when every key in it does; progress requests
// (Watcher.RequestProgress) reaching every watch of the stream behind its events; every condition etcd's
// clients know by its error (rpctypes: a permission refusal, an empty key, a compacted revision, …) answered
// with that error, and a watch from a compacted revision told the revision compacted to. The program (program/main.go)
// checks each scenario itself; this test drives the kills and restarts.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { caLayout, issueClient, loadCa } from '../../../src/pki/index.ts';
import { Cluster } from '../../support/cluster/index.ts';
import { waitUntil } from '../../support/wait.ts';

/** Debian's packaged Go sources, etcd 3.4's clientv3 among them (GOPATH mode: no module download). */
const gopath = '/usr/share/gocode';
const programDir = join(import.meta.dirname, 'program');
let cluster: Cluster;
let program: string;
/** A client certificate of a user no binding grants anything beyond the defaults. */
let nobody: { cert: string; key: string };

before(async () => {
  assert.ok(existsSync('/usr/bin/go'), 'go is installed (Debian: apt-get install golang-go)');
  assert.ok(existsSync(join(gopath, 'src/go.etcd.io/etcd/clientv3')), 'clientv3 is installed (Debian: apt-get install golang-etcd-server-dev)');
  cluster = await Cluster.start({ size: 3, faults: false });
  program = join(cluster.dir, 'clientv3-program');
  await issueClient(await loadCa(cluster.certs.dir), { user: 'nobody', groups: [] });
  const layout = caLayout(cluster.certs.dir);
  nobody = { cert: layout.clientCert('nobody'), key: layout.clientKey('nobody') };
  await promisify(execFile)('go', ['build', '-o', program, 'main.go'], { cwd: programDir, env: { ...process.env, GO111MODULE: 'off', GOPATH: gopath } });
});
after(async () => { await cluster.stop(); });

/** Runs one scenario of the program; `lines` fills with its stdout as it comes. */
function start(scenario: string) {
  const args = [`-endpoints=${cluster.names.map((_, i) => cluster.clientUrl(i)).join(',')}`, `-cacert=${cluster.certs.ca}`,
    `-cert=${cluster.certs.clientCert}`, `-key=${cluster.certs.clientKey}`, `-other-cert=${nobody.cert}`, `-other-key=${nobody.key}`, scenario];
  const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr })));
  return { child, lines, exited };
}

/** Runs `scenario` to its end: it must exit 0 having printed exactly `lines`. */
async function runsTo(scenario: string, lines: string[]): Promise<void> {
  const run = start(scenario);
  const outcome = await run.exited;
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.deepEqual(run.lines, lines);
}

/** The number of writes the program last reported. */
function progress(lines: string[]): number {
  const reports = lines.filter((l) => l.startsWith('progress '));
  return reports.length === 0 ? 0 : Number(reports[reports.length - 1]!.slice('progress '.length));
}

test('STM transactions from concurrent clients commit serializably: the total is conserved', async () => {
  await runsTo('stm', ['ok stm transfers=32 total=500']);
});

test('a watch resumes across the restart of every member in turn: no gap, no repeat, equal to a replay', { timeout: 10 * 60_000 }, async () => {
  const run = start('watch-resume');
  await waitUntil(() => run.lines.includes('watching'), 60_000, 'the program watching');
  for (let member = 0; member < cluster.names.length; member++) {
    await cluster.kill(member);
    await cluster.restart(member);
    // Writes continue through each restart: wait for the program to report more before the next member goes.
    const written = progress(run.lines);
    await waitUntil(() => progress(run.lines) > written, 120_000, `writes after member ${member} restarted`, { detail: () => run.lines.slice(-3).join(' | ') });
  }
  run.child.stdin.end('done\n');
  const outcome = await run.exited;
  assert.equal(outcome.code, 0, outcome.stderr);
  const result = /^ok watch-resume writes=(\d+) events=(\d+)$/.exec(run.lines[run.lines.length - 1] ?? '');
  assert.ok(result, run.lines.slice(-3).join(' | '));
  assert.ok(Number(result[2]) >= Number(result[1]) && progress(run.lines) > 0);
});

test('concurrency.Mutex over sessions (leases kept alive): two contenders\' increments stay exact across a leader kill', { timeout: 10 * 60_000 }, async () => {
  const run = start('lock');
  await waitUntil(() => run.lines.includes('progress'), 120_000, 'the contenders under way', { detail: () => run.lines.join(' | ') });
  const leader = await cluster.leader();
  await cluster.kill(leader);
  await cluster.restart(leader);
  const outcome = await run.exited;
  assert.equal(outcome.code, 0, outcome.stderr);
  assert.deepEqual(run.lines, ['progress', 'ok lock increments=24']);
});

test('concurrency.Election: the first candidate leads and proclaims, resigns, and the second takes office; an observer sees each', async () => {
  await runsTo('elect', ['ok elect leaders=first,second']);
});

test('nested transactions (clientv3.OpTxn): each level\'s branch as its compares choose, one revision, a key written twice refused', async () => {
  await runsTo('nested', ['ok nested paths=true,false,true revision=one duplicate=refused']);
});

test('compares over a key range (Cmp.WithPrefix): every key must satisfy it; over no key, as a missing key', async () => {
  await runsTo('range-compare', ['ok range-compare every=true,false none=true,false']);
});

test('progress requests (Watcher.RequestProgress), many at once: every watch of the stream is notified, behind its events', async () => {
  await runsTo('progress', ['ok progress notified=every-watch after=events']);
});

test('every condition etcd\'s clients know by its error is answered with it (rpctypes), as etcd words it; a lease ID no member can hold is unknown', async () => {
  await runsTo('etcd-errors', ['ok etcd-errors cases=14']);
});

test('a watch from a compacted revision is created, then canceled with the revision compacted to (WatchResponse.CompactRevision)', async () => {
  await runsTo('compacted-watch', ['ok compacted-watch compact_revision=the-compacted-revision']);
});
