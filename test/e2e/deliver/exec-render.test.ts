// `coffer exec` and `coffer render` run as processes, as users run them, against a real three-member
// cluster: values as variables and files, changes followed (restart, signal, rewrite), the pending stage,
// failover when the member they talk to is killed, one-line refusals, and no value ever printed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { K8sClient, type K8sObject } from '../../../src/client/index.ts';
import { issueClient, loadCa, revokeCertificate } from '../../../src/pki/index.ts';
import { Cluster, repoRoot, waitBootstrapped } from '../../support/cluster/index.ts';
import { waitUntil } from '../../support/wait.ts';

let cluster: Cluster;
let admin: K8sClient;
let work: string;
let erinSerial: string;
const printed: string[] = [];

before(async () => {
  cluster = await Cluster.start({ size: 3, backend: 'coffer', faults: false });
  await waitBootstrapped(cluster);
  await cluster.waitPublished();
  work = await mkdtemp(join(tmpdir(), 'coffer-deliver-'));
  const ca = await loadCa(cluster.certs.dir);
  await issueClient(ca, { user: 'carol', groups: ['readers'], p12Password: 'test' });
  erinSerial = (await issueClient(ca, { user: 'erin', groups: ['readers'], p12Password: 'test' })).serial;
  await issueClient(ca, { user: 'dave', p12Password: 'test' });
  await revokeCertificate(ca, (await issueClient(ca, { user: 'mallory', groups: ['readers'], p12Password: 'test' })).serial);
  admin = new K8sClient({ endpoints: cluster.names.map((_, i) => cluster.clientUrl(i)), tls: cluster.clientTls() });
  await admin.create('roles', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'consumer', namespace: 'default' },
    rules: [{ apiGroups: [''], resources: ['secrets', 'configmaps'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['coffer.dev'], resources: ['secrets/versions'], verbs: ['get'] }],
  }, { namespace: 'default' });
  await admin.create('rolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'readers-consume', namespace: 'default' },
    subjects: [{ kind: 'Group', name: 'readers' }], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'consumer' },
  }, { namespace: 'default' });
});

after(async () => {
  admin?.close();
  await cluster?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

const b64 = (text: string) => Buffer.from(text).toString('base64');
const program = join(repoRoot, 'test/e2e/deliver/program.ts');

function flags(user: string): string[] {
  const clients = join(cluster.certs.dir, 'clients');
  return ['--endpoints', cluster.names.map((_, i) => cluster.clientUrl(i)).join(','), '--cacert', cluster.certs.ca,
    '--cert', join(clients, `${user}.crt`), '--key', join(clients, `${user}.key`)];
}

interface Running { child: ChildProcess; output: () => string; exited: Promise<number> }

/** `coffer <args>` as `user`, left running; everything it prints is kept for the no-value check. */
function coffer(args: string[], user = 'admin'): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/coffer.ts', ...flags(user), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => { output += chunk.toString(); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = once(child, 'exit').then(([code]) => {
    printed.push(output);
    return code as number;
  });
  return { child, output: () => output, exited };
}

/** Runs `coffer <args>` to its end. */
function cofferRun(args: string[], user = 'admin'): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/server/coffer.ts', ...flags(user), ...args], { cwd: repoRoot, timeout: 60_000 }, (error, stdout, stderr) => {
      printed.push(stdout + stderr);
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

/** Waits until `check` yields a value (polled; a bound keeps a broken run from hanging). */
function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<Exclude<T, undefined | false>> {
  return waitUntil(check, timeoutMs, what);
}

/** The program's event lines in `dir`. */
async function events(dir: string): Promise<string[]> {
  return (await readFile(join(dir, 'events.log'), 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
}

/** The n-th (from 1) start: its pid and variables. */
async function started(dir: string, n: number): Promise<{ pid: string; variables: Record<string, string> }> {
  return until(`start ${n} in ${dir}`, async () => {
    const line = (await events(dir)).filter((l) => l.startsWith('start '))[n - 1];
    if (line === undefined) return undefined;
    const [, pid = '', json = '{}'] = /^start (\d+) (.*)$/.exec(line) ?? [];
    return { pid, variables: JSON.parse(json) as Record<string, string> };
  });
}

async function scratch(name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

async function secret(name: string, data: Record<string, string>): Promise<void> {
  const body: K8sObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'default' }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) };
  await admin.create('secrets', body, { namespace: 'default' });
}

async function rotate(name: string, data: Record<string, string>, stage = false): Promise<void> {
  await admin.rotateSecret(name, { data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])), ...(stage ? { stage: true } : {}) }, { namespace: 'default' });
}

const fileText = (path: string) => readFile(path, 'utf8').catch(() => undefined);

test('a watch opens at once when nothing changes: the member sends its head before any event', async () => {
  const quick = new K8sClient({ endpoints: [cluster.clientUrl(1)], tls: cluster.clientTls(), requestTimeoutMs: 3_000 });
  try {
    const { metadata } = await quick.list('secrets', { namespace: 'default' });
    const watch = await quick.watch('secrets', { namespace: 'default', fieldSelector: 'metadata.name=quiet', resourceVersion: metadata.resourceVersion ?? '' });
    watch.close();
  } finally {
    quick.close();
  }
});

test('exec: values as upper-cased, sanitised, prefixed variables; a change restarts the program with the stop signal; the exit status passes through', async () => {
  await secret('app1', { password: 'exec-value-1', 'db-user': 'app', '1st.key': 'x' });
  await admin.create('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg1', namespace: 'default' }, data: { mode: 'fast' } }, { namespace: 'default' });
  const dir = await scratch('exec-restart');
  const exec = coffer(['exec', '--secret', 'app1:T_', '--configmap', 'cfg1:T_CFG_', '--stop-signal', 'USR1', '--grace-period', '5s', '--', process.execPath, '--import', 'tsx', program, dir]);
  const first = await started(dir, 1);
  assert.deepEqual(first.variables, { T_PASSWORD: 'exec-value-1', T_DB_USER: 'app', T_1ST_KEY: 'x', T_CFG_MODE: 'fast' });

  await rotate('app1', { password: 'exec-value-2' });
  const second = await started(dir, 2);
  assert.equal(second.variables.T_PASSWORD, 'exec-value-2');
  assert.ok((await events(dir)).includes(`SIGUSR1 ${first.pid}`), 'the first program was asked to stop with the stop signal');
  assert.match(exec.output(), /coffer exec: values changed \(secret default\/app1@\d+, configmap default\/cfg1@\d+\); restarting /);

  exec.child.kill('SIGTERM'); // passed on to the program, which exits 0
  assert.equal(await exec.exited, 0);
  assert.ok((await events(dir)).includes(`SIGTERM ${second.pid}`));

  const failing = await cofferRun(['exec', '--secret', 'app1', '--', process.execPath, '--import', 'tsx', program, dir, 'exit:3']);
  assert.equal(failing.code, 3);
  const missing = await cofferRun(['exec', '--secret', 'app1', '--', 'no-such-program-here']);
  assert.equal(missing.code, 127);
  assert.equal(missing.stderr, 'coffer: cannot run "no-such-program-here": ENOENT\n');
});

test('exec: a program that ignores the stop signal is killed after the grace period; signal:HUP signals instead of restarting', async () => {
  await secret('app2', { token: 'grace-1' });
  const stubborn = await scratch('exec-grace');
  const exec = coffer(['exec', '--secret', 'app2:T_', '--grace-period', '1s', '--', process.execPath, '--import', 'tsx', program, stubborn, 'ignore-term']);
  const first = await started(stubborn, 1);
  await rotate('app2', { token: 'grace-2' });
  assert.equal((await started(stubborn, 2)).variables.T_TOKEN, 'grace-2');
  assert.ok((await events(stubborn)).includes(`SIGTERM ${first.pid}`));
  assert.throws(() => process.kill(Number(first.pid), 0), { code: 'ESRCH' }, 'killed once the grace period was over');
  exec.child.kill('SIGUSR1'); // passed on: the program stops on it
  assert.equal(await exec.exited, 0);

  const hup = await scratch('exec-hup');
  const signaller = coffer(['exec', '--secret', 'app2:T_', '--on-change', 'signal:HUP', '--', process.execPath, '--import', 'tsx', program, hup]);
  const only = await started(hup, 1);
  await rotate('app2', { token: 'grace-3' });
  await until('SIGHUP', async () => ((await events(hup)).includes(`SIGHUP ${only.pid}`) ? true : undefined));
  assert.equal((await events(hup)).filter((l) => l.startsWith('start ')).length, 1, 'not restarted');
  signaller.child.kill('SIGTERM');
  assert.equal(await signaller.exited, 0);
});

test('render --dir writes each key as a 0600 file and keeps them current; --once writes and exits; --template fills a template', async () => {
  await secret('files1', { 'tls.key': 'render-value-1', user: 'app' });
  const dir = join(await scratch('render-dir'), 'out');
  const render = coffer(['render', '--secret', 'files1', '--dir', dir, '--check-interval', '1s']);
  assert.equal(await until('the first files', () => fileText(join(dir, 'tls.key'))), 'render-value-1');
  assert.equal((await stat(join(dir, 'tls.key'))).mode & 0o777, 0o600);
  await rotate('files1', { 'tls.key': 'render-value-2' });
  await until('the new value', async () => ((await fileText(join(dir, 'tls.key'))) === 'render-value-2' ? true : undefined));
  await admin.update('secrets', 'files1', { ...(await admin.get('secrets', 'files1', { namespace: 'default' })), data: { user: b64('app') } }, { namespace: 'default' });
  await until('the removed key\'s file to go', async () => ((await fileText(join(dir, 'tls.key'))) === undefined ? true : undefined));
  render.child.kill('SIGINT');
  assert.equal(await render.exited, 0);

  const once = join(await scratch('render-once'), 'out');
  const onceRun = await cofferRun(['render', '--secret', 'files1', '--dir', once, '--once']);
  assert.equal(onceRun.code, 0, onceRun.stderr);
  assert.equal(await fileText(join(once, 'user')), 'app');

  const templateDir = await scratch('render-template');
  const template = join(templateDir, 'app.conf.tmpl');
  await writeFile(template, 'user = {{ secret "files1" "user" }}\nmode = {{configmap "cfg1" "mode"}}\n# {{ other }} stays\n');
  const out = join(templateDir, 'app.conf');
  const rendered = await cofferRun(['render', '--secret', 'files1', '--configmap', 'cfg1', '--template', template, '--out', out, '--once']);
  assert.equal(rendered.code, 0, rendered.stderr);
  assert.equal(await readFile(out, 'utf8'), 'user = app\nmode = fast\n# {{ other }} stays\n');
  assert.equal((await stat(out)).mode & 0o777, 0o600);
  await writeFile(template, 'a\npassword = {{ secret "files1" "password" }}\n');
  const missingKey = await cofferRun(['render', '--secret', 'files1', '--template', template, '--out', out, '--once']);
  assert.equal(missingKey.code, 1);
  assert.equal(missingKey.stderr, `coffer: ${template}:2: secret default/files1 has no key "password"\n`);
});

test('exec and render refuse in one line, before any program runs, when they cannot authenticate or may not read', async () => {
  await secret('guarded', { password: 'guarded-value' });
  const dir = await scratch('exec-refused');
  const command = ['exec', '--secret', 'guarded', '--', process.execPath, '--import', 'tsx', program, dir];
  const revoked = await cofferRun(command, 'mallory');
  assert.equal(revoked.code, 1);
  assert.match(revoked.stderr, /^coffer: certificate .*mallory\.crt \(user mallory, serial [0-9a-f]+\) was revoked on \S+ \(.*crl\.pem\); a member refuses it: .*\n$/);
  const forbidden = await cofferRun(command, 'dave');
  assert.equal(forbidden.code, 1);
  assert.match(forbidden.stderr, /^coffer: cannot read secret default\/guarded: .*forbidden.*\n$/);
  // Whoever may edit a ConfigMap picks variable names: one that would choose the program exec runs is refused.
  await admin.create('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'hijack', namespace: 'default' }, data: { path: join(dir, 'bin') } }, { namespace: 'default' });
  const hijack = await cofferRun(['exec', '--configmap', 'hijack', '--secret', 'guarded', '--', process.execPath, '--import', 'tsx', program, dir]);
  assert.equal(hijack.code, 1);
  assert.equal(hijack.stderr, 'coffer: key "path" of configmap default/hijack would set PATH, which chooses what code the program runs or whom it trusts; exec never sets it from a value\n');
  const absent = await cofferRun(['render', '--secret', 'nope', '--dir', join(dir, 'x'), '--once'], 'carol');
  assert.equal(absent.code, 1);
  assert.equal(absent.stderr, 'coffer: secret default/nope not found\n');
  assert.deepEqual(await events(dir), [], 'the program never ran');
});

test('a consumer pinned to --stage pending takes the staged value; promote then moves everyone', async () => {
  await secret('db', { password: 'stage-old' });
  const dir = await scratch('stages');
  const pending = coffer(['render', '--secret', 'db', '--stage', 'pending', '--dir', join(dir, 'pending'), '--check-interval', '1s'], 'carol');
  const current = coffer(['render', '--secret', 'db', '--dir', join(dir, 'current'), '--check-interval', '1s'], 'carol');
  const exec = coffer(['exec', '--secret', 'db:T_', '--check-interval', '1s', '--', process.execPath, '--import', 'tsx', program, dir], 'carol');
  assert.equal((await started(dir, 1)).variables.T_PASSWORD, 'stage-old');
  await until('both renders', async () => ((await fileText(join(dir, 'pending', 'password'))) === 'stage-old'
    && (await fileText(join(dir, 'current', 'password'))) === 'stage-old' ? true : undefined));

  await rotate('db', { password: 'stage-new' }, true);
  await until('the pending render', async () => ((await fileText(join(dir, 'pending', 'password'))) === 'stage-new' ? true : undefined));
  assert.equal(await fileText(join(dir, 'current', 'password')), 'stage-old', 'the current stage is unchanged');
  assert.equal((await events(dir)).filter((l) => l.startsWith('start ')).length, 1, 'the program was not restarted');

  await admin.promoteSecret('db', { namespace: 'default' });
  assert.equal((await started(dir, 2)).variables.T_PASSWORD, 'stage-new');
  await until('the current render', async () => ((await fileText(join(dir, 'current', 'password'))) === 'stage-new' ? true : undefined));
  assert.equal(await fileText(join(dir, 'pending', 'password')), 'stage-new');
  for (const running of [pending, current, exec]) running.child.kill('SIGTERM');
  assert.deepEqual(await Promise.all([pending.exited, current.exited, exec.exited]), [0, 0, 0]);
});

test('a certificate revoked while exec runs stops the program and ends exec with one line', async () => {
  await secret('short-lived', { password: 'revocation-value' });
  const dir = await scratch('exec-revoked');
  const exec = coffer(['exec', '--secret', 'short-lived:T_', '--check-interval', '1s', '--', process.execPath, '--import', 'tsx', program, dir], 'erin');
  const only = await started(dir, 1);
  await revokeCertificate(await loadCa(cluster.certs.dir), erinSerial);
  assert.equal(await exec.exited, 1);
  const lines = exec.output().split('\n').filter((l) => l.startsWith('coffer: '));
  assert.equal(lines.length, 1, exec.output());
  assert.match(lines[0] ?? '', /^coffer: certificate .*erin\.crt .* was revoked on .*; stopped /);
  assert.ok((await events(dir)).includes(`SIGTERM ${only.pid}`), 'the program was stopped');
});

test('exec and render follow changes after the member they talk to is killed', async () => {
  await secret('ha', { password: 'ha-1' });
  const dir = await scratch('failover');
  const render = coffer(['render', '--secret', 'ha', '--dir', join(dir, 'files'), '--check-interval', '1s']);
  const exec = coffer(['exec', '--secret', 'ha:T_', '--', process.execPath, '--import', 'tsx', program, dir]);
  await started(dir, 1);
  await until('the file', () => fileText(join(dir, 'files', 'password')));
  await cluster.kill(0); // the first endpoint, the one both talk to
  await cluster.waitReady();
  await rotate('ha', { password: 'ha-2' });
  assert.equal((await started(dir, 2)).variables.T_PASSWORD, 'ha-2');
  await until('the file after failover', async () => ((await fileText(join(dir, 'files', 'password'))) === 'ha-2' ? true : undefined));
  assert.match(exec.output(), /coffer exec: .*127\.0\.0\.1.*; trying https:\/\/127\.0\.0\.1:\d+ next/);
  render.child.kill('SIGTERM');
  exec.child.kill('SIGTERM');
  assert.deepEqual(await Promise.all([render.exited, exec.exited]), [0, 0]);
  await cluster.restart(0);
});

test('the rotation demo: a rotated database password reaches the running app with zero failed requests', async () => {
  const demo = await scratch('demo');
  const clients = join(cluster.certs.dir, 'clients');
  const run = await new Promise<{ code: number; output: string }>((resolve) => {
    execFile('bash', ['scripts/rotation-demo.sh'], {
      cwd: repoRoot, timeout: 240_000,
      env: {
        ...process.env, DEMO_DIR: demo, COFFER: `${process.execPath} --import tsx src/server/coffer.ts`,
        COFFER_ENDPOINTS: cluster.names.map((_, i) => cluster.clientUrl(i)).join(','), COFFER_CACERT: cluster.certs.ca,
        COFFER_CERT: join(clients, 'admin.crt'), COFFER_KEY: join(clients, 'admin.key'),
      },
    }, (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, output: stdout + stderr }));
  });
  printed.push(run.output);
  assert.equal(run.code, 0, run.output);
  assert.match(run.output, /^rotation-demo: the app sent (\d+) requests: 0 failed; the database refused 0$/m);
  assert.match(run.output, /^the app was restarted with the new password$/m);
  assert.match(await readFile(join(demo, 'database.log'), 'utf8'), /accepting a new password/);
});

test('no value was ever printed by exec, render or the demo', () => {
  const all = printed.join('\n');
  for (const value of ['exec-value-1', 'exec-value-2', 'grace-1', 'grace-2', 'render-value-1', 'render-value-2', 'guarded-value', 'stage-old', 'stage-new', 'revocation-value', 'ha-1', 'ha-2']) {
    assert.ok(!all.includes(value), `${value} was printed`);
  }
});
