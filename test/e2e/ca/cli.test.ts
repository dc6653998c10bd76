// The real executables as users run them: scripts/bootstrap-ca.ts and `coffer ca …` (src/server/coffer.ts)
// in child processes — exit status, what they print, one-line errors, and what they leave on disk.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bootstrapScript = join(repo, 'scripts/bootstrap-ca.ts');
const cofferMain = join(repo, 'src/server/coffer.ts');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function node(script: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    // Only the variables a test sets reach the child: none inherited from the developer's shell.
    const childEnv = { ...process.env };
    delete childEnv.COFFER_CA_PASSPHRASE;
    delete childEnv.COFFER_P12_PASSWORD;
    Object.assign(childEnv, env);
    execFile(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repo, env: childEnv }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const coffer = (args: string[], env?: Record<string, string>) => node(cofferMain, args, env);

function oneErrorLine(run: Run, pattern: RegExp): void {
  assert.notEqual(run.code, 0, `expected failure, got ${run.code}: ${run.stdout}`);
  const lines = run.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `stderr should be one line: ${run.stderr}`);
  assert.match(lines[0] ?? '', pattern);
}

let base: string;

before(async () => { base = await mkdtemp(join(tmpdir(), 'coffer-e2e-ca-')); });
after(async () => { await rm(base, { recursive: true, force: true }); });

test('bootstrap-ca creates the CA and prints what it made; a second run without --force fails and leaves the CA byte-identical', async () => {
  const dir = join(base, 'boot');
  const first = await node(bootstrapScript, ['--dir', dir, '--members', 'm1,m2,m3', '--hosts', '127.0.0.1,localhost', '--admin', 'admin', '--days', '30']);
  assert.equal(first.code, 0, first.stderr);
  for (const f of ['ca.crt', 'ca.key', 'crl.pem', 'members/m1.crt', 'members/m3.key', 'clients/admin.crt', 'clients/admin.key', 'clients/admin.p12']) {
    assert.ok(first.stdout.includes(join(dir, f)), `prints ${f}`);
  }
  const caFiles = ['ca.crt', 'ca.key', 'crl.pem', 'issued.json'];
  const before = await Promise.all(caFiles.map((f) => readFile(join(dir, f))));

  const second = await node(bootstrapScript, ['--dir', dir]);
  oneErrorLine(second, /^bootstrap-ca: .*ca\.crt already exists; pass --force to replace the CA/);
  const afterwards = await Promise.all(caFiles.map((f) => readFile(join(dir, f))));
  caFiles.forEach((f, i) => assert.ok(afterwards[i]?.equals(before[i] ?? Buffer.alloc(0)), `${f} unchanged`));

  const short = await node(bootstrapScript, ['--dir', dir, '--force'], { COFFER_CA_PASSPHRASE: 'pw' });
  oneErrorLine(short, /^bootstrap-ca: COFFER_CA_PASSPHRASE is 2 characters; a new CA key needs at least 12: ca\.key can be attacked offline$/);
  const untouched = await Promise.all(caFiles.map((f) => readFile(join(dir, f))));
  caFiles.forEach((f, i) => assert.ok(untouched[i]?.equals(before[i] ?? Buffer.alloc(0)), `${f} unchanged by a short passphrase`));

  const forced = await node(bootstrapScript, ['--dir', dir, '--force'], { COFFER_CA_PASSPHRASE: 'a CA passphrase' });
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, /ca\.key encrypted/);
  assert.notDeepEqual(await readFile(join(dir, 'ca.crt')), before[0]);
});

test('bootstrap-ca writes each member\'s unseal key, mode 0600, and keeps it when the CA is replaced', async () => {
  const dir = join(base, 'unseal');
  const first = await node(bootstrapScript, ['--dir', dir, '--members', 'm1,m2']);
  assert.equal(first.code, 0, first.stderr);
  const key = join(dir, 'members/m1.unseal.key');
  assert.ok(first.stdout.includes(key));
  assert.equal((await stat(key)).mode & 0o777, 0o600);
  assert.equal((await stat(join(dir, 'members/m2.unseal.key'))).size, 32);
  const before = await readFile(key);

  const forced = await node(bootstrapScript, ['--dir', dir, '--members', 'm1', '--force']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.ok(forced.stdout.includes(`${key} (kept: it opens the member's data)`));
  assert.ok((await readFile(key)).equals(before), 'the unseal key is never replaced');
});

test('bootstrap-ca refuses a bad member name before writing anything', async () => {
  const dir = join(base, 'bad');
  const run = await node(bootstrapScript, ['--dir', dir, '--members', 'Bad_Name']);
  oneErrorLine(run, /^bootstrap-ca: member name "Bad_Name" is not a DNS label/);
  await assert.rejects(readFile(join(dir, 'ca.crt')), { code: 'ENOENT' });
});

test('coffer ca init, issue, list, revoke work on one directory', async () => {
  const dir = join(base, 'cli');
  const init = await coffer(['ca', 'init', '--dir', dir]);
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stdout, /^created CA [0-9a-f]+ \(CN=Coffer CA, O=coffer\)/);

  const issue = await coffer(['ca', 'issue', '--dir', dir, '--user', 'bob', '--group', 'dev', '--group', 'ops']);
  assert.equal(issue.code, 0, issue.stderr);
  const serial = /serial ([0-9a-f]+)/.exec(issue.stdout)?.[1];
  assert.ok(serial);
  assert.match(issue.stdout, /the \.p12 password is in .*bob\.p12\.pass/);

  const member = await coffer(['ca', 'issue', '--dir', dir, '--member', 'm1', '--host', '127.0.0.1', '--host', 'localhost']);
  assert.equal(member.code, 0, member.stderr);
  assert.ok(member.stdout.includes(join(dir, 'members/m1.unseal.key')), 'the member\'s unseal key is made with its certificate');
  assert.equal((await stat(join(dir, 'members/m1.unseal.key'))).mode & 0o777, 0o600);

  const revoke = await coffer(['ca', 'revoke', serial.toUpperCase(), '--dir', dir]);
  assert.equal(revoke.code, 0, revoke.stderr);
  assert.match(revoke.stdout, new RegExp(`^revoked client bob \\(serial ${serial}\\); rewrote .*crl\\.pem`));

  const list = await coffer(['-o', 'json', 'ca', 'list', '--dir', dir]);
  assert.equal(list.code, 0, list.stderr);
  const records = JSON.parse(list.stdout) as { serial: string; kind: string; subject: string; revokedAt?: string }[];
  assert.deepEqual(records.map((r) => [r.kind, r.subject, r.revokedAt !== undefined]), [
    ['ca', 'CN=Coffer CA, O=coffer', false],
    ['client', 'CN=bob, O=dev, O=ops', true],
    ['member', 'CN=m1, O=coffer:members', false],
  ]);

  const table = await coffer(['ca', 'list', '--dir', dir]);
  assert.match(table.stdout, /^SERIAL\s+KIND\s+SUBJECT\s+NOT AFTER\s+REVOKED\n/);
  assert.match(table.stdout, new RegExp(`${serial}\\s+client\\s+CN=bob, O=dev, O=ops\\s+\\S+\\s+\\d{4}-`));
});

test('coffer ca errors are one line and exit non-zero', async () => {
  const dir = join(base, 'errors');
  assert.equal((await coffer(['ca', 'init', '--dir', dir])).code, 0);
  oneErrorLine(await coffer(['ca', 'init', '--dir', dir]), /^coffer: .*ca\.crt already exists; pass --force/);
  oneErrorLine(await coffer(['ca', 'revoke', 'abcdef', '--dir', dir]), /^coffer: no certificate with serial abcdef was issued by this CA$/);
  oneErrorLine(await coffer(['ca', 'issue', '--dir', join(base, 'nowhere'), '--user', 'x']), /^coffer: missing file: .*nowhere\/ca\.crt$/);
  oneErrorLine(await coffer(['ca', 'list', '--dir', join(base, 'nowhere')]), /^coffer: missing file: .*nowhere\/ca\.crt$/);
  oneErrorLine(await coffer(['ca', 'issue', '--dir', dir, '--user', 'u', '--member', 'm1']), /give exactly one of --user or --member/);
  oneErrorLine(await coffer(['ca', 'issue', '--dir', dir, '--member', 'm1']), /^coffer: a member certificate needs at least one --host$/);
  oneErrorLine(await coffer(['ca', 'issue', '--dir', dir, '--user', 'u', '--group', 'coffer:members']), /^coffer: group "coffer:members" is reserved/);
});
