// `coffer server` as users run it: a real process, real certificates, real disk.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { access, chmod, lstat, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newPassphraseCharsMin } from '../../../src/config/index.ts';
import { createKeyFile, keyringFileName } from '../../../src/crypto/index.ts';
import { bootstrapCa, caLayout, issueClient, loadCa, revokeCertificate } from '../../../src/pki/index.ts';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
let dir: string;
let certs: ReturnType<typeof caLayout>;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coffer-server-'));
  certs = caLayout(join(dir, 'certs'));
  await bootstrapCa({ dir: certs.dir, members: ['m1'], hosts: ['127.0.0.1'], admin: 'admin', p12Password: 'test' });
  await createKeyFile(join(dir, 'unseal.key'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

interface Member { child: ChildProcess; clientUrl: string; output: () => string }

async function startServer(extra: string[] = [], unseal = ['--unseal-key-file', join(dir, 'unseal.key')], dataDir = join(dir, 'data')): Promise<Member> {
  const clientPort = await freePort();
  const peerPort = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/coffer.ts', 'server',
    '--name', 'm1', '--data-dir', dataDir,
    '--listen-client', `https://127.0.0.1:${clientPort}`, '--listen-peer', `https://127.0.0.1:${peerPort}`,
    '--cert', certs.memberCert('m1'), '--key', certs.memberKey('m1'), '--cacert', certs.caCert, '--crl', certs.crl,
    '--log-level', 'warn', '--tick-ms', '20', ...unseal, ...extra], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  return { child, clientUrl: `https://127.0.0.1:${clientPort}`, output: () => output };
}

async function raw(member: Member, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  const [ca, cert, key] = await Promise.all([readFile(certs.caCert), readFile(certs.clientCert('admin')), readFile(certs.clientKey('admin'))]);
  return new Promise((resolve, reject) => {
    const req = request(`${member.clientUrl}${path}`, { method, ca, cert, key }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => { text += chunk.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function call(member: Member, path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await raw(member, 'POST', path, body);
  return { status: response.status, body: JSON.parse(response.text) as Record<string, unknown> };
}

/** Waits for the member to print its serving line, then for /readyz to answer 200 (it can serve a request). */
async function ready(member: Member): Promise<void> {
  while (!member.output().includes('serving clients')) {
    if (member.child.exitCode !== null) throw new Error(`server exited: ${member.output()}`);
    await once(member.child.stdout!, 'data');
  }
  while ((await raw(member, 'GET', '/readyz')).status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('a member serves, stops cleanly on SIGTERM, and keeps its data sealed across a restart', async () => {
  // At info, the member logs how its store rebuilt the key index.
  const info = ['--log-level', 'info'];
  const first = await startServer(info);
  await ready(first);
  assert.match(first.output(), /"keyIndex":\{"from":"new store"\}.*"member started"/);
  const put = await call(first, '/v3/kv/put', { key: b64('durable'), value: b64('marker-7f3a9c') });
  assert.equal(put.status, 200);
  // At info, no line per request (the audit log records each); at debug, one when it comes and one when it ends.
  assert.doesNotMatch(first.output(), /"incoming request"|"request completed"/);
  first.child.kill('SIGTERM');
  const [code] = await once(first.child, 'exit') as [number | null];
  assert.equal(code, 0, `graceful stop exits 0; output: ${first.output()}`);

  // Nothing on disk holds the value in the clear.
  const files: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name)); else files.push(join(d, e.name));
    }
  };
  await walk(join(dir, 'data'));
  for (const file of files) {
    const bytes = await readFile(file);
    for (const needle of ['marker-7f3a9c', b64('marker-7f3a9c'), Buffer.from('marker-7f3a9c').toString('hex'), 'durable']) {
      assert.equal(bytes.includes(Buffer.from(needle)), false, `${needle} found in ${file}`);
    }
  }

  // The clean stop left the store's index checkpoint (sealed, so the scan above found no key in it).
  const second = await startServer(info);
  await ready(second);
  const fromCheckpoint = /"keyIndex":\{"from":"checkpoint","revision":(\d+),"pagesReplayed":(\d+)\}.*"member started"/;
  const [, checkpointRevision, replayedAfterStop] = fromCheckpoint.exec(second.output()) ?? [];
  assert.equal(replayedAfterStop, '0', `a clean stop's checkpoint is of its last revision; output: ${second.output()}`);
  const read = await call(second, '/v3/kv/range', { key: b64('durable') });
  assert.equal((read.body.kvs as Array<{ value: string }>)[0]?.value, b64('marker-7f3a9c'));

  // Metrics as Prometheus reads them: the format passes promtool, and the write above was counted.
  const metrics = await raw(second, 'GET', '/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.text, /^coffer_raft_has_leader 1$/m);
  assert.match(metrics.text, /^coffer_requests_total\{verb="post",resource="kv",code="200"\} \d+$/m);
  assert.match(metrics.text, /^coffer_certificate_expiry_seconds\{kind="member"\} \d/m);
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: metrics.text, encoding: 'utf8' });
  assert.equal(promtool.status, 0, `promtool: ${promtool.stdout}${promtool.stderr}`);

  // A member killed after more writes: the next start reads the same checkpoint and opens only the pages written since.
  assert.equal((await call(second, '/v3/kv/put', { key: b64('later'), value: b64('after-the-checkpoint') })).status, 200);
  second.child.kill('SIGKILL');
  await once(second.child, 'exit');
  const third = await startServer(['--log-level', 'debug']);
  await ready(third);
  const [, revisionAfterKill, replayedAfterKill] = fromCheckpoint.exec(third.output()) ?? [];
  assert.equal(revisionAfterKill, checkpointRevision, `output: ${third.output()}`);
  assert.ok(Number(replayedAfterKill) >= 1, `the put after the checkpoint is replayed; output: ${third.output()}`);
  const again = await call(third, '/v3/kv/range', { key: b64('durable') });
  assert.equal((again.body.kvs as Array<{ value: string }>)[0]?.value, b64('marker-7f3a9c'));
  const later = await call(third, '/v3/kv/range', { key: b64('later') });
  assert.equal((later.body.kvs as Array<{ value: string }>)[0]?.value, b64('after-the-checkpoint'));
  assert.match(third.output(), /"url":"\/v3\/kv\/range".*"incoming request"/);
  assert.match(third.output(), /"statusCode":200.*"request completed"/);
  third.child.kill('SIGTERM');
  await once(third.child, 'exit');
});

/** Every path under `root` (itself included) whose mode gives group or others any permission. */
async function openToOthers(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (path: string): Promise<void> => {
    const info = await lstat(path);
    if ((info.mode & 0o077) !== 0) found.push(`${(info.mode & 0o777).toString(8)} ${path}`);
    if (info.isDirectory()) for (const name of await readdir(path)) await walk(join(path, name));
  };
  await walk(root);
  return found;
}

test('nothing a member writes is open to group or others, and what an older version left open is closed at start', async () => {
  const dataDir = join(dir, 'data-modes');
  const traffic = async (member: Member, round: number) => {
    for (let i = 0; i < 50; i++) assert.equal((await call(member, '/v3/kv/put', { key: b64(`modes/${round}/${i}`), value: b64('x'.repeat(1000)) })).status, 200);
    const secret = await raw(member, 'POST', '/api/v1/namespaces/default/secrets', { metadata: { name: `modes-${round}` }, data: { k: b64('v') } });
    assert.equal(secret.status, 201, secret.text);
    assert.equal((await call(member, '/v3/kv/compaction', { revision: 10 * round })).status, 200);
  };
  const first = await startServer(['--data-dir', dataDir]);
  await ready(first);
  await traffic(first, 1);
  assert.deepEqual(await openToOthers(dataDir), [], 'while it runs');
  first.child.kill('SIGTERM');
  await once(first.child, 'exit');
  assert.deepEqual(await openToOthers(dataDir), [], 'after it stopped');

  // What earlier versions left: the store directory 0755 and its files 0644.
  for (const path of [dataDir, join(dataDir, 'mvcc')]) await chmod(path, 0o755);
  for (const name of await readdir(join(dataDir, 'mvcc'))) await chmod(join(dataDir, 'mvcc', name), 0o644);
  assert.notDeepEqual(await openToOthers(dataDir), []);
  const second = await startServer(['--data-dir', dataDir]);
  await ready(second);
  assert.deepEqual(await openToOthers(dataDir), [], 'closed at start');
  assert.match(second.output(), /data dir paths open to group or others were made owner-only/);
  await traffic(second, 2);
  assert.deepEqual(await openToOthers(dataDir), [], 'after more traffic');
  assert.equal((await lstat(dataDir)).mode & 0o777, 0o700);
  second.child.kill('SIGTERM');
  await once(second.child, 'exit');
});

test('a wrong unseal key is one clear error and the member does not start', async () => {
  const wrong = join(dir, 'wrong.key');
  await createKeyFile(wrong);
  const member = await startServer([], ['--unseal-key-file', wrong]);
  const [code] = await once(member.child, 'exit') as [number | null];
  assert.notEqual(code, 0);
  const lines = member.output().trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${member.output()}`);
  assert.match(lines[0] ?? '', /cannot unseal/);
});

test('a passphrase file others can read is refused with one line, and the member does not start', async () => {
  const loose = join(dir, 'loose.pass');
  await writeFile(loose, 'a passphrase others can read\n');
  await chmod(loose, 0o644); // whatever the umask made of it
  const member = await startServer([], ['--passphrase-file', loose]);
  const [code] = await once(member.child, 'exit') as [number | null];
  assert.notEqual(code, 0);
  assert.equal(member.output(), `coffer server: passphrase file ${loose} has mode 0644; it must be readable by its owner only (chmod 600 ${loose})\n`);
});

test('a first start with a passphrase shorter than newPassphraseCharsMin is refused with one line naming its length, and no keyring is made', async () => {
  const short = join(dir, 'short.pass');
  await writeFile(short, `${'p'.repeat(newPassphraseCharsMin - 1)}\n`, { mode: 0o600 });
  const dataDir = join(dir, 'data-short-passphrase');
  const member = await startServer([], ['--passphrase-file', short], dataDir);
  const [code] = await once(member.child, 'exit') as [number | null];
  assert.notEqual(code, 0);
  await assert.rejects(access(join(dataDir, keyringFileName)), { code: 'ENOENT' });
  assert.equal(member.output(), `coffer server: the passphrase is ${newPassphraseCharsMin - 1} characters; a new keyring needs at least ${newPassphraseCharsMin}: its file can be attacked offline\n`);
});

test('bad flags are refused with one line naming the flag', async () => {
  const member = await startServer(['--listen-peer', 'http://127.0.0.1:1']);
  const [code] = await once(member.child, 'exit') as [number | null];
  assert.notEqual(code, 0);
  assert.match(member.output(), /listenPeer: "http:\/\/127\.0\.0\.1:1" must be https:\/\/host:port/);
});

/** Waits for a member that must not start: its exit status and its one line of output. */
async function refused(member: Member): Promise<string> {
  const exited = once(member.child, 'exit') as Promise<[number | null]>;
  while (member.child.exitCode === null && !member.output().includes('serving clients')) await Promise.race([once(member.child.stdout!, 'data'), exited]);
  if (member.child.exitCode === null) {
    member.child.kill('SIGKILL');
    assert.fail(`the member started: ${member.output()}`);
  }
  const [code] = await exited;
  assert.notEqual(code, 0);
  const lines = member.output().trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${member.output()}`);
  return lines[0] ?? '';
}

const absent = (path: string) => access(path).then(() => false, () => true);

test('a member refuses another member\'s certificate, and the refused start writes nothing', async () => {
  const dataDir = join(dir, 'data-m9');
  const line = await refused(await startServer(['--name', 'm9'], undefined, dataDir));
  assert.match(line, /m1\.crt is the certificate of member "m1", not of "m9" \(--name\)/);
  assert.ok(await absent(dataDir), 'no data dir was made');
});

test('a port in use is named in one line, and the first start leaves no half-made data dir', async () => {
  const dataDir = join(dir, 'data-busy');
  const blocker = createServer().listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  const { port } = blocker.address() as { port: number };
  try {
    const line = await refused(await startServer(['--listen-client', `https://127.0.0.1:${port}`], undefined, dataDir));
    assert.match(line, new RegExp(`listenClient: cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`));
    assert.ok(await absent(dataDir), 'no keyring or identity left behind');
  } finally {
    blocker.close();
  }
});

test('a member logs whose certificate it refused, its serial and why', { timeout: 60_000 }, async () => {
  const ca = await loadCa(certs.dir);
  const carol = await issueClient(ca, { user: 'carol', groups: ['readers'], p12Password: 'test' });
  await revokeCertificate(ca, carol.serial);
  const member = await startServer([], undefined, join(dir, 'data-refusal'));
  await ready(member);
  const [caPem, cert, key] = await Promise.all([readFile(certs.caCert), readFile(certs.clientCert('carol')), readFile(certs.clientKey('carol'))]);
  const failure = await new Promise<Error & { code?: string }>((resolve, reject) => {
    const req = request(`${member.clientUrl}/api/v1/namespaces`, { ca: caPem, cert, key }, () => reject(new Error('a revoked certificate was answered')));
    req.on('error', resolve);
    req.end();
  });
  assert.equal(failure.code, 'ECONNRESET');
  while (!member.output().includes('client certificate refused')) await once(member.child.stdout!, 'data');
  const line = member.output().split('\n').find((l) => l.includes('client certificate refused')) ?? '';
  const logged = JSON.parse(line) as { subject?: string; serial?: string; reason?: string };
  assert.match(logged.subject ?? '', /CN=carol/);
  assert.equal(logged.serial, carol.serial);
  assert.equal(logged.reason, 'CERT_REVOKED');
  member.child.kill('SIGTERM');
  await once(member.child, 'exit');
});
