// The CA commands as users run them (scripts/bootstrap-ca.ts, `coffer ca …`, `coffer kubeconfig` in child
// processes) on a host with other local users: what another user planted in a directory they can write
// to — a symlink or a file at a temporary's name, an unseal key — is never written through, reused or
// kept, and the directories the commands create for keys are their user's alone whatever the umask.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, chown, lstat, mkdir, mkdtemp, open, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bootstrapScript = join(repo, 'scripts/bootstrap-ca.ts');
const cofferMain = join(repo, 'src/server/coffer.ts');

/**
 * Another local user ("nobody"). Files are given to them with chown, which takes root: the suite runs
 * as root, here and in CI. A caller that is not root cannot read another user's 0600 file at all; the
 * owner check itself is tested for every caller in test/unit/crypto/key-file.test.ts.
 */
const otherUid = 65534;
const isRoot = process.geteuid?.() === 0;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `script`; with `umask`, under that umask (a shell sets it, then becomes node). */
function node(script: string, args: string[], umask?: number): Promise<Run> {
  const argv = ['--import', 'tsx', script, ...args];
  const [file, fileArgs] = umask === undefined
    ? [process.execPath, argv]
    : ['/bin/sh', ['-c', `umask ${umask.toString(8).padStart(3, '0')}; exec "$0" "$@"`, process.execPath, ...argv]];
  // Only the variables a test sets reach the child: none inherited from the developer's shell.
  const env = { ...process.env };
  delete env.COFFER_CA_PASSPHRASE;
  delete env.COFFER_P12_PASSWORD;
  return new Promise((resolve) => {
    execFile(file, fileArgs, { cwd: repo, env }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

const coffer = (args: string[], umask?: number) => node(cofferMain, args, umask);

function oneErrorLine(run: Run, pattern: RegExp): void {
  assert.notEqual(run.code, 0, `expected failure, got ${run.code}: ${run.stdout}`);
  const lines = run.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `stderr should be one line: ${run.stderr}`);
  assert.match(lines[0] ?? '', pattern);
}

const exists = (path: string) => lstat(path).then(() => true, () => false);
const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`;

let base: string;

before(async () => { base = await mkdtemp(join(tmpdir(), 'coffer-e2e-ca-users-')); });
after(async () => { await rm(base, { recursive: true, force: true }); });

test('kubeconfig --file and ca issue write keys into new files: a symlink or a file held open at FILE.tmp gets nothing', async () => {
  const dir = join(base, 'planted-tmp');
  const boot = await node(bootstrapScript, ['--dir', dir]);
  assert.equal(boot.code, 0, boot.stderr);
  // Where the temporary's name used to be fixed, another user plants a link out of the directory…
  const shared = join(base, 'planted-shared');
  const elsewhere = join(base, 'planted-elsewhere');
  await mkdir(shared);
  await mkdir(elsewhere);
  await symlink(join(elsewhere, 'stolen.yaml'), join(shared, 'kube.yaml.tmp'));
  // …and a file open to all, which they keep open to read what is written into it.
  const planted = join(dir, 'clients', 'bob.key.tmp');
  await writeFile(planted, '');
  await chmod(planted, 0o666);
  const held = await open(planted, 'r');
  try {
    const kube = await coffer(['--cacert', join(dir, 'ca.crt'), 'kubeconfig', '--dir', dir, '--user', 'admin', '--file', join(shared, 'kube.yaml')]);
    assert.equal(kube.code, 0, kube.stderr);
    assert.deepEqual(await readdir(elsewhere), [], 'the kubeconfig, with the admin\'s private key, went through the planted link');
    assert.ok((await lstat(join(shared, 'kube.yaml'))).isFile(), 'kube.yaml is the planted link');

    const issue = await coffer(['ca', 'issue', '--dir', dir, '--user', 'bob']);
    assert.equal(issue.code, 0, issue.stderr);
    assert.match(await readFile(join(dir, 'clients/bob.key'), 'utf8'), /PRIVATE KEY/);
    assert.equal((await held.readFile()).length, 0, 'bob\'s private key was written into the file the other user holds open');
  } finally {
    await held.close();
  }
});

test('under umask 000, the directories bootstrap-ca, ca issue and kubeconfig create are 0700, certificates 0644; an existing directory keeps its mode', async () => {
  const dir = join(base, 'umask', 'certs');
  const boot = await node(bootstrapScript, ['--dir', dir], 0o000);
  assert.equal(boot.code, 0, boot.stderr);
  const member = await coffer(['ca', 'issue', '--dir', dir, '--member', 'm9', '--host', '127.0.0.1'], 0o000);
  assert.equal(member.code, 0, member.stderr);
  const shared = join(base, 'umask-shared');
  await mkdir(shared);
  await chmod(shared, 0o755);
  const kube = await coffer(['--cacert', join(dir, 'ca.crt'), 'kubeconfig', '--dir', dir, '--user', 'admin',
    '--file', join(shared, 'out', 'sub', 'kube.yaml')], 0o000);
  assert.equal(kube.code, 0, kube.stderr);
  const paths = [
    'umask', 'umask/certs', 'umask/certs/clients', 'umask/certs/members', 'umask-shared', 'umask-shared/out', 'umask-shared/out/sub',
    'umask/certs/ca.crt', 'umask/certs/clients/admin.crt', 'umask/certs/members/m9.crt',
    'umask/certs/ca.key', 'umask/certs/clients/admin.key', 'umask/certs/members/m9.key', 'umask/certs/members/m9.unseal.key', 'umask-shared/out/sub/kube.yaml',
  ];
  const modes = Object.fromEntries(await Promise.all(paths.map(async (p) => [p, octal((await stat(join(base, p))).mode)] as const)));
  assert.deepEqual(modes, {
    'umask': '0700', 'umask/certs': '0700', 'umask/certs/clients': '0700', 'umask/certs/members': '0700',
    'umask-shared': '0755', 'umask-shared/out': '0700', 'umask-shared/out/sub': '0700',
    'umask/certs/ca.crt': '0644', 'umask/certs/clients/admin.crt': '0644', 'umask/certs/members/m9.crt': '0644',
    'umask/certs/ca.key': '0600', 'umask/certs/clients/admin.key': '0600', 'umask/certs/members/m9.key': '0600',
    'umask/certs/members/m9.unseal.key': '0600', 'umask-shared/out/sub/kube.yaml': '0600',
  });
});

test('ca issue --member and bootstrap-ca refuse in one line an unseal key that is not the caller\'s own private file, and issue nothing', async () => {
  const dir = join(base, 'planted-key');
  const boot = await node(bootstrapScript, ['--dir', dir, '--members', 'm1']);
  assert.equal(boot.code, 0, boot.stderr);
  const key = join(dir, 'members', 'm2.unseal.key');
  const known = Buffer.alloc(32, 7); // a key whoever planted it knows
  const target = join(base, 'planted-key-target');
  await writeFile(target, known, { mode: 0o600 });
  const plants: { what: string; plant: () => Promise<void>; refusal: RegExp }[] = [
    ...(isRoot ? [{
      what: 'another user\'s 0600 file',
      plant: async () => {
        await writeFile(key, known, { mode: 0o600 });
        await chown(key, otherUid, otherUid);
      },
      refusal: new RegExp(`^coffer: key file .*m2\\.unseal\\.key belongs to uid ${otherUid}, not to this user \\(uid 0\\)`),
    }] : []),
    { what: 'a symlink', plant: () => symlink(target, key), refusal: /^coffer: cannot read key file .*m2\.unseal\.key \(ELOOP\)$/ },
    { what: 'a file others can read', plant: () => writeFile(key, known, { mode: 0o644 }), refusal: /^coffer: key file .*m2\.unseal\.key has mode 0644/ },
  ];
  for (const { what, plant, refusal } of plants) {
    await plant();
    const planted = await lstat(key);
    oneErrorLine(await coffer(['ca', 'issue', '--dir', dir, '--member', 'm2', '--host', '127.0.0.1']), refusal);
    assert.equal(await exists(join(dir, 'members', 'm2.crt')), false, `${what}: m2's certificate was issued`);
    const now = await lstat(key);
    assert.deepEqual([now.ino, now.uid, now.mode], [planted.ino, planted.uid, planted.mode], `${what}: the planted key was changed`);
    if (now.isSymbolicLink()) assert.equal(await readlink(key), target);
    else assert.ok((await readFile(key)).equals(known));
    await rm(key);
  }

  const { plant } = plants[0]!;
  await plant();
  const caBefore = await readFile(join(dir, 'ca.crt'));
  const forced = await node(bootstrapScript, ['--dir', dir, '--members', 'm2', '--force']);
  oneErrorLine(forced, /^bootstrap-ca: (key file|cannot read key file) .*m2\.unseal\.key/);
  assert.ok((await readFile(join(dir, 'ca.crt'))).equals(caBefore), 'the CA was replaced before the key was refused');
});
