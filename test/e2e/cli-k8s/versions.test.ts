// `coffer secret versions | get --version | rotate | rollback` run as processes against a real
// one-member cluster over mutual TLS, as the admin user.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Cluster, repoRoot } from '../../support/cluster/index.ts';
import { waitBootstrapped } from './support.ts';

let cluster: Cluster;

interface Run { code: number; stdout: string; stderr: string }

function coffer(args: string[]): Promise<Run> {
  const flags = ['--endpoints', cluster.clientUrl(0), '--cacert', cluster.certs.ca, '--cert', cluster.certs.clientCert, '--key', cluster.certs.clientKey];
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/server/coffer.ts', ...flags, ...args], { cwd: repoRoot, timeout: 30_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
  });
}

function ok(run: Run): string {
  assert.equal(run.code, 0, `exit ${run.code}: ${run.stderr}`);
  assert.equal(run.stderr, '');
  return run.stdout;
}

before(async () => {
  cluster = await Cluster.start({ size: 1, backend: 'coffer' });
  await waitBootstrapped(cluster);
});

after(async () => {
  await cluster?.stop();
});

test('rotate --from-literal and --generate, versions, get --version, rollback --to', async () => {
  ok(await coffer(['secret', 'create', 'db', '-n', 'default', '--from-literal', 'password=first', '--from-literal', 'user=app']));
  assert.equal(ok(await coffer(['secret', 'rotate', 'db', '-n', 'default', '--from-literal', 'password=second'])), 'secret/db rotated\n');
  const rotated = ok(await coffer(['secret', 'rotate', 'db', '-n', 'default', '--generate', 'password:20:hex', '-o', 'json']));
  const generated = Buffer.from((JSON.parse(rotated) as { data: Record<string, string> }).data.password ?? '', 'base64').toString();
  assert.match(generated, /^[0-9a-f]{20}$/);

  const table = ok(await coffer(['secret', 'versions', 'db', '-n', 'default']));
  const rows = table.trim().split('\n');
  assert.match(rows[0] ?? '', /^VERSION\s+CREATED\s+CREATED BY\s+CURRENT$/);
  assert.equal(rows.length, 4);
  assert.match(rows[3] ?? '', /^3\s+\S+Z\s+admin\s+\*$/);
  assert.ok(!table.includes('first') && !table.includes(generated), 'no values in the versions table');

  const hidden = ok(await coffer(['secret', 'get', 'db', '-n', 'default', '--version', '1']));
  assert.match(hidden, /^Version:\s+1$/m);
  assert.match(hidden, /^password:\s+5 bytes$/m);
  const revealed = ok(await coffer(['secret', 'get', 'db', '-n', 'default', '--version', '2', '--reveal']));
  assert.match(revealed, /^password:\s+second$/m);

  assert.equal(ok(await coffer(['secret', 'rollback', 'db', '-n', 'default', '--to', '1'])), 'secret/db rolled back to the data of version 1\n');
  const current = ok(await coffer(['secret', 'get', 'db', '-n', 'default', '--reveal']));
  assert.match(current, /^password:\s+first$/m);
  assert.match(ok(await coffer(['secret', 'versions', 'db', '-n', 'default'])), /^4\s+\S+Z\s+admin\s+\*$/m);

  const both = await coffer(['secret', 'rotate', 'db', '-n', 'default', '--from-literal', 'a=b', '--generate', 'c']);
  assert.notEqual(both.code, 0);
  assert.match(both.stderr, /^coffer: .*either --from-literal or --generate/);
  const missing = await coffer(['secret', 'get', 'db', '-n', 'default', '--version', '9']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /no version 9/);
});
