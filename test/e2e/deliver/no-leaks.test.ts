// `coffer render` and `coffer exec` as users run them, against a one-member cluster: a value goes to the
// file or the program it was asked for and nowhere else — not through a symlink another local user
// planted beside the file — and exec's program gets none of the operator's Coffer credentials from
// exec's own environment.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { K8sClient } from '../../../src/client/index.ts';
import { Cluster, repoRoot, waitBootstrapped } from '../../support/cluster/index.ts';

let cluster: Cluster;
let admin: K8sClient;
let work: string;
const value = 'no-leaks-value-7f3a91';

before(async () => {
  cluster = await Cluster.start({ size: 1, backend: 'coffer', faults: false });
  await waitBootstrapped(cluster);
  work = await mkdtemp(join(tmpdir(), 'coffer-deliver-leaks-'));
  admin = new K8sClient({ endpoints: [cluster.clientUrl(0)], tls: cluster.clientTls() });
  await admin.create('secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default' },
    data: { password: Buffer.from(value).toString('base64') } }, { namespace: 'default' });
});

after(async () => {
  admin?.close();
  await cluster?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

/** Runs `coffer <args>` as the admin to its end, with `env` added to this process's environment. */
function coffer(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const clients = join(cluster.certs.dir, 'clients');
  const flags = ['--endpoints', cluster.clientUrl(0), '--cacert', cluster.certs.ca, '--cert', join(clients, 'admin.crt'), '--key', join(clients, 'admin.key')];
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/server/coffer.ts', ...flags, ...args], { cwd: repoRoot, timeout: 50_000, env: { ...process.env, ...env } },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr }));
  });
}

test('render --dir and --template --out write no value through a symlink planted at FILE.tmp, and leave no file a symlink', async () => {
  const elsewhere = join(work, 'elsewhere');
  const files = join(work, 'files');
  await mkdir(elsewhere);
  await mkdir(files, { mode: 0o700 });
  await symlink(join(elsewhere, 'password'), join(files, 'password.tmp'));
  const toDir = await coffer(['render', '--secret', 'db', '--dir', files, '--once']);
  assert.equal(toDir.code, 0, toDir.stderr);

  const template = join(work, 'app.conf.tmpl');
  const out = join(work, 'app.conf');
  await writeFile(template, 'password={{ secret "db" "password" }}\n');
  await symlink(join(elsewhere, 'app.conf'), `${out}.tmp`);
  const toOut = await coffer(['render', '--secret', 'db', '--template', template, '--out', out, '--once']);
  assert.equal(toOut.code, 0, toOut.stderr);

  assert.deepEqual(await readdir(elsewhere), [], 'a value went through a planted link');
  assert.ok((await lstat(join(files, 'password'))).isFile(), '<dir>/password is the planted link');
  assert.ok((await lstat(out)).isFile(), 'the --out file is the planted link');
  assert.equal(await readFile(join(files, 'password'), 'utf8'), value);
  assert.equal(await readFile(out, 'utf8'), `password=${value}\n`);
});

test('exec gives its program none of Coffer\'s credentials from its own environment (passphrases, COFFER_CERT, COFFER_KEY); the rest passes', async () => {
  const dump = join(work, 'env.json');
  const credentials = {
    COFFER_BACKUP_PASSPHRASE: 'backup-pass', COFFER_UNSEAL_PASSPHRASE: 'unseal-pass', COFFER_CA_PASSPHRASE: 'ca-pass',
    COFFER_P12_PASSWORD: 'p12-pass', COFFER_CERT: '/operator/admin.crt', COFFER_KEY: '/operator/admin.key',
  };
  const run = await coffer(['exec', '--secret', 'db:DB_', '--', process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(dump)}, JSON.stringify(process.env))`],
    { ...credentials, APP_SETTING: 'kept', COFFER_CACERT: cluster.certs.ca });
  assert.equal(run.code, 0, run.stderr);
  const env = JSON.parse(await readFile(dump, 'utf8')) as Record<string, string>;
  assert.equal(env.DB_PASSWORD, value, 'the program got its value');
  assert.deepEqual([env.APP_SETTING, env.COFFER_CACERT], ['kept', cluster.certs.ca], 'the rest of exec\'s environment passes');
  assert.deepEqual(Object.keys(credentials).filter((name) => name in env), [], 'credentials exec handed to its program');
});
