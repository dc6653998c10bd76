// etcd's "all keys" through the real etcdctl 3.4 against three real `coffer server` processes: `get ""
// --prefix`, `get "" --from-key`, `watch --prefix ''` and `del "" --prefix` (key [0x00], range_end
// [0x00]) work, with Coffer's own keys (those starting with a zero byte: the member table, the audit
// HMAC key and checkpoints) absent from every answer and every watch event — the replay of the whole
// history, and a member's audit checkpoint written while the watch runs — and left in place by the
// delete. For a user granted every key by a kvkeys rule the same ranges still stop at /registry/
// (system:masters only), and a range starting at [0x00] and ending before /registry/ works for him
// (etcdctl's txn and interactive watch read "\x00" as a zero byte). A range entirely inside Coffer's
// keys stays refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { caLayout, issueClient, loadCa } from '../../../src/pki/index.ts';
import { Cluster, runCoffer } from '../../support/cluster/index.ts';
import { waitUntil } from '../../support/wait.ts';

const etcdctlPath = ['/usr/bin/etcdctl', '/usr/local/bin/etcdctl'].find((p) => existsSync(p));
let cluster: Cluster;
let dave: { cert: string; key: string };

interface Run { code: number; stdout: string; stderr: string }
interface Who { cert: string; key: string }

function flags(who: Who | undefined, only?: number): string[] {
  const as = who ?? { cert: cluster.certs.clientCert, key: cluster.certs.clientKey };
  const endpoints = only !== undefined ? cluster.clientUrl(only) : cluster.names.map((_, i) => cluster.clientUrl(i)).join(',');
  return [`--endpoints=${endpoints}`, `--cacert=${cluster.certs.ca}`, `--cert=${as.cert}`, `--key=${as.key}`];
}

function etcdctl(args: string[], options: { input?: string; as?: Who; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(etcdctlPath!, [...flags(options.as), ...args], { timeout: options.timeoutMs ?? 30_000, env: { ...process.env, ETCDCTL_API: '3' } },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
    child.stdin?.end(options.input ?? '');
  });
}

async function ok(args: string[], options: { input?: string; as?: Who } = {}): Promise<string> {
  const run = await etcdctl(args, options);
  assert.equal(run.code, 0, `etcdctl ${args.join(' ')}: ${run.stderr}`);
  return run.stdout;
}

interface JsonKv { key: string; value?: string }
const text = (base64: string) => Buffer.from(base64, 'base64').toString('latin1');

/** The keys of `etcdctl get … -w json`, and its count. */
async function getJson(args: string[], as?: Who): Promise<{ keys: string[]; count: number; revision: number }> {
  const out = JSON.parse(await ok(['get', ...args, '-w', 'json'], { ...(as ? { as } : {}) })) as { kvs?: JsonKv[]; count?: number; header: { revision: number } };
  return { keys: (out.kvs ?? []).map((kv) => text(kv.key)), count: out.count ?? 0, revision: out.header.revision };
}

/** A running `etcdctl watch … -w json` through member `only`; `keys()` are the event keys printed so far. */
interface Watching { child: ChildProcess; keys: () => string[]; output: () => string }

function watchJson(args: string[], options: { as?: Who; only: number; input?: string }): Watching {
  const child = spawn(etcdctlPath!, [...flags(options.as, options.only), 'watch', ...args, '-w', 'json'], { env: { ...process.env, ETCDCTL_API: '3' } });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString('latin1'); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString('latin1'); });
  if (options.input !== undefined) child.stdin.write(options.input);
  const keys = () => output.split('\n').filter((line) => line.startsWith('{')).flatMap((line) => {
    const response = JSON.parse(line) as { Events?: { kv: JsonKv }[] | null };
    return (response.Events ?? []).map((e) => text(e.kv.key));
  });
  return { child, keys, output: () => output };
}

async function stopWatch(watch: Watching): Promise<void> {
  if (watch.child.exitCode !== null || watch.child.signalCode !== null) return;
  const exited = once(watch.child, 'exit');
  watch.child.kill();
  await exited;
}

const own = (key: string) => key.startsWith('\u0000');
/** etcdctl's words for the refusal: an RPC error, or a watch canceled with its reason — etcd's exact words (why is in coffer-detail and the audit record). */
const registryRefusal = /(code = PermissionDenied desc = |watch was canceled \()etcdserver: permission denied/;

before(async () => {
  assert.ok(etcdctlPath, 'etcdctl is installed (Debian: apt-get install etcd-client)');
  cluster = await Cluster.start({ size: 3, faults: false });
  await issueClient(await loadCa(cluster.certs.dir), { user: 'dave', groups: [] });
  const layout = caLayout(cluster.certs.dir);
  dave = { cert: layout.clientCert('dave'), key: layout.clientKey('dave') };
  const file = `${cluster.dir}/every-key.yaml`;
  await writeFile(file, [
    'apiVersion: rbac.authorization.k8s.io/v1', 'kind: ClusterRole', 'metadata: {name: every-key}', 'rules:',
    '- nonResourceURLs: ["/v3/*", "/etcdserverpb.*"]', '  verbs: ["post"]',
    '- apiGroups: ["coffer.dev"]', '  resources: ["kvkeys"]', '  verbs: ["get", "list", "watch", "update", "delete"]',
    '---', 'apiVersion: rbac.authorization.k8s.io/v1', 'kind: ClusterRoleBinding', 'metadata: {name: dave-every-key}',
    'subjects: [{kind: User, name: dave, apiGroup: rbac.authorization.k8s.io}]', 'roleRef: {kind: ClusterRole, name: every-key, apiGroup: rbac.authorization.k8s.io}', '',
  ].join('\n'));
  const applied = await runCoffer(cluster, 'policy', 'apply', '-f', file);
  assert.equal(applied.code, 0, applied.stderr);
  for (let member = 0; member < cluster.names.length; member++) {
    await waitUntil(async () => (await etcdctl(['put', '/app/dave', 'd'], { as: dave })).code === 0, 30_000, `dave's put through member ${member}`);
  }
});
after(async () => { await cluster?.stop(); });

test('the admin reads and watches every key with etcd\'s idiom, without ever seeing Coffer\'s own', async () => {
  await ok(['put', 'a/1', 'one']);
  await ok(['put', 'b/2', 'two']);
  const prefix = await getJson(['', '--prefix']);
  assert.ok(['/app/dave', 'a/1', 'b/2'].every((k) => prefix.keys.includes(k)), `get "" --prefix: ${prefix.keys.join(' ')}`);
  assert.ok(prefix.keys.some((k) => k.startsWith('/registry/')), 'the admin sees the Kubernetes objects too');
  assert.deepEqual(prefix.keys.filter(own), [], 'no key of Coffer\'s own');
  assert.equal(prefix.count, prefix.keys.length, 'count counts the keys shown, not Coffer\'s');
  const fromKey = await getJson(['', '--from-key']);
  assert.deepEqual(fromKey.keys, prefix.keys, 'get "" --from-key is the same range');
  const keysOnly = (await ok(['get', '', '--prefix', '--keys-only'])).split('\n').filter((l) => l !== '');
  assert.deepEqual(keysOnly, prefix.keys);
  const limited = await getJson(['', '--prefix', '--limit=1']);
  assert.deepEqual([limited.keys, limited.count], [[prefix.keys[0]], prefix.keys.length]);
  assert.deepEqual((await getJson(['', '--prefix', '--sort-by=KEY', '--order=DESCEND'])).keys, [...prefix.keys].reverse());

  // Coffer's own keys themselves stay refused: a range entirely inside them, or one of them.
  for (const line of ['get "\\x00" "\\x01"', 'get "\\x00coffer/members/" "\\x00coffer/members0"', 'get "\\x00coffer/audit/hmac-key"']) {
    const refused = await etcdctl(['txn'], { input: `\n${line}\n\n\n` });
    assert.match(refused.stderr, /code = PermissionDenied desc = etcdserver: permission denied/, line);
  }

  // The whole history replayed, then live: the member written records (member table, the audit HMAC
  // key, audit checkpoints) are in it, and none reaches the watcher. Stopping a member writes its
  // final audit checkpoint while the watch runs (through another member).
  const watch = watchJson(['--prefix', '', '--rev=1'], { only: 0 });
  try {
    await waitUntil(() => watch.keys().includes('b/2'), 30_000, 'the replay to reach b/2', { detail: watch.output });
    const before = (await getJson(['no-such-key'])).revision;
    await cluster.stopMember(2);
    await cluster.restart(2);
    await ok(['put', 'c/3', 'three']);
    const after = (await getJson(['no-such-key'])).revision;
    assert.ok(after > before + 1, `Coffer wrote its own keys meanwhile (revision ${before} → ${after} for one put)`);
    await waitUntil(() => watch.keys().includes('c/3'), 30_000, 'the watch to see c/3', { detail: watch.output });
    assert.deepEqual(watch.keys().filter(own), [], 'no event of Coffer\'s own keys');
    assert.ok(['/app/dave', 'a/1', 'b/2', 'c/3'].every((k) => watch.keys().includes(k)), watch.keys().join(' '));
  } finally {
    await stopWatch(watch);
  }
});

test('a user granted every key gets the same ranges, still stopped at /registry/ as any range is', async () => {
  for (const args of [['get', '', '--prefix'], ['get', '', '--from-key'], ['del', '', '--prefix'], ['watch', '--prefix', '']]) {
    const refused = await etcdctl(args, { as: dave, timeoutMs: 10_000 });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stdout + refused.stderr, registryRefusal, `etcdctl ${args.join(' ')}`);
    assert.doesNotMatch(refused.stdout + refused.stderr, /zero byte/, `etcdctl ${args.join(' ')}`);
  }
  const recorded = await runCoffer(cluster, '-o', 'json', 'audit', 'query', '--user', 'dave');
  assert.match(recorded.stdout, /keys under \/registry\/ hold the Kubernetes API's objects/, 'the audit records say why');
  await ok(['put', '/app/second', '2'], { as: dave });
  // [0x00, "/registry/"): Coffer's keys cut off, his keys below /registry/ left.
  const read = await ok(['txn', '-w', 'json'], { as: dave, input: '\nget "\\x00" "/registry/"\n\n\n' });
  const response = JSON.parse(read) as { responses: { Response: { ResponseRange: { kvs?: JsonKv[]; count?: number } } }[] };
  const range = response.responses[0]!.Response.ResponseRange;
  assert.deepEqual((range.kvs ?? []).map((kv) => text(kv.key)), ['/app/dave', '/app/second']);
  assert.equal(range.count, 2);

  const watch = watchJson(['-i'], { as: dave, only: 1, input: `watch --rev=1 "\\x00" "/registry/"\n` });
  try {
    await waitUntil(() => watch.keys().includes('/app/second'), 30_000, 'dave\'s watch to replay /app/second', { detail: watch.output });
    await cluster.stopMember(0);
    await cluster.restart(0);
    await ok(['put', '/app/third', '3'], { as: dave });
    await waitUntil(() => watch.keys().includes('/app/third'), 30_000, 'dave\'s watch to see /app/third', { detail: watch.output });
    assert.deepEqual(watch.keys().filter(own), [], 'no event of Coffer\'s own keys');
  } finally {
    await stopWatch(watch);
  }
  const deleted = await ok(['txn'], { as: dave, input: '\ndel "\\x00" "/registry/"\n\n\n' });
  assert.deepEqual(deleted.trim().split('\n'), ['SUCCESS', '', '3'], 'his three keys, none of Coffer\'s');
  assert.deepEqual((await getJson(['/app/', '--prefix'])).keys, []);
});

test('the admin deletes every key with etcd\'s idiom, and Coffer\'s own keys stay', async () => {
  // A member restarted above makes its first-start objects (namespaces, default policies) again if they are
  // missing; once every member is serving, none is still about to.
  await cluster.waitServing();
  const all = await getJson(['', '--prefix']);
  assert.ok(all.count > 0);
  const deleted = JSON.parse(await ok(['del', '', '--prefix', '--prev-kv', '-w', 'json'])) as { deleted?: number; prev_kvs?: JsonKv[] };
  const gone = (deleted.prev_kvs ?? []).map((kv) => text(kv.key));
  assert.deepEqual(gone.filter(own), [], 'none of Coffer\'s own keys was deleted');
  assert.deepEqual([deleted.deleted, gone], [all.count, all.keys], 'del deleted the keys get showed');
  assert.equal((await getJson(['', '--from-key'])).count, 0);
  // The member table and the audit HMAC key are still there: members list and restart, requests are audited.
  assert.equal((await ok(['member', 'list'])).trim().split('\n').length, 3);
  await cluster.stopMember(1);
  await cluster.restart(1);
  await ok(['put', 'after/delete', 'x']);
  assert.equal((await ok(['get', 'after/delete', '--print-value-only'])).trim(), 'x');
  const audited = await runCoffer(cluster, 'audit', 'verify');
  assert.equal(audited.code, 0, audited.stderr + audited.stdout);
});
