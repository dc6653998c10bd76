// `coffer audit query|verify` as users run them, against a real two-member cluster (real processes,
// mutual TLS, members asking each other with their member certificates), and the offline
// `coffer audit verify --data-dir` on a stopped member's data dir.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Cluster, runCoffer } from '../../support/cluster/index.ts';

let cluster: Cluster;
const coffer = (...args: string[]) => runCoffer(cluster, ...args);

before(async () => {
  cluster = await Cluster.start({ size: 2, backend: 'coffer' });
  await cluster.waitReady();
  await cluster.waitPublished();
});
after(async () => { await cluster.stop(); });

const auditFile = (member: string) => join(cluster.dir, 'data', member, 'audit', 'audit-1.log');

/** Changes one character of the first event line; returns that line's seq. */
async function editFirstEvent(file: string): Promise<number> {
  const lines = (await readFile(file, 'utf8')).split('\n');
  const at = lines.findIndex((l) => l.includes('"kind":"Event"'));
  assert.ok(at >= 0, `${file} has an event`);
  lines[at] = lines[at]!.replace('"verb":"', '"verb":"x');
  await writeFile(file, lines.join('\n'));
  return (JSON.parse(lines[at]) as { seq: number }).seq;
}

interface ListOutput {
  kind: string;
  items: Array<{ verb: string; annotations: Record<string, string> }>;
  members: Array<{ name: string; error?: string }>;
}

test('audit query shows the events of both members (table and -o json)', async () => {
  // keys status asks each member itself, and each records the request.
  const keys = await coffer('keys', 'status');
  assert.equal(keys.code, 0, keys.stderr);
  for (let i = 0; i < 3; i++) assert.equal((await coffer('namespace', 'list')).code, 0);

  const table = await coffer('audit', 'query', '--limit', '5');
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^TIME\s+MEMBER\s+USER\s+VERB\s+RESOURCE\s+NAMESPACE\s+NAME\s+DECISION\s+CODE/);
  assert.equal(table.stdout.trim().split('\n').length, 6, 'a header and five events');

  const listed = await coffer('-o', 'json', 'audit', 'query', '--verb', 'list', '--resource', 'keys', '--user', 'admin', '--decision', 'allow', '--since', '1h');
  assert.equal(listed.code, 0, listed.stderr);
  const body = JSON.parse(listed.stdout) as ListOutput;
  assert.equal(body.kind, 'AuditEventList');
  assert.deepEqual(body.members.map((m) => [m.name, m.error]), [['m1', undefined], ['m2', undefined]]);
  assert.ok(body.items.length > 0 && body.items.every((e) => e.verb === 'list'));
  const members = new Set(body.items.map((e) => e.annotations['coffer.dev/member']));
  assert.deepEqual([...members].sort(), ['m1', 'm2'], 'keys status asked both members, each recorded it');
});

test('audit verify exits 0 on untouched logs and 1 naming the member, file and seq of an edited line', async () => {
  const clean = await coffer('audit', 'verify');
  assert.equal(clean.code, 0, clean.stdout + clean.stderr);
  assert.match(clean.stdout, /^m1: ok — \d+ events/m);
  assert.match(clean.stdout, /^m2: ok — \d+ events/m);

  const seq = await editFirstEvent(auditFile('m2'));
  const broken = await coffer('audit', 'verify');
  assert.equal(broken.code, 1);
  assert.match(broken.stdout, /^m1: ok/m);
  assert.match(broken.stdout, new RegExp(`^m2: BROKEN at file audit-1\\.log, seq ${seq}: `, 'm'));
  assert.equal(broken.stderr.trim().split('\n').length, 1, 'one line on stderr');
});

test('offline audit verify --data-dir opens the stopped member\'s key and store; passes, then fails on a cut tail and on an edit', async () => {
  await cluster.members[0]!.stop(); // SIGTERM: a clean stop, so the store is closed and its lock released
  const offline = ['audit', 'verify', '--data-dir', join(cluster.dir, 'data', 'm1'), '--unseal-key-file', join(cluster.dir, 'keys', 'm1.key')];
  const clean = await coffer(...offline);
  assert.equal(clean.code, 0, clean.stdout + clean.stderr);
  assert.match(clean.stdout, /^m1: ok — \d+ events, \d+ checkpoints/);
  assert.match(clean.stdout, /\[[1-9]\d* replicated checkpoint\(s\) checked\]/, 'the final checkpoint reached the store before the member stopped');

  // Dropping the final checkpoint line is a cut tail only the replicated checkpoints can show.
  const original = await readFile(auditFile('m1'), 'utf8');
  const lines = original.split('\n').filter((l) => l !== '');
  assert.match(lines.at(-1) ?? '', /"kind":"Checkpoint"/);
  await writeFile(auditFile('m1'), lines.slice(0, -1).join('\n') + '\n');
  const cut = await coffer(...offline);
  assert.equal(cut.code, 1, cut.stdout);
  assert.match(cut.stdout, /^m1: BROKEN at file audit-1\.log, seq \d+: .*checkpoint/);
  await writeFile(auditFile('m1'), original);

  const seq = await editFirstEvent(auditFile('m1'));
  const broken = await coffer(...offline);
  assert.equal(broken.code, 1);
  assert.match(broken.stdout, new RegExp(`^m1: BROKEN at file audit-1\\.log, seq ${seq}: `));

  const wrongKey = await coffer('audit', 'verify', '--data-dir', join(cluster.dir, 'data', 'm1'), '--unseal-key-file', join(cluster.dir, 'keys', 'm2.key'));
  assert.notEqual(wrongKey.code, 0, 'another member\'s key does not unseal it');
});
