/**
 * What `coffer` says before it connects: endpoints that are not https:// URLs, and credentials a member
 * would refuse (a key that is not the certificate's, an expired or revoked certificate) — one line
 * each, saying what to do, with nothing sent. Also kubeconfig's refusal of a revoked user.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CliIo, runCli } from '../../../src/cli/index.ts';
import { bootstrapCa, caLayout, issueClient, loadCa, revokeCertificate } from '../../../src/pki/index.ts';

let dir: string;
let certs: ReturnType<typeof caLayout>;
let carolSerial: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coffer-cli-connection-'));
  certs = caLayout(join(dir, 'certs'));
  await bootstrapCa({ dir: certs.dir, members: ['m1'], hosts: ['127.0.0.1'], admin: 'admin', p12Password: 'test' });
  const ca = await loadCa(certs.dir);
  carolSerial = (await issueClient(ca, { user: 'carol', p12Password: 'test' })).serial;
  await revokeCertificate(ca, carolSerial);
  // Issued "ten days ago" for one day: expired nine days ago.
  await issueClient(ca, { user: 'dave', p12Password: 'test', days: 1, nowMs: Date.now() - 10 * 24 * 3600_000 });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function coffer(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { out: (t) => { stdout += t; }, err: (t) => { stderr += t; }, env: {} };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}

/** Exit 1 and exactly one line on stderr; returns it. */
async function oneLine(...args: string[]): Promise<string> {
  const run = await coffer(...args);
  assert.equal(run.code, 1, run.stdout + run.stderr);
  const lines = run.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, run.stderr);
  return lines[0] ?? '';
}

const as = (user: string) => ['--cacert', certs.caCert, '--cert', certs.clientCert(user), '--key', certs.clientKey(user)];

test('an endpoint without a scheme, with http:// or with a path says what to write', async () => {
  assert.equal(await oneLine(...as('admin'), '--endpoints', '127.0.0.1:7443', 'secret', 'list'),
    'coffer: endpoint "127.0.0.1:7443" (--endpoints) has no scheme: write https://127.0.0.1:7443');
  assert.equal(await oneLine(...as('admin'), '--endpoints', 'https://127.0.0.1:7443,http://127.0.0.1:7453', 'status'),
    'coffer: endpoint "http://127.0.0.1:7453" (--endpoints) uses http://: members speak only mutual TLS, write https://127.0.0.1:7453');
  assert.equal(await oneLine(...as('admin'), '--endpoints', 'https://127.0.0.1:7443/api', 'member', 'list'),
    'coffer: endpoint "https://127.0.0.1:7443/api" (--endpoints) must be https://host:port alone: write https://127.0.0.1:7443');
  let stderr = '';
  const code = await runCli([...as('admin'), 'secret', 'list'], { out: () => undefined, err: (t) => { stderr += t; }, env: { COFFER_ENDPOINTS: 'localhost:7443' } });
  assert.equal(code, 1);
  assert.equal(stderr, 'coffer: endpoint "localhost:7443" (COFFER_ENDPOINTS) has no scheme: write https://localhost:7443\n');
});

test('a key that is not the certificate\'s is named, with the flag to fix', async () => {
  const line = await oneLine('--cacert', certs.caCert, '--cert', certs.clientCert('admin'), '--key', certs.clientKey('carol'), 'secret', 'list');
  assert.match(line, /^coffer: key .*carol\.key does not match certificate .*admin\.crt: give the key issued with .*admin\.crt \(--key\)$/);
});

test('an expired certificate is refused before connecting, saying how to get a new one', async () => {
  const line = await oneLine(...as('dave'), 'secret', 'list');
  assert.match(line, /^coffer: certificate .*dave\.crt expired at \S+; a member refuses it: ask for a new one \(coffer ca issue --user dave --force\)$/);
});

test('a certificate revoked in the CRL beside the CA is refused before connecting', async () => {
  const line = await oneLine(...as('carol'), 'secret', 'get', 'db');
  assert.match(line, new RegExp(`^coffer: certificate .*carol\\.crt \\(user carol, serial ${carolSerial}\\) was revoked on \\S+ \\(.*crl\\.pem\\); ` +
    'a member refuses it: ask for a new one \\(coffer ca issue --user carol --force\\)$'));
});

test('kubeconfig refuses a revoked user without --force, and with it warns and writes the file 0600', async () => {
  const file = join(dir, 'carol.yaml');
  const refused = await oneLine('--cacert', certs.caCert, 'kubeconfig', '--user', 'carol', '--dir', certs.dir, '--file', file);
  assert.match(refused, /was revoked on .*; kubectl would be refused too \(--force writes the kubeconfig anyway\)$/);
  await assert.rejects(stat(file), { code: 'ENOENT' });
  const forced = await coffer('--cacert', certs.caCert, 'kubeconfig', '--user', 'carol', '--dir', certs.dir, '--file', file, '--force');
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stderr, /^coffer: warning: certificate .*carol\.crt .* was revoked on /);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
});
