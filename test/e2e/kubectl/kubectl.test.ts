// The real kubectl against a real `coffer server` process over mutual TLS, with kubeconfigs built by
// pki's buildKubeconfig: create, get (-o yaml, -o jsonpath, table), apply twice with validation on,
// label selectors, delete then NotFound, get -w receiving an event, an invalid name, a user without
// rights getting Forbidden, a user allowed one Secret by resourceNames watching it (get NAME -w); --dry-run=server (create, delete, namespace delete), diff, a delete held by
// a finalizer, writes that change nothing, generateName, cascading deletes (--cascade=orphan); auth can-i
// (and --list), auth whoami (and --as), api-versions, -o wide on bindings, explain, and server-side apply
// (create, pruning, a conflict naming its manager, --force-conflicts, --dry-run=server, --show-managed-fields,
// and the move from client-side apply that keeps what another manager set);
// patch as JSON, merge and strategic merge patches; a data key named __proto__ through create and apply.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jsonPatchOperationsMax } from '../../../src/config/index.ts';
import { createKeyFile } from '../../../src/crypto/index.ts';
import { bootstrapCa, buildKubeconfig, caLayout, issueClient, loadCa } from '../../../src/pki/index.ts';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const kubectlPath = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));
let dir: string;
let server: ChildProcess;
let output = '';
const kubeconfigs: Record<string, string> = {};

async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  probe.close();
  return port;
}

interface Run { code: number; stdout: string; stderr: string }

function kubectl(user: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(kubectlPath!, [`--kubeconfig=${kubeconfigs[user]}`, `--cache-dir=${join(dir, 'kube-cache')}`, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

before(async () => {
  assert.ok(kubectlPath, 'kubectl is installed (Debian: apt-get install kubernetes-client)');
  dir = await mkdtemp(join(tmpdir(), 'coffer-kubectl-'));
  const certs = caLayout(join(dir, 'certs'));
  await bootstrapCa({ dir: certs.dir, members: ['m1'], hosts: ['127.0.0.1'], admin: 'admin', p12Password: 'test' });
  await issueClient(await loadCa(certs.dir), { user: 'bob', groups: ['devs'], p12Password: 'test' });
  await issueClient(await loadCa(certs.dir), { user: 'rita', groups: [], p12Password: 'test' });
  await createKeyFile(join(dir, 'unseal.key'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `https://127.0.0.1:${clientPort}`;
  const caPem = await readFile(certs.caCert, 'utf8');
  for (const user of ['admin', 'bob', 'rita']) {
    kubeconfigs[user] = join(dir, `${user}.kubeconfig`);
    const yaml = buildKubeconfig({ endpoints: [endpoint], caPem, certPem: await readFile(certs.clientCert(user), 'utf8'), keyPem: await readFile(certs.clientKey(user), 'utf8'), userName: user });
    await writeFile(kubeconfigs[user], yaml, { mode: 0o600 });
  }
  server = spawn(process.execPath, ['--import', 'tsx', 'src/server/coffer.ts', 'server',
    '--name', 'm1', '--data-dir', join(dir, 'data'),
    '--listen-client', endpoint, '--listen-peer', `https://127.0.0.1:${peerPort}`,
    '--cert', certs.memberCert('m1'), '--key', certs.memberKey('m1'), '--cacert', certs.caCert, '--crl', certs.crl,
    '--log-level', 'warn', '--tick-ms', '20', '--unseal-key-file', join(dir, 'unseal.key')], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  server.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  while (!output.includes('serving clients')) {
    if (server.exitCode !== null) throw new Error(`server exited: ${output}`);
    await once(server.stdout!, 'data');
  }
  // The first-start bootstrap (namespaces, default policies) runs once a leader exists: wait for it.
  for (;;) {
    const ready = await kubectl('admin', ['get', 'namespace', 'default', '-o', 'name']);
    if (ready.code === 0) break;
    if (server.exitCode !== null) throw new Error(`server exited: ${output}`);
  }
});

after(async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await once(server, 'exit');
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('kubectl create secret generic, then get -o yaml and -o jsonpath', async () => {
  const created = await kubectl('admin', ['create', 'secret', 'generic', 'db', '--from-literal=password=s3cret', '--from-literal=user=admin']);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /secret\/db created/);
  const yaml = await kubectl('admin', ['get', 'secret', 'db', '-o', 'yaml']);
  assert.equal(yaml.code, 0, yaml.stderr);
  assert.match(yaml.stdout, /kind: Secret/);
  assert.match(yaml.stdout, new RegExp(`password: ${Buffer.from('s3cret').toString('base64')}`));
  assert.match(yaml.stdout, /resourceVersion: "\d+"/);
  assert.match(yaml.stdout, /uid: [0-9a-f-]{36}/);
  const jsonpath = await kubectl('admin', ['get', 'secret', 'db', '-o', 'jsonpath={.data.password}']);
  assert.equal(Buffer.from(jsonpath.stdout, 'base64').toString(), 's3cret');
});

test('kubectl get secrets prints a table', async () => {
  const table = await kubectl('admin', ['get', 'secrets']);
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trim().split('\n');
  assert.match(lines[0] ?? '', /^NAME\s+TYPE\s+DATA\s+AGE$/);
  assert.ok(lines.some((l) => /^db\s+Opaque\s+2\s+\S+$/.test(l)), table.stdout);
});

test('kubectl apply -f a ConfigMap twice with a change (validation on)', async () => {
  const file = join(dir, 'cm.yaml');
  const manifest = (value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n  labels:\n    tier: web\ndata:\n  mode: "${value}"\n  keep: "yes"\n`;
  await writeFile(file, manifest('one'));
  const first = await kubectl('admin', ['apply', '-f', file]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /configmap\/app-config created/);
  await writeFile(file, manifest('two'));
  const second = await kubectl('admin', ['apply', '-f', file]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /configmap\/app-config configured/);
  const mode = await kubectl('admin', ['get', 'configmap', 'app-config', '-o', 'jsonpath={.data.mode},{.data.keep}']);
  assert.equal(mode.stdout, 'two,yes');
});

test('a data key named __proto__ is kept by create, and changed by apply (a strategic merge patch) like any other key', async () => {
  const created = await kubectl('admin', ['create', 'secret', 'generic', 'proto', '--from-literal=__proto__=first', '--from-literal=other=x']);
  assert.equal(created.code, 0, created.stderr);
  const secret = await kubectl('admin', ['get', 'secret', 'proto', '-o', 'json']);
  assert.equal(secret.code, 0, secret.stderr);
  const data = Object.entries((JSON.parse(secret.stdout) as { data: Record<string, string> }).data);
  assert.deepEqual(data.map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]).sort(), [['__proto__', 'first'], ['other', 'x']]);
  const file = join(dir, 'proto-cm.yaml');
  const manifest = (value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: proto\ndata:\n  __proto__: "${value}"\n  keep: "yes"\n`;
  for (const value of ['one', 'two']) {
    await writeFile(file, manifest(value));
    const applied = await kubectl('admin', ['apply', '-f', file]);
    assert.equal(applied.code, 0, applied.stderr);
  }
  const got = await kubectl('admin', ['get', 'configmap', 'proto', '-o', 'json']);
  assert.equal(got.code, 0, got.stderr);
  assert.deepEqual(Object.entries((JSON.parse(got.stdout) as { data: Record<string, string> }).data).sort(), [['__proto__', 'two'], ['keep', 'yes']]);
  // The tests after this one list every ConfigMap and Secret.
  assert.equal((await kubectl('admin', ['delete', 'configmap/proto', 'secret/proto'])).code, 0);
});

test('kubectl apply with validation on refuses a manifest with an unknown field', async () => {
  const file = join(dir, 'bad.yaml');
  await writeFile(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndatta:\n  a: "1"\n');
  const applied = await kubectl('admin', ['apply', '-f', file]);
  assert.notEqual(applied.code, 0);
  assert.match(applied.stderr, /unknown field "\.datta"/);
  const missing = await kubectl('admin', ['get', 'configmap', 'typo']);
  assert.notEqual(missing.code, 0, 'nothing was created');
});

test('kubectl get -l selects by label', async () => {
  await kubectl('admin', ['create', 'configmap', 'other-config', '--from-literal=a=b']);
  const web = await kubectl('admin', ['get', 'configmaps', '-l', 'tier=web', '-o', 'name']);
  assert.equal(web.stdout.trim(), 'configmap/app-config');
  const notWeb = await kubectl('admin', ['get', 'configmaps', '-l', 'tier!=web', '-o', 'name']);
  assert.equal(notWeb.stdout.trim(), 'configmap/other-config');
});

test('kubectl delete, then get is NotFound', async () => {
  const deleted = await kubectl('admin', ['delete', 'configmap', 'other-config']);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.match(deleted.stdout, /configmap "other-config" deleted/);
  const missing = await kubectl('admin', ['get', 'configmap', 'other-config']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /NotFound.*configmaps "other-config" not found/);
});

/**
 * A running `kubectl … -w` as `user`: everything it writes (stdout and stderr) is kept in `seen`, from
 * one listener for the whole run, so output arriving while the test awaits something else is not lost.
 */
function kubectlWatch(user: string, args: string[]) {
  const watch = spawn(kubectlPath!, [`--kubeconfig=${kubeconfigs[user]}`, `--cache-dir=${join(dir, 'kube-cache')}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let seen = '';
  let wake: (() => void) | undefined;
  const take = (chunk: Buffer) => { seen += chunk.toString(); wake?.(); };
  watch.stdout.on('data', take);
  watch.stderr.on('data', take);
  watch.on('exit', () => wake?.());
  return {
    get seen() { return seen; },
    /** Resolves once the output holds `expected`; throws if kubectl exits first. */
    async waitFor(expected: string | RegExp): Promise<void> {
      while (typeof expected === 'string' ? !seen.includes(expected) : !expected.test(seen)) {
        if (watch.exitCode !== null) throw new Error(`kubectl get -w exited: ${seen}`);
        await new Promise<void>((resolve) => { wake = resolve; });
      }
    },
    stop: () => watch.kill('SIGTERM'),
  };
}

test('kubectl get -w receives an event', async () => {
  const watch = kubectlWatch('admin', ['get', 'configmaps', '-w', '-o', 'name']);
  try {
    await watch.waitFor('configmap/app-config'); // the list is done; the watch starts at its resourceVersion
    const created = await kubectl('admin', ['create', 'configmap', 'watched', '--from-literal=a=b']);
    assert.equal(created.code, 0, created.stderr);
    await watch.waitFor('configmap/watched');
  } finally {
    watch.stop();
  }
});

test('an invalid name is rejected with a message saying it is invalid', async () => {
  const bad = await kubectl('admin', ['create', 'secret', 'generic', 'Bad_Name', '--from-literal=a=b']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /Secret "Bad_Name" is invalid: metadata\.name: Invalid value: "Bad_Name"/);
});

test('a user without rights gets Forbidden', async () => {
  const denied = await kubectl('bob', ['get', 'secrets']);
  assert.notEqual(denied.code, 0);
  assert.match(denied.stderr, /Forbidden.*User "bob" cannot list resource "secrets" in API group "" in the namespace "default"/);
  const create = await kubectl('bob', ['create', 'secret', 'generic', 'mine', '--from-literal=a=b']);
  assert.notEqual(create.code, 0);
  assert.match(create.stderr, /forbidden/i);
});

test('a user allowed one Secret by resourceNames watches it (kubectl get secret NAME -w) and lists it by name; listing them all stays Forbidden', async () => {
  assert.equal((await kubectl('admin', ['create', 'secret', 'generic', 'rot', '--from-literal=k=first'])).code, 0);
  assert.equal((await kubectl('admin', ['create', 'role', 'rot-only', '--verb=get,list,watch', '--resource=secrets', '--resource-name=rot'])).code, 0);
  assert.equal((await kubectl('admin', ['create', 'rolebinding', 'rot-only', '--role=rot-only', '--user=rita'])).code, 0);
  const watch = kubectlWatch('rita', ['get', 'secret', 'rot', '-w', '--output-watch-events']);
  try {
    await watch.waitFor(/ADDED\s+rot\s/);
    const patched = await kubectl('admin', ['patch', 'secret', 'rot', '--type=merge', '-p', '{"stringData":{"k":"second"}}']);
    assert.equal(patched.code, 0, patched.stderr);
    await watch.waitFor(/MODIFIED\s+rot\s/);
    assert.doesNotMatch(watch.seen, /forbidden/i);
  } finally {
    watch.stop();
  }
  const byName = await kubectl('rita', ['get', 'secrets', '--field-selector=metadata.name=rot', '-o', 'name']);
  assert.equal(byName.code, 0, byName.stderr);
  assert.equal(byName.stdout.trim(), 'secret/rot');
  const all = await kubectl('rita', ['get', 'secrets']);
  assert.notEqual(all.code, 0);
  assert.match(all.stderr, /Forbidden.*User "rita" cannot list resource "secrets" in API group "" in the namespace "default"/);
  const other = await kubectl('rita', ['get', 'secrets', '--field-selector=metadata.name!=rot']);
  assert.notEqual(other.code, 0);
  assert.match(other.stderr, /Forbidden/);
});

/** The resourceVersion kubectl reports for an object, or the failure. */
async function resourceVersionOf(kind: string, name: string): Promise<string> {
  const got = await kubectl('admin', ['get', kind, name, '-o', 'jsonpath={.metadata.resourceVersion}']);
  assert.equal(got.code, 0, got.stderr);
  return got.stdout;
}

test('--dry-run=server for create, delete and a namespace delete changes nothing', async () => {
  const created = await kubectl('admin', ['create', 'configmap', 'dry-only', '--from-literal=a=b', '--dry-run=server', '-o', 'name']);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /configmap\/dry-only/);
  assert.notEqual((await kubectl('admin', ['get', 'configmap', 'dry-only'])).code, 0, 'not created');

  assert.equal((await kubectl('admin', ['create', 'namespace', 'dry-ns'])).code, 0);
  assert.equal((await kubectl('admin', ['-n', 'dry-ns', 'create', 'configmap', 'kept', '--from-literal=a=b'])).code, 0);
  const rv = await resourceVersionOf('namespace', 'dry-ns');
  const keptRv = (await kubectl('admin', ['-n', 'dry-ns', 'get', 'configmap', 'kept', '-o', 'jsonpath={.metadata.resourceVersion}'])).stdout;
  const deleteCm = await kubectl('admin', ['-n', 'dry-ns', 'delete', 'configmap', 'kept', '--dry-run=server']);
  assert.equal(deleteCm.code, 0, deleteCm.stderr);
  assert.match(deleteCm.stdout, /deleted \(server dry run\)/);
  const deleteNs = await kubectl('admin', ['delete', 'namespace', 'dry-ns', '--dry-run=server']);
  assert.equal(deleteNs.code, 0, deleteNs.stderr);
  assert.equal(await resourceVersionOf('namespace', 'dry-ns'), rv, 'the namespace is untouched');
  assert.equal((await kubectl('admin', ['-n', 'dry-ns', 'get', 'configmap', 'kept', '-o', 'jsonpath={.metadata.resourceVersion}'])).stdout, keptRv);
});

test('kubectl diff shows a change and leaves the live object as it was', async () => {
  const manifest = (value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: diffed\n  namespace: default\ndata:\n  level: "${value}"\n`;
  assert.equal((await kubectl('admin', ['apply', '-f', '-'], manifest('1'))).code, 0);
  const rv = await resourceVersionOf('configmap', 'diffed');
  const diff = await kubectl('admin', ['diff', '-f', '-'], manifest('2'));
  assert.equal(diff.code, 1, `exit 1 means differences found: ${diff.stderr}`);
  assert.match(diff.stdout, /-\s+level: "1"[\s\S]*\+\s+level: "2"/);
  assert.equal(await resourceVersionOf('configmap', 'diffed'), rv, 'diff changed nothing');
  const same = await kubectl('admin', ['diff', '-f', '-'], manifest('1'));
  assert.equal(same.code, 0, same.stdout + same.stderr);
});

test('a delete held by a finalizer returns, the object shows its deletionTimestamp, and removing the finalizer deletes it', async () => {
  const manifest = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: default\n  finalizers: ["example.com/hold"]\ndata:\n  a: "1"\n';
  assert.equal((await kubectl('admin', ['apply', '-f', '-'], manifest)).code, 0);
  const deleted = await kubectl('admin', ['delete', 'configmap', 'held', '--wait=false']);
  assert.equal(deleted.code, 0, deleted.stderr);
  const marked = await kubectl('admin', ['get', 'configmap', 'held', '-o', 'jsonpath={.metadata.deletionTimestamp}']);
  assert.match(marked.stdout, /^\d{4}-\d\d-\d\dT/);
  const released = await kubectl('admin', ['patch', 'configmap', 'held', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
  assert.equal(released.code, 0, released.stderr);
  assert.notEqual((await kubectl('admin', ['get', 'configmap', 'held'])).code, 0, 'gone with its last finalizer');
});

test('relabelling with the same value, and re-applying an unchanged Secret with stringData, write nothing', async () => {
  const manifest = 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: steady\n  namespace: default\nstringData:\n  password: unchanged\n';
  assert.equal((await kubectl('admin', ['apply', '-f', '-'], manifest)).code, 0);
  assert.equal((await kubectl('admin', ['label', 'secret', 'steady', 'tier=db'])).code, 0);
  const rv = await resourceVersionOf('secret', 'steady');
  const relabel = await kubectl('admin', ['label', '--overwrite', 'secret', 'steady', 'tier=db']);
  assert.equal(relabel.code, 0, relabel.stderr);
  const reapply = await kubectl('admin', ['apply', '-f', '-'], manifest);
  assert.equal(reapply.code, 0, reapply.stderr);
  assert.equal(await resourceVersionOf('secret', 'steady'), rv);
});

test('kubectl create with generateName gets a generated name', async () => {
  const created = await kubectl('admin', ['create', '-f', '-', '-o', 'name'], 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: gen-\n  namespace: default\ndata:\n  a: "1"\n');
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout.trim(), /^configmap\/gen-[a-z0-9]{5}$/);
});

test('kubectl delete cascades to dependents by default, and --cascade=orphan keeps them', async () => {
  for (const [owner, cascade, kept] of [['gc-owner', [], false], ['gc-orphaner', ['--cascade=orphan'], true]] as const) {
    assert.equal((await kubectl('admin', ['create', 'configmap', owner, '--from-literal=a=b'])).code, 0);
    const uid = (await kubectl('admin', ['get', 'configmap', owner, '-o', 'jsonpath={.metadata.uid}'])).stdout;
    const dependent = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${owner}-dep\n  namespace: default\n  ownerReferences:\n  - {apiVersion: v1, kind: ConfigMap, name: ${owner}, uid: "${uid}"}\n`;
    assert.equal((await kubectl('admin', ['create', '-f', '-'], dependent)).code, 0);
    const deleted = await kubectl('admin', ['delete', 'configmap', owner, ...cascade]);
    assert.equal(deleted.code, 0, deleted.stderr);
    const left = await kubectl('admin', ['get', 'configmap', `${owner}-dep`, '-o', 'jsonpath={.metadata.ownerReferences}']);
    assert.equal(left.code === 0, kept, `${owner}-dep ${kept ? 'kept' : 'deleted'}: ${left.stderr}`);
    if (kept) assert.equal(left.stdout, '', 'the orphan no longer names its owner');
  }
});

test('kubectl auth can-i: yes for the administrator; no for bob, then yes once a RoleBinding grants it', async () => {
  const asAdmin = await kubectl('admin', ['auth', 'can-i', 'delete', 'secrets', '-n', 'default']);
  assert.equal(asAdmin.code, 0, asAdmin.stderr);
  assert.equal(asAdmin.stdout.trim(), 'yes');
  const subresource = await kubectl('admin', ['auth', 'can-i', 'create', 'secrets.coffer.dev', '--subresource=rotate', '-n', 'default']);
  assert.equal(subresource.stdout.trim(), 'yes', subresource.stderr);
  const before = await kubectl('bob', ['auth', 'can-i', 'get', 'secrets', '-n', 'default']);
  assert.equal(before.code, 1, 'kubectl exits 1 on "no"');
  assert.equal(before.stdout.trim(), 'no');
  const bound = await kubectl('admin', ['create', 'rolebinding', 'bob-reads', '--clusterrole=secret-reader', '--user=bob', '-n', 'default']);
  assert.equal(bound.code, 0, bound.stderr);
  const after = await kubectl('bob', ['auth', 'can-i', 'get', 'secrets', '-n', 'default']);
  assert.equal(after.code, 0, after.stderr);
  assert.equal(after.stdout.trim(), 'yes');
  const elsewhere = await kubectl('bob', ['auth', 'can-i', 'get', 'secrets', '-n', 'kube-system']);
  assert.equal(elsewhere.stdout.trim(), 'no', 'a RoleBinding grants in its own namespace only');
  const rotate = await kubectl('bob', ['auth', 'can-i', 'create', 'secrets.coffer.dev', '--subresource=rotate', '-n', 'default']);
  assert.equal(rotate.stdout.trim(), 'no', 'secret-reader grants no rotation');
});

test('kubectl auth can-i --list as bob lists what its bindings grant in the namespace', async () => {
  const listed = await kubectl('bob', ['auth', 'can-i', '--list', '-n', 'default']);
  assert.equal(listed.code, 0, listed.stderr);
  const lines = listed.stdout.trim().split('\n');
  assert.match(lines[0] ?? '', /^Resources\s+Non-Resource URLs\s+Resource Names\s+Verbs$/);
  assert.ok(lines.some((l) => /^secrets\s+\[\]\s+\[\]\s+\[get list watch\]$/.test(l)), listed.stdout);
  assert.ok(lines.some((l) => /^selfsubjectaccessreviews\.authorization\.k8s\.io\s+\[\]\s+\[\]\s+\[create\]$/.test(l)), listed.stdout);
  assert.ok(lines.some((l) => /^\s+\[\/version\]\s+\[\]\s+\[get\]$/.test(l)), listed.stdout);
  assert.ok(!lines.some((l) => l.startsWith('*.*')), 'bob holds no wildcard rule');
});

test('kubectl auth whoami names each user and its groups', async () => {
  const adminSelf = await kubectl('admin', ['auth', 'whoami']);
  assert.equal(adminSelf.code, 0, adminSelf.stderr);
  assert.match(adminSelf.stdout, /^Username\s+admin$/m);
  assert.match(adminSelf.stdout, /^Groups\s+\[system:masters system:authenticated\]$/m);
  const bobSelf = await kubectl('bob', ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username} {.status.userInfo.groups}']);
  assert.equal(bobSelf.code, 0, bobSelf.stderr);
  assert.equal(bobSelf.stdout, 'bob ["devs","system:authenticated"]');
  const impersonated = await kubectl('admin', ['auth', 'whoami', '--as', 'bob', '-o', 'jsonpath={.status.userInfo.username}']);
  assert.equal(impersonated.stdout, 'bob', impersonated.stderr);
});

test('kubectl api-versions lists coffer.dev/v1 and the review groups', async () => {
  const versions = await kubectl('bob', ['api-versions']);
  assert.equal(versions.code, 0, versions.stderr);
  assert.deepEqual(versions.stdout.trim().split('\n'), ['authentication.k8s.io/v1', 'authorization.k8s.io/v1', 'coffer.dev/v1', 'rbac.authorization.k8s.io/v1', 'v1']);
});

test('kubectl get rolebindings and clusterrolebindings -o wide show the role, users and groups', async () => {
  const wide = await kubectl('admin', ['get', 'rolebinding', 'bob-reads', '-n', 'default', '-o', 'wide']);
  assert.equal(wide.code, 0, wide.stderr);
  const [header, row] = wide.stdout.trim().split('\n');
  assert.match(header ?? '', /^NAME\s+ROLE\s+AGE\s+USERS\s+GROUPS\s+SERVICEACCOUNTS$/);
  assert.match(row ?? '', /^bob-reads\s+ClusterRole\/secret-reader\s+\S+\s+bob\s*$/);
  const cluster = await kubectl('admin', ['get', 'clusterrolebinding', 'cluster-admin', '-o', 'wide']);
  assert.equal(cluster.code, 0, cluster.stderr);
  assert.match(cluster.stdout.trim().split('\n')[1] ?? '', /^cluster-admin\s+ClusterRole\/cluster-admin\s+\S+\s+system:masters\s*$/);
});

test('kubectl explain describes each kind and field from the server\'s OpenAPI v3 schemas', async () => {
  const secretDoc = await kubectl('bob', ['explain', 'secrets']);
  assert.equal(secretDoc.code, 0, secretDoc.stderr);
  assert.match(secretDoc.stdout, /^KIND:\s+Secret$/m);
  assert.match(secretDoc.stdout, /DESCRIPTION:\n\s+A named set of sensitive values/);
  assert.match(secretDoc.stdout, /^ {2}stringData\t<map\[string\]string>\n\s+Write-only convenience/m);
  assert.doesNotMatch(secretDoc.stdout, /<no description>|<empty>/);
  const nested = await kubectl('bob', ['explain', 'rolebinding.roleRef.kind']);
  assert.equal(nested.code, 0, nested.stderr);
  assert.match(nested.stdout, /^FIELD: kind <string>$/m);
  assert.match(nested.stdout, /Role \(RoleBindings only, in the same namespace\) or ClusterRole/);
  const recursive = await kubectl('bob', ['explain', 'configmap', '--recursive']);
  assert.equal(recursive.code, 0, recursive.stderr);
  assert.match(recursive.stdout, /^\s+ownerReferences\t<\[\]OwnerReference>$/m);
});

test('kubectl apply --server-side: creates, prunes a removed field, names the owner of a conflict, takes it with --force-conflicts, --dry-run=server changes nothing', async () => {
  const manifest = (data: Record<string, string>) => `apiVersion: v1\nkind: Secret\nmetadata:\n  name: ssa\n  namespace: default\nstringData:\n${Object.entries(data).map(([k, v]) => `  ${k}: ${v}\n`).join('')}`;
  const created = await kubectl('admin', ['apply', '--server-side', '-f', '-'], manifest({ password: 'first', user: 'app' }));
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /secret\/ssa serverside-applied/);
  const shown = await kubectl('admin', ['get', 'secret', 'ssa', '-o', 'yaml', '--show-managed-fields']);
  assert.match(shown.stdout, /managedFields:\n {2}- apiVersion: v1\n {4}fieldsType: FieldsV1\n {4}fieldsV1:\n {6}f:data:\n {8}f:password: \{\}\n {8}f:user: \{\}\n {4}manager: kubectl\n {4}operation: Apply\n/);
  assert.ok(!(await kubectl('admin', ['get', 'secret', 'ssa', '-o', 'yaml'])).stdout.includes('managedFields'), 'kubectl hides them by default');

  const pruned = await kubectl('admin', ['apply', '--server-side', '-f', '-'], manifest({ password: 'first' }));
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.equal((await kubectl('admin', ['get', 'secret', 'ssa', '-o', 'jsonpath={.data}'])).stdout, `{"password":"${Buffer.from('first').toString('base64')}"}`);

  const rv = await resourceVersionOf('secret', 'ssa');
  const conflict = await kubectl('admin', ['apply', '--server-side', '--field-manager=other', '-f', '-'], manifest({ password: 'second' }));
  assert.notEqual(conflict.code, 0);
  assert.match(conflict.stderr, /Apply failed with 1 conflict: conflict with "kubectl": \.data\.password/);
  assert.match(conflict.stderr, /--force-conflicts/);
  const dry = await kubectl('admin', ['apply', '--server-side', '--field-manager=other', '--force-conflicts', '--dry-run=server', '-f', '-'], manifest({ password: 'second' }));
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /serverside-applied \(server dry run\)/);
  assert.equal(await resourceVersionOf('secret', 'ssa'), rv, 'neither the conflict nor the dry run changed anything');

  const forced = await kubectl('admin', ['apply', '--server-side', '--field-manager=other', '--force-conflicts', '-f', '-'], manifest({ password: 'second' }));
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal((await kubectl('admin', ['get', 'secret', 'ssa', '-o', 'jsonpath={.data.password}'])).stdout, Buffer.from('second').toString('base64'));
  const owners = await kubectl('admin', ['get', 'secret', 'ssa', '-o', 'jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation} {end}', '--show-managed-fields']);
  assert.equal(owners.stdout.trim(), 'other/Apply', 'kubectl owned nothing else, so its entry is gone');
});

test('moving from kubectl apply to kubectl apply --server-side keeps data, labels and annotations, and what another manager set', async () => {
  const file = join(dir, 'migrate.yaml');
  const manifest = (stringData: Record<string, string>, annotations: Record<string, string>) => `apiVersion: v1\nkind: Secret\nmetadata:\n  name: migrate-me\n  namespace: default\n  labels: {app: web}\n  annotations: ${JSON.stringify(annotations)}\nstringData: ${JSON.stringify(stringData)}\n`;
  await writeFile(file, manifest({ password: 's3cret', user: 'admin' }, { owner: 'ops' }));
  const clientSide = await kubectl('admin', ['apply', '-f', file]);
  assert.equal(clientSide.code, 0, clientSide.stderr);
  const labelled = await kubectl('admin', ['label', 'secret', 'migrate-me', 'extra=kept']);
  assert.equal(labelled.code, 0, labelled.stderr);
  // kubectl moves the client-side applier's fields to its server-side manager (a JSON patch of managedFields), then applies.
  const serverSide = await kubectl('admin', ['apply', '--server-side', '-f', file]);
  assert.equal(serverSide.code, 0, serverSide.stderr);
  const shown = await kubectl('admin', ['get', 'secret', 'migrate-me', '-o', 'json', '--show-managed-fields']);
  const secret = JSON.parse(shown.stdout) as { data?: Record<string, string>; metadata: { labels?: Record<string, string>; annotations?: Record<string, string>; managedFields: { manager: string; operation: string }[] } };
  assert.deepEqual(secret.data, { password: Buffer.from('s3cret').toString('base64'), user: Buffer.from('admin').toString('base64') });
  assert.deepEqual(secret.metadata.labels, { app: 'web', extra: 'kept' });
  assert.equal(secret.metadata.annotations?.owner, 'ops');
  // kubectl keeps its last-applied annotation up to date as a manager of its own.
  assert.deepEqual(secret.metadata.managedFields.map((m) => `${m.manager}/${m.operation}`).sort(), ['kubectl-label/Update', 'kubectl-last-applied/Apply', 'kubectl/Apply']);
  // Server-side from now on: what kubectl stops applying goes, what kubectl label set stays.
  await writeFile(file, manifest({ password: 's3cret' }, {}));
  const pruned = await kubectl('admin', ['apply', '--server-side', '-f', file]);
  assert.equal(pruned.code, 0, pruned.stderr);
  const after = JSON.parse((await kubectl('admin', ['get', 'secret', 'migrate-me', '-o', 'json'])).stdout) as typeof secret;
  assert.deepEqual(after.data, { password: Buffer.from('s3cret').toString('base64') });
  assert.deepEqual(after.metadata.labels, { app: 'web', extra: 'kept' });
  assert.equal(after.metadata.annotations?.owner, undefined);
});

test('kubectl patch --type=json, --type=merge and strategic (its default); a JSON patch of more than jsonPatchOperationsMax operations is refused', async () => {
  assert.equal((await kubectl('admin', ['create', 'configmap', 'patched', '--from-literal=a=1'])).code, 0);
  const patches: Array<[string, unknown]> = [
    ['json', [{ op: 'test', path: '/data/a', value: '1' }, { op: 'add', path: '/data/b', value: '2' }, { op: 'copy', from: '/data/a', path: '/data/c' }]],
    ['merge', { data: { b: null } }],
    ['strategic', { data: { d: '4' } }],
  ];
  for (const [type, patch] of patches) {
    const patched = await kubectl('admin', ['patch', 'configmap', 'patched', `--type=${type}`, '-p', JSON.stringify(patch)]);
    assert.equal(patched.code, 0, `${type}: ${patched.stderr}`);
    assert.match(patched.stdout, /configmap\/patched patched/);
  }
  const data = await kubectl('admin', ['get', 'configmap', 'patched', '-o', 'jsonpath={.data}']);
  assert.deepEqual(JSON.parse(data.stdout), { a: '1', c: '1', d: '4' });
  const file = join(dir, 'many-operations.json');
  await writeFile(file, JSON.stringify(Array.from({ length: jsonPatchOperationsMax + 1 }, () => ({ op: 'test', path: '/data/a', value: '1' }))));
  const refused = await kubectl('admin', ['patch', 'configmap', 'patched', '--type=json', '--patch-file', file]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, new RegExp(`a JSON patch may hold at most ${jsonPatchOperationsMax} operations`));
});

test('kubectl get over more than one list page (listPageBytesMax): pages of 500 and --chunk-size=0 both list every ConfigMap once', async () => {
  assert.equal((await kubectl('admin', ['create', 'namespace', 'large'])).code, 0);
  const count = 24;
  const names = Array.from({ length: count }, (_, i) => `big-${String(i).padStart(2, '0')}`);
  // 24 × 250 KB: 6 MB, more than one page of 4 MiB.
  const manifests = names.map((name) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: large\ndata:\n  v: ${'x'.repeat(250_000)}\n`).join('---\n');
  const created = await kubectl('admin', ['create', '-f', '-'], manifests);
  assert.equal(created.code, 0, created.stderr);
  for (const chunk of ['--chunk-size=500', '--chunk-size=0']) {
    const listed = await kubectl('admin', ['get', 'configmaps', '-n', 'large', '-o', 'name', chunk]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(listed.stdout.trim().split('\n'), names.map((n) => `configmap/${n}`), chunk);
    const table = await kubectl('admin', ['get', 'configmaps', '-n', 'large', '--no-headers', chunk]);
    assert.equal(table.code, 0, table.stderr);
    assert.deepEqual(table.stdout.trim().split('\n').map((l) => l.split(/\s+/).slice(0, 2).join(' ')), names.map((n) => `${n} 1`), chunk);
  }
});

// A `kind: List` document (what `kubectl get -o yaml` writes) has no path of its own in /openapi/v3, so
// kubectl validates its items on the client against the OpenAPI v2 document, which it asks for in
// protobuf only.
test('kubectl apply -f a kind: List with validation on creates every item; get -o yaml of them replaces with validation on', async () => {
  const item = (name: string) => `  - apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: ${name}\n      labels:\n        set: listed\n    data:\n      k: "${name}"\n`;
  const file = join(dir, 'list.yaml');
  await writeFile(file, `apiVersion: v1\nkind: List\nitems:\n${item('listed-a')}${item('listed-b')}`);
  const applied = await kubectl('admin', ['apply', '-f', file]);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /configmap\/listed-a created\nconfigmap\/listed-b created/);
  const backup = await kubectl('admin', ['get', 'configmaps', '-l', 'set=listed', '-o', 'yaml']);
  assert.equal(backup.code, 0, backup.stderr);
  assert.match(backup.stdout, /^kind: List$/m);
  const backupFile = join(dir, 'backup.yaml');
  await writeFile(backupFile, backup.stdout);
  const replaced = await kubectl('admin', ['replace', '-f', backupFile]);
  assert.equal(replaced.code, 0, replaced.stderr);
  assert.match(replaced.stdout, /configmap\/listed-a replaced\nconfigmap\/listed-b replaced/);
});

test('kubectl apply -f a kind: List refuses an item with an unknown field from the OpenAPI v2 schema, and creates nothing', async () => {
  const file = join(dir, 'bad-list.yaml');
  await writeFile(file, 'apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: listed-good\n    data:\n      a: "1"\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: listed-typo\n    datta:\n      a: "1"\n');
  const applied = await kubectl('admin', ['apply', '-f', file]);
  assert.notEqual(applied.code, 0);
  assert.match(applied.stderr, /unknown field "datta" in io\.k8s\.api\.core\.v1\.ConfigMap/);
  for (const name of ['listed-good', 'listed-typo']) {
    const missing = await kubectl('admin', ['get', 'configmap', name]);
    assert.notEqual(missing.code, 0, `${name} was not created`);
  }
});

test('kubectl explain --output=plaintext-openapiv2 describes a kind from /openapi/v2', async () => {
  const explained = await kubectl('bob', ['explain', 'configmap', '--output=plaintext-openapiv2']);
  assert.equal(explained.code, 0, explained.stderr);
  assert.match(explained.stdout, /^KIND:\s+ConfigMap$/m);
  assert.match(explained.stdout, /DESCRIPTION:\n\s+A named set of non-confidential configuration values/);
  assert.match(explained.stdout, /^ {3}binaryData\t<map\[string\]string>\n\s+Configuration values that are not UTF-8 text/m);
});
