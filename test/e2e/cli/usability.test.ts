// What a newcomer meets running `coffer` as a process against a real one-member cluster: values given
// on standard input or through a pipe (never in argv), stored values that cannot drive the terminal, a
// wrong --cacert said in words, the field manager the CLI's writes record, a short backup passphrase
// refused, help that lists every command with its full usage, and `coffer server` naming every missing
// flag at once. Each failure is one line on stderr.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrapCa, caLayout } from '../../../src/pki/index.ts';
import { Cluster, cofferEntry, repoRoot, waitBootstrapped } from '../../support/cluster/index.ts';

let cluster: Cluster;
let scratch: string;

interface Run { code: number; stdout: string; stderr: string }

function connectionFlags(): string[] {
  return ['--endpoints', cluster.clientUrl(0), '--cacert', cluster.certs.ca, '--cert', cluster.certs.clientCert, '--key', cluster.certs.clientKey];
}

/** Runs `program args`, with `env` added, from the checkout. */
function run(program: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(program, args, { cwd: repoRoot, timeout: 30_000, env: { ...process.env, ...env } },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
  });
}

/** `coffer args` against the cluster (no connection flags with `bare`). */
function coffer(args: string[], options: { bare?: boolean; env?: Record<string, string> } = {}): Promise<Run> {
  return run(process.execPath, ['--import', 'tsx', cofferEntry, ...(options.bare === true ? [] : connectionFlags()), ...args], options.env);
}

const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;
/** The coffer command line for a shell (bash: process substitution). */
const cofferLine = (args: string[]) => [process.execPath, '--import', 'tsx', cofferEntry, ...connectionFlags(), ...args].map(quote).join(' ');

function ok(result: Run): string {
  assert.equal(result.code, 0, `exit ${result.code}: ${result.stderr}`);
  return result.stdout;
}

/** A failed run: non-zero, exactly one line on stderr. Returns that line. */
function failed(result: Run): string {
  assert.notEqual(result.code, 0, `expected a failure, got: ${result.stdout}`);
  const lines = result.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one line on stderr: ${result.stderr}`);
  return lines[0] ?? '';
}

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'coffer-e2e-cli-usability-'));
  cluster = await Cluster.start({ size: 1, backend: 'coffer', faults: false });
  await waitBootstrapped(cluster);
});

after(async () => {
  await cluster?.stop();
  await rm(scratch, { recursive: true, force: true });
});

test('a secret value comes from standard input (/dev/stdin or -) or a pipe (<(…)), never from argv', async () => {
  ok(await run('sh', ['-c', `printf 'from-dev-stdin' | ${cofferLine(['secret', 'create', 'stdin1', '--from-file', 'password=/dev/stdin'])}`]));
  ok(await run('sh', ['-c', `printf 'from-dash' | ${cofferLine(['secret', 'create', 'stdin2', '--from-file', 'password=-', '--from-literal', 'user=app'])}`]));
  ok(await run('bash', ['-c', `${cofferLine(['secret', 'create', 'stdin3'])} --from-file password=<(printf 'from-a-pipe') </dev/null`]));
  const revealed = await Promise.all(['stdin1', 'stdin2', 'stdin3'].map(async (name) => ok(await coffer(['secret', 'get', name, '--reveal']))));
  assert.match(revealed[0] ?? '', /^password:\s+from-dev-stdin$/m);
  assert.match(revealed[1] ?? '', /^password:\s+from-dash$/m);
  assert.match(revealed[1] ?? '', /^user:\s+app$/m);
  assert.match(revealed[2] ?? '', /^password:\s+from-a-pipe$/m);

  const twice = failed(await run('sh', ['-c', `printf x | ${cofferLine(['secret', 'create', 'stdin4', '--from-file', 'a=-', '--from-file', 'b=/dev/stdin'])}`]));
  assert.equal(twice, 'coffer: --from-file reads standard input (- or /dev/stdin) at most once per command: it holds one value');
  const endless = failed(await run('sh', ['-c', `${cofferLine(['secret', 'create', 'stdin5', '--from-file', 'a=-'])} </dev/zero`]));
  assert.equal(endless, 'coffer: "-" holds more than the 1 MiB limit of --from-file');
});

test('get prints a stored value with lines as a block, and one with a terminal escape as base64 — configmap and secret alike', async () => {
  const pem = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
  const escape = '\u001b]0;pwned\u0007\u001b[2Jgotcha';
  ok(await coffer(['configmap', 'create', 'motd', '--from-literal', `banner=${escape}`, '--from-literal', `ca.crt=${pem}`]));
  ok(await coffer(['secret', 'create', 'tls-bundle', '--from-literal', `ca.crt=${pem}`, '--from-literal', `title=${escape}`]));
  const configMap = ok(await coffer(['configmap', 'get', 'motd']));
  const secret = ok(await coffer(['secret', 'get', 'tls-bundle', '--reveal']));
  for (const shown of [configMap, secret]) {
    assert.doesNotMatch(shown, /\u001b|\u0007/, 'no escape reaches the terminal'); // eslint-disable-line no-control-regex
    assert.match(shown, /^ca\.crt:\n----\n-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n$/m);
    assert.ok(shown.includes(`base64:${Buffer.from(escape).toString('base64')}`), shown);
  }
});

test('the CLI\'s writes record the field manager coffer in managedFields', async () => {
  ok(await coffer(['secret', 'create', 'managed', '--from-literal', 'a=b']));
  ok(await coffer(['secret', 'rotate', 'managed', '--from-literal', 'a=c']));
  const object = JSON.parse(ok(await coffer(['-o', 'json', 'secret', 'get', 'managed']))) as { metadata: { managedFields?: { manager: string }[] } };
  assert.deepEqual([...new Set((object.metadata.managedFields ?? []).map((e) => e.manager))], ['coffer']);
});

test('a --cacert of another CA is said in words, with the TLS code', async () => {
  const other = join(scratch, 'other-ca');
  await bootstrapCa({ dir: other, members: [], hosts: ['127.0.0.1'], admin: 'admin' });
  const layout = caLayout(other);
  const line = failed(await coffer(['--endpoints', cluster.clientUrl(0), '--cacert', layout.caCert, '--cert', layout.clientCert('admin'), '--key', layout.clientKey('admin'), 'secret', 'list'], { bare: true }));
  assert.match(line, /^coffer: https:\/\/127\.0\.0\.1:\d+: cannot connect: the member's certificate was not issued by the CA in --cacert \(COFFER_CACERT\): give the CA of the cluster you mean to reach \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)\)$/);
});

test('rotate without a source says what to give; a --generate length out of range names the limit, however long', async () => {
  assert.equal(failed(await coffer(['secret', 'rotate', 'managed'])), 'coffer: give the new values: --from-literal KEY=VALUE or --generate KEY[:LENGTH[:CHARSET]] (each repeatable)');
  for (const length of ['0', '99999999']) {
    assert.equal(failed(await coffer(['secret', 'rotate', 'managed', '--generate', `password:${length}`])), `coffer: --generate "password:${length}": the length must be from 1 to 4096 characters`);
  }
});

test('render --dir that cannot be made is one plain line: a parent that is no directory, or /proc (which hangs node\'s recursive mkdir)', async () => {
  ok(await coffer(['secret', 'create', 'rendered', '--from-literal', 'k=v']));
  assert.equal(failed(await coffer(['render', '--secret', 'rendered', '--dir', '/dev/null/x', '--once'])), 'coffer: cannot use --dir /dev/null/x: /dev/null is not a directory');
  assert.match(failed(await coffer(['render', '--secret', 'rendered', '--dir', '/proc/coffer-nope', '--once'])),
    /^coffer: cannot create --dir \/proc\/coffer-nope: (\/proc takes no new directory \(ENOENT\)|permission denied \(EACCES\))$/);
});

test('snapshot save refuses a one-character passphrase in one line, before asking a member', async () => {
  const line = failed(await coffer(['snapshot', 'save', join(scratch, 'short.cbk')], { env: { COFFER_BACKUP_PASSPHRASE: 'x' } }));
  assert.equal(line, 'coffer: the backup passphrase (COFFER_BACKUP_PASSPHRASE) is 1 character; a new backup needs at least 12: a backup file can be attacked offline');
});

test('help lists server and snapshot restore, whose own help shows the full usage', async () => {
  assert.match(ok(await coffer(['--help'], { bare: true })), /^ {2}server\s+run a Coffer member/m);
  assert.match(ok(await coffer(['snapshot', '--help'], { bare: true })), /^ {2}restore <file>\s+/m);
  for (const args of [['server', '--help'], ['help', 'server']]) assert.match(ok(await coffer(args, { bare: true })), /^Usage: coffer server \[options\]$/m, args.join(' '));
  for (const args of [['snapshot', 'restore', '--help'], ['snapshot', 'help', 'restore']]) {
    assert.match(ok(await coffer(args, { bare: true })), /^Usage: coffer snapshot restore \[options\] <file>$/m, args.join(' '));
  }
  assert.match(ok(await coffer(['audit', 'verify', '--data-dir', 'x', '--help'], { bare: true })), /^Usage: coffer audit verify \[options\]$/m);
});

test('coffer server names every missing flag in one line', async () => {
  const result = await coffer(['server', '--name', 'm4', '--join'], { bare: true, env: { COFFER_UNSEAL_PASSPHRASE: '' } });
  assert.equal(result.code, 1);
  assert.equal(result.stderr, 'coffer server: config: missing --data-dir, --listen-client, --listen-peer, --cert, --key, --cacert, --member-id (with --join), '
    + '--cluster-id (with --join) and one of --unseal-key-file, --passphrase-file, --kms-socket or COFFER_UNSEAL_PASSPHRASE (see coffer server --help)\n');
});
