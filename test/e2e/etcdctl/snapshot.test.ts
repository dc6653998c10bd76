// etcdctl 3.4's `snapshot save` against three real members started with --backup-recipient (the public
// half of `coffer snapshot keygen`): the file it writes is Coffer's encrypted backup sealed to that key
// and signed by the member — no value in it in the clear, in base64 or in hex; `etcdctl snapshot status`
// cannot read it; `coffer snapshot restore FILE --backup-key K --cacert CA` builds a member of a new
// cluster that serves the data. Callers
// without rights — none, or the gRPC API without system:masters — are refused, write nothing, and are in
// the audit log.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caLayout, issueClient, loadCa } from '../../../src/pki/index.ts';
import { type Backend, Cluster, cofferBackend, cofferEntry, repoRoot, runCoffer } from '../../support/cluster/index.ts';
import { waitUntil } from '../../support/wait.ts';

const etcdctlPath = ['/usr/bin/etcdctl', '/usr/local/bin/etcdctl'].find((p) => existsSync(p));
const marker = 'ETCDCTL-SNAPSHOT-MARKER-41c07e';

let dir: string;
let backupKey: string;
let cluster: Cluster;

interface Run { code: number; stdout: string; stderr: string }

function runFile(file: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: repoRoot, timeout: 120_000, env: { ...process.env, ETCDCTL_API: '3' } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

function coffer(args: string[]): Promise<Run> {
  return runFile(process.execPath, ['--import', 'tsx', cofferEntry, ...args]);
}

/** etcdctl against one member (snapshot save asks exactly one), as the admin unless `as` names another certificate. */
function etcdctl(target: Cluster, args: string[], as?: { cert: string; key: string }): Promise<Run> {
  const who = as ?? { cert: target.certs.clientCert, key: target.certs.clientKey };
  return runFile(etcdctlPath!, [`--endpoints=${target.clientUrl(0)}`, `--cacert=${target.certs.ca}`, `--cert=${who.cert}`, `--key=${who.key}`, ...args]);
}

before(async () => {
  assert.ok(etcdctlPath, 'etcdctl is installed (Debian: apt-get install etcd-client)');
  dir = await mkdtemp(join(tmpdir(), 'coffer-e2e-etcdctl-snapshot-'));
  backupKey = join(dir, 'backup.key');
  const keygen = await coffer(['snapshot', 'keygen', backupKey]);
  assert.equal(keygen.code, 0, keygen.stderr);
  assert.equal((await stat(backupKey)).mode & 0o777, 0o600);
  cluster = await Cluster.start({ size: 3, faults: false, memberArgs: ['--backup-recipient', `${backupKey}.pub`] });
});

after(async () => {
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
});

/**
 * The coffer backend, except that each member's data dir is first restored from `file` with the backup
 * key — and the CA of the cluster whose member signed it (the restored cluster has a CA of its own).
 */
function restoringBackend(file: string): Backend {
  return {
    ...cofferBackend,
    async prepare(spec) {
      await cofferBackend.prepare(spec);
      const restored = await coffer(['snapshot', 'restore', file, '--data-dir', spec.dataDir, '--name', spec.name,
        '--initial-cluster', spec.initialCluster, '--unseal-key-file', spec.keyFile, '--backup-key', backupKey, '--cacert', cluster.certs.ca]);
      assert.equal(restored.code, 0, restored.stderr);
      assert.match(restored.stdout, /signed by its member m1 /);
    },
  };
}

test('etcdctl snapshot save writes the backup sealed to the backup key; snapshot status cannot read it; coffer snapshot restore --backup-key can', async () => {
  assert.equal((await etcdctl(cluster, ['put', 'snap/secret', marker])).code, 0);
  const file = join(dir, 'etcdctl.snapshot');
  const saved = await etcdctl(cluster, ['snapshot', 'save', file]);
  assert.equal(saved.code, 0, saved.stderr);
  assert.match(saved.stdout, /Snapshot saved at/);
  const raw = await readFile(file);
  assert.equal(raw.subarray(0, 14).toString(), 'COFFER-BACKUP\n', 'a Coffer backup');
  for (const form of [marker, Buffer.from(marker).toString('base64'), Buffer.from(marker).toString('hex'), 'snap/secret']) {
    assert.equal(raw.includes(Buffer.from(form)), false, `found ${form}`);
  }
  const scratch = join(cluster.dataDir(0), 'snapshot-out');
  await waitUntil(async () => (await readdir(scratch)).length === 0, 10_000, 'the member to remove its copy of the backup');
  const status = await etcdctl(cluster, ['snapshot', 'status', file]);
  assert.notEqual(status.code, 0, 'etcdctl snapshot status cannot read a Coffer backup');

  const restored = await Cluster.start({ size: 1, faults: false, backend: restoringBackend(file) });
  try {
    const got = await etcdctl(restored, ['get', 'snap/secret', '--print-value-only']);
    assert.equal(got.stdout.trim(), marker, got.stderr);
  } finally {
    await restored.stop();
  }
});

test('callers without rights are refused a snapshot — none at all, or the gRPC API but not system:masters — nothing is written, and each call is audited', async () => {
  // dave may call every gRPC method (a nonResourceURL rule), and still not take the whole store.
  const policy = join(dir, 'grpc-caller.yaml');
  await writeFile(policy, 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: grpc-caller}\n'
    + 'rules: [{nonResourceURLs: ["/etcdserverpb.*"], verbs: [post]}]\n---\n'
    + 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: dave-grpc-caller}\n'
    + 'subjects: [{kind: User, name: dave, apiGroup: rbac.authorization.k8s.io}]\n'
    + 'roleRef: {kind: ClusterRole, name: grpc-caller, apiGroup: rbac.authorization.k8s.io}\n');
  const applied = await runCoffer(cluster, 'policy', 'apply', '-f', policy);
  assert.equal(applied.code, 0, applied.stderr);
  const ca = await loadCa(cluster.certs.dir);
  const layout = caLayout(cluster.certs.dir);
  for (const user of ['eve', 'dave']) await issueClient(ca, { user });
  const as = (user: string) => ({ cert: layout.clientCert(user), key: layout.clientKey(user) });
  const eveFile = join(dir, 'eve.snapshot');
  assert.match((await etcdctl(cluster, ['snapshot', 'save', eveFile], as('eve'))).stderr, /code = PermissionDenied/);
  const daveFile = join(dir, 'dave.snapshot');
  // The policy reaches member m1 once it applied the write: until then RBAC refuses dave; then the gate
  // refuses him because only system:masters may take a snapshot, whatever RBAC grants. etcdctl is told
  // etcd's exact words either way; the audit record says which.
  let dave: Run | undefined;
  await waitUntil(async () => {
    dave = await etcdctl(cluster, ['snapshot', 'save', daveFile], as('dave'));
    const events = await runCoffer(cluster, '-o', 'json', 'audit', 'query', '--user', 'dave');
    return events.code === 0 && /only the group \\"system:masters\\" may take a snapshot of every Secret/.test(events.stdout);
  }, 30_000, 'the policy to reach member m1');
  assert.match(dave!.stderr, /code = PermissionDenied desc = etcdserver: permission denied/);
  assert.equal(existsSync(eveFile) || existsSync(daveFile), false, 'nothing was written');
  for (const user of ['eve', 'dave']) {
    const events = await runCoffer(cluster, '-o', 'json', 'audit', 'query', '--user', user);
    assert.equal(events.code, 0, events.stderr);
    const calls = (JSON.parse(events.stdout) as { items: { requestURI: string; responseStatus?: { code: number } }[] }).items
      .map((e) => `${e.requestURI} ${e.responseStatus?.code ?? '-'}`);
    assert.ok(calls.includes('/etcdserverpb.Maintenance/Snapshot 403'), `${user}'s refused snapshot is audited: ${calls.join(', ')}`);
  }
});
