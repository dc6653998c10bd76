// `coffer secret versions | get --version|--stage | rotate [--stage] | promote | rollback` run as processes against a real
// one-member cluster over mutual TLS, as the admin user.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Cluster, repoRoot } from '../../support/cluster/index.ts';
import { waitBootstrapped } from '../../support/cluster/index.ts';

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
  assert.match(rows[0] ?? '', /^VERSION\s+STAGE\s+CREATED\s+CREATED BY$/);
  assert.equal(rows.length, 4);
  assert.match(rows[2] ?? '', /^2\s+previous\s+\S+Z\s+admin$/);
  assert.match(rows[3] ?? '', /^3\s+current\s+\S+Z\s+admin$/);
  assert.ok(!table.includes('first') && !table.includes(generated), 'no values in the versions table');

  const hidden = ok(await coffer(['secret', 'get', 'db', '-n', 'default', '--version', '1']));
  assert.match(hidden, /^Version:\s+1$/m);
  assert.match(hidden, /^password:\s+5 bytes$/m);
  const revealed = ok(await coffer(['secret', 'get', 'db', '-n', 'default', '--version', '2', '--reveal']));
  assert.match(revealed, /^password:\s+second$/m);

  assert.equal(ok(await coffer(['secret', 'rollback', 'db', '-n', 'default', '--to', '1'])), 'secret/db rolled back to the data of version 1\n');
  const current = ok(await coffer(['secret', 'get', 'db', '-n', 'default', '--reveal']));
  assert.match(current, /^password:\s+first$/m);
  assert.match(ok(await coffer(['secret', 'versions', 'db', '-n', 'default'])), /^4\s+current\s+\S+Z\s+admin$/m);

  const both = await coffer(['secret', 'rotate', 'db', '-n', 'default', '--from-literal', 'a=b', '--generate', 'c']);
  assert.notEqual(both.code, 0);
  assert.match(both.stderr, /^coffer: .*either --from-literal or --generate/);
  const missing = await coffer(['secret', 'get', 'db', '-n', 'default', '--version', '9']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /no version 9/);
});

test('rotate --stage leaves the Secret as it is, get --stage pending shows the staged value, promote makes it current', async () => {
  ok(await coffer(['secret', 'create', 'api', '-n', 'default', '--from-literal', 'token=one']));
  assert.equal(ok(await coffer(['secret', 'rotate', 'api', '-n', 'default', '--from-literal', 'token=two', '--stage'])),
    'secret/api staged (pending); promote it with: coffer secret promote api\n');
  assert.match(ok(await coffer(['secret', 'get', 'api', '-n', 'default', '--reveal'])), /^token:\s+one$/m, 'the Secret is unchanged');
  const pending = ok(await coffer(['secret', 'get', 'api', '-n', 'default', '--stage', 'pending', '--reveal']));
  assert.match(pending, /^Version:\s+2 \(pending\)$/m);
  assert.match(pending, /^token:\s+two$/m);
  const rows = ok(await coffer(['secret', 'versions', 'api', '-n', 'default'])).trim().split('\n');
  assert.match(rows[1] ?? '', /^1\s+current\s+/);
  assert.match(rows[2] ?? '', /^2\s+pending\s+/);

  assert.equal(ok(await coffer(['secret', 'promote', 'api', '-n', 'default'])), 'secret/api promoted\n');
  assert.match(ok(await coffer(['secret', 'get', 'api', '-n', 'default', '--reveal'])), /^token:\s+two$/m);
  const after = ok(await coffer(['secret', 'versions', 'api', '-n', 'default']));
  assert.match(after, /^1\s+previous\s+/m);
  assert.match(after, /^2\s+current\s+/m);

  const nothing = await coffer(['secret', 'promote', 'api', '-n', 'default']);
  assert.notEqual(nothing.code, 0);
  assert.equal(nothing.stderr, 'coffer: secret api has nothing staged to promote: stage new values first with ' +
    'coffer secret rotate api --stage (--generate KEY or --from-literal KEY=VALUE)\n');
  const badStage = await coffer(['secret', 'get', 'api', '-n', 'default', '--stage', 'next']);
  assert.notEqual(badStage.code, 0);
});
