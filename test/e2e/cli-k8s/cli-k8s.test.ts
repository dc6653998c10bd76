// `coffer secret | configmap | namespace | policy | kubeconfig | watch` run as processes, as users run
// them, against a real one-member cluster over mutual TLS; users carol (group readers) and dave (no
// groups) get client certificates from the test's CA. kubectl uses a kubeconfig printed by the CLI.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { issueClient, loadCa } from '../../../src/pki/index.ts';
import { Cluster, repoRoot } from '../../support/cluster/index.ts';
import { waitBootstrapped } from '../../support/cluster/index.ts';

const kubectlPath = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));
let cluster: Cluster;

interface Run { code: number; stdout: string; stderr: string }

/** --endpoints and --cacert, and --cert/--key of `user` unless null. */
function connectionFlags(user: string | null): string[] {
  const clients = join(cluster.certs.dir, 'clients');
  const flags = ['--endpoints', cluster.clientUrl(0), '--cacert', cluster.certs.ca];
  return user === null ? flags : [...flags, '--cert', join(clients, `${user}.crt`), '--key', join(clients, `${user}.key`)];
}

/** Runs `coffer <args>` as `user` (the admin certificate by default). */
function coffer(args: string[], user: string | null = 'admin'): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/server/coffer.ts', ...connectionFlags(user), ...args], { cwd: repoRoot, timeout: 30_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
  });
}

function ok(run: Run): string {
  assert.equal(run.code, 0, `exit ${run.code}: ${run.stderr}`);
  assert.equal(run.stderr, '');
  return run.stdout;
}

/** A failed run: non-zero, exactly one line on stderr, starting `coffer: `. Returns that line. */
function failed(run: Run): string {
  assert.notEqual(run.code, 0, `expected a failure, got: ${run.stdout}`);
  const lines = run.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one line on stderr: ${run.stderr}`);
  assert.match(lines[0] ?? '', /^coffer: /);
  return lines[0] ?? '';
}

before(async () => {
  cluster = await Cluster.start({ size: 1, backend: 'coffer' });
  const ca = await loadCa(cluster.certs.dir);
  await issueClient(ca, { user: 'carol', groups: ['readers'] });
  await issueClient(ca, { user: 'dave' });
  await waitBootstrapped(cluster);
});

after(async () => {
  await cluster?.stop();
});

test('secret create, get (values hidden), get --reveal, get -o json (base64), list, delete', async () => {
  const tokenFile = join(cluster.dir, 'token.txt');
  await writeFile(tokenFile, 'tok-from-file', { mode: 0o600 });
  assert.equal(ok(await coffer(['secret', 'create', 'db', '-n', 'default', '--from-literal', 'password=s3cret=x', '--from-file', `token=${tokenFile}`])),
    'secret/db created\n');

  const [hidden, revealed, json, yaml] = await Promise.all([
    coffer(['secret', 'get', 'db']),
    coffer(['secret', 'get', 'db', '-n', 'default', '--reveal']),
    coffer(['secret', 'get', 'db', '-o', 'json']),
    coffer(['-o', 'yaml', 'secret', 'get', 'db']),
  ]);
  const table = ok(hidden);
  assert.match(table, /^Name:\s+db$/m);
  assert.match(table, /^Type:\s+Opaque$/m);
  assert.match(table, /^password:\s+8 bytes$/m);
  assert.match(table, /^token:\s+13 bytes$/m);
  assert.doesNotMatch(table, /s3cret|tok-from-file/);
  assert.doesNotMatch(table, new RegExp(Buffer.from('s3cret=x').toString('base64')));

  assert.match(ok(revealed), /^password:\s+s3cret=x$/m);
  assert.match(revealed.stdout, /^token:\s+tok-from-file$/m);

  const object = JSON.parse(ok(json)) as { kind: string; data: Record<string, string>; metadata: { resourceVersion: string } };
  assert.equal(object.kind, 'Secret');
  assert.deepEqual(object.data, { password: Buffer.from('s3cret=x').toString('base64'), token: Buffer.from('tok-from-file').toString('base64') });
  assert.deepEqual((parseYaml(ok(yaml)) as { data: unknown }).data, object.data, '-o yaml prints the same object');

  const list = ok(await coffer(['secret', 'list']));
  assert.match(list, /^NAME\s+TYPE\s+DATA\s+AGE$/m);
  assert.match(list, /^db\s+Opaque\s+2\s+\d+[smh]$/m);
  assert.doesNotMatch(list, /s3cret/);
  assert.match(ok(await coffer(['secret', 'list', '-A'])), /^default\s+db\s+Opaque\s+2\s+\S+$/m);

  assert.equal(ok(await coffer(['secret', 'delete', 'db'])), 'secret "db" deleted\n');
  assert.equal(failed(await coffer(['secret', 'get', 'db'])), 'coffer: secrets "db" not found');
});

test('a Status error from a bad request is one line with the server\'s message', async () => {
  const bad = failed(await coffer(['secret', 'create', 'Bad_Name', '--from-literal', 'a=b']));
  assert.match(bad, /^coffer: Secret "Bad_Name" is invalid: metadata\.name: Invalid value: "Bad_Name"/);
  const usage = failed(await coffer(['secret', 'create', 'x', '--from-literal', 'hunter2']));
  assert.equal(usage, 'coffer: --from-literal expects key=value (the key may not be empty)', 'the argument (perhaps a value) is not echoed');
});

test('configmap create, get (values shown), list, delete', async () => {
  assert.equal(ok(await coffer(['configmap', 'create', 'app', '--from-literal', 'mode=fast', '--from-literal', 'level=3'])), 'configmap/app created\n');
  const shown = ok(await coffer(['configmap', 'get', 'app']));
  assert.match(shown, /^mode:\n----\nfast$/m);
  assert.match(shown, /^level:\n----\n3$/m);
  const json = JSON.parse(ok(await coffer(['-o', 'json', 'configmap', 'get', 'app']))) as { data: Record<string, string> };
  assert.deepEqual(json.data, { mode: 'fast', level: '3' });
  assert.match(ok(await coffer(['configmap', 'list', '-n', 'default'])), /^app\s+2\s+\d+[smh]$/m);
  assert.equal(ok(await coffer(['configmap', 'delete', 'app'])), 'configmap "app" deleted\n');
  assert.equal(failed(await coffer(['configmap', 'get', 'app'])), 'coffer: configmaps "app" not found');
});

test('namespace create, list, delete removes what was in it', async () => {
  assert.equal(ok(await coffer(['namespace', 'create', 'team-a'])), 'namespace/team-a created\n');
  ok(await coffer(['secret', 'create', 'inner', '-n', 'team-a', '--from-literal', 'k=v']));
  const listed = ok(await coffer(['namespace', 'list']));
  assert.match(listed, /^NAME\s+STATUS\s+AGE$/m);
  for (const name of ['default', 'coffer-system', 'team-a']) assert.match(listed, new RegExp(`^${name}\\s+Active\\s+\\S+$`, 'm'));
  assert.equal(ok(await coffer(['namespace', 'delete', 'team-a'])), 'namespace "team-a" deleted\n');
  const [after, inner] = await Promise.all([coffer(['namespace', 'list']), coffer(['-o', 'json', 'secret', 'list', '-A'])]);
  assert.doesNotMatch(ok(after), /team-a/);
  const all = JSON.parse(ok(inner)) as { items: { metadata: { namespace: string } }[] };
  assert.ok(!all.items.some((s) => s.metadata.namespace === 'team-a'), 'the namespace\'s secrets went with it');
});

test('policy apply: a user bound to the role can read, a user without it is forbidden; a bad file changes nothing', async () => {
  ok(await coffer(['secret', 'create', 'shared', '--from-literal', 'api-key=abc123']));
  const file = join(cluster.dir, 'readers.yaml');
  await writeFile(file, [
    'apiVersion: rbac.authorization.k8s.io/v1', 'kind: Role', 'metadata:', '  name: secret-getter', '  namespace: default', 'rules:',
    '  - apiGroups: [""]', '    resources: [secrets]', '    verbs: [get, list, watch]',
    '---',
    'apiVersion: rbac.authorization.k8s.io/v1', 'kind: RoleBinding', 'metadata:', '  name: readers-get-secrets', '  namespace: default',
    'subjects:', '  - kind: Group', '    name: readers', 'roleRef:', '  apiGroup: rbac.authorization.k8s.io', '  kind: Role', '  name: secret-getter', '',
  ].join('\n'));
  assert.equal(ok(await coffer(['policy', 'apply', '-f', file])),
    'role.rbac.authorization.k8s.io/secret-getter created\nrolebinding.rbac.authorization.k8s.io/readers-get-secrets created\n');
  assert.equal(ok(await coffer(['policy', 'apply', '-f', file])),
    'role.rbac.authorization.k8s.io/secret-getter unchanged\nrolebinding.rbac.authorization.k8s.io/readers-get-secrets unchanged\n');

  const [carol, dave, policies] = await Promise.all([
    coffer(['secret', 'get', 'shared', '--reveal'], 'carol'), coffer(['secret', 'get', 'shared'], 'dave'), coffer(['policy', 'list']),
  ]);
  assert.match(ok(carol), /^api-key:\s+abc123$/m);
  assert.match(failed(dave), /^coffer: secrets "shared" is forbidden: User "dave" cannot get resource "secrets"/);
  assert.match(ok(policies), /^Role\s+default\s+secret-getter\s+1\s+\S+$/m);
  assert.match(policies.stdout, /^RoleBinding\s+default\s+readers-get-secrets\s+Role\/secret-getter\s+Group:readers\s+\S+$/m);
  assert.match(policies.stdout, /^ClusterRoleBinding\s+cluster-admin\s+ClusterRole\/cluster-admin\s+Group:system:masters\s+\S+$/m);

  // A file whose second document is invalid: refused before anything is sent.
  const bad = join(cluster.dir, 'bad.yaml');
  await writeFile(bad, [
    'apiVersion: rbac.authorization.k8s.io/v1', 'kind: ClusterRole', 'metadata:', '  name: never-created', 'rules: []',
    '---',
    'apiVersion: rbac.authorization.k8s.io/v1', 'kind: Role', 'metadata:', '  name: broken', 'rules: []', '',
  ].join('\n'));
  assert.match(failed(await coffer(['policy', 'apply', '-f', bad])), /^coffer: .*bad\.yaml#2: .*metadata\.namespace/);
  assert.doesNotMatch(ok(await coffer(['policy', 'list'])), /never-created/);
});

test('kubeconfig --user prints a kubeconfig the real kubectl uses', async () => {
  assert.ok(kubectlPath, 'kubectl is installed (Debian: apt-get install kubernetes-client)');
  ok(await coffer(['secret', 'create', 'for-kubectl', '--from-literal', 'x=y']));
  const printed = ok(await coffer(['kubeconfig', '--user', 'carol', '--dir', cluster.certs.dir], null));
  const config = parseYaml(printed) as { 'current-context': string; users: { name: string }[]; clusters: { cluster: { server: string } }[] };
  assert.equal(config.users[0]?.name, 'carol');
  assert.equal(config.clusters[0]?.cluster.server, cluster.clientUrl(0));
  const file = join(cluster.dir, 'carol.kubeconfig');
  await writeFile(file, printed, { mode: 0o600 });
  const kubectl = await new Promise<Run>((resolve) => {
    execFile(kubectlPath, [`--kubeconfig=${file}`, `--cache-dir=${join(cluster.dir, 'kube-cache')}`, 'get', 'secrets'], { timeout: 30_000 },
      (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr }));
  });
  assert.equal(kubectl.code, 0, kubectl.stderr);
  assert.match(kubectl.stdout, /^for-kubectl\s+Opaque\s+1\s+\S+$/m);

  // --file writes the same for the admin (its own credentials), mode 0600.
  const adminFile = join(cluster.dir, 'admin.kubeconfig');
  assert.match(ok(await coffer(['kubeconfig', '--file', adminFile])), /^wrote /);
  assert.equal((parseYaml(await readFile(adminFile, 'utf8')) as { users: { name: string }[] }).users[0]?.name, 'admin');
});

test('watch prints a line for a change, without the value', async () => {
  const listed = JSON.parse(ok(await coffer(['-o', 'json', 'secret', 'list']))) as { metadata: { resourceVersion: string } };
  const since = listed.metadata.resourceVersion;
  const watch = spawn(process.execPath, ['--import', 'tsx', 'src/server/coffer.ts', ...connectionFlags('admin'), 'watch', 'secrets', '-n', 'default', '--since', since],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let seen = '';
  let errors = '';
  let wake: (() => void) | undefined;
  watch.stdout.on('data', (chunk: Buffer) => { seen += chunk.toString(); wake?.(); });
  watch.stderr.on('data', (chunk: Buffer) => { errors += chunk.toString(); wake?.(); });
  watch.on('exit', () => wake?.());
  try {
    // The watch has started once the server has it; a change made before that is still delivered,
    // because the watch starts from `since`.
    const created = await coffer(['secret', 'create', 'watched', '--from-literal', 'pin=9876']);
    const rv = (JSON.parse(ok(await coffer(['-o', 'json', 'secret', 'get', 'watched']))) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    assert.equal(created.code, 0);
    const expected = `ADDED    default/watched ${rv}\n`;
    while (!seen.includes(expected)) {
      if (watch.exitCode !== null) throw new Error(`coffer watch exited: ${seen} ${errors}`);
      await new Promise<void>((resolve) => { wake = resolve; });
    }
    assert.doesNotMatch(seen, /9876|OTg3Ng/);
    assert.equal(errors, '');
  } finally {
    watch.kill('SIGTERM');
  }
});
