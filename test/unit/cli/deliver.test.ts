/**
 * The parts of `coffer exec` and `coffer render` that need no cluster: variable names and the
 * environment they make, templates, and the directory of files — each refusal naming keys and
 * sources, never a value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectoryWriter } from '../../../src/cli/deliver/directory.ts';
import { variableName, variablesOf, withoutCredentials } from '../../../src/cli/deliver/environment.ts';
import { parseSource, type Source, type SourceValues } from '../../../src/cli/deliver/sources.ts';
import { parseTemplate, renderTemplate } from '../../../src/cli/deliver/template.ts';
import { CliError } from '../../../src/cli/errors.ts';

const db: Source = { kind: 'secret', name: 'db', namespace: 'default', prefix: '' };
const app: Source = { kind: 'configmap', name: 'app', namespace: 'default', prefix: 'APP_' };

function values(source: Source, entries: Record<string, string | Buffer>): SourceValues {
  return { source, resourceVersion: '7', stage: 'current', values: new Map(Object.entries(entries).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v)])) };
}

const refused = (pattern: RegExp, secret: string) => (error: unknown) => error instanceof CliError && pattern.test(error.message) && !error.message.includes(secret);

test('variable names are upper-cased, sanitised, prefixed, and never start with a digit', () => {
  assert.equal(variableName('', 'password'), 'PASSWORD');
  assert.equal(variableName('', 'db-user.name'), 'DB_USER_NAME');
  assert.equal(variableName('', '1st'), '_1ST');
  assert.equal(variableName('db_', 'password'), 'DB_PASSWORD');
  assert.equal(variableName('', 'tls.crt'), 'TLS_CRT');
});

test('--secret NAME:PREFIX takes a prefix that can start a variable name', () => {
  assert.deepEqual(parseSource('secret', 'db:DB_', 'team-a'), { kind: 'secret', name: 'db', namespace: 'team-a', prefix: 'DB_' });
  assert.deepEqual(parseSource('configmap', 'app', 'default'), { kind: 'configmap', name: 'app', namespace: 'default', prefix: '' });
  assert.throws(() => parseSource('secret', 'db:1X', 'default'), /the prefix must be letters, digits and "_", not starting with a digit/);
  assert.throws(() => parseSource('secret', ':X', 'default'), /the name may not be empty/);
});

test('the environment refuses a collision, a NUL byte and bytes that are not UTF-8, naming the key only', () => {
  assert.deepEqual([...variablesOf([values(db, { password: 's3cret' }), values(app, { mode: 'fast' })], {})], [['PASSWORD', 's3cret'], ['APP_MODE', 'fast']]);
  assert.throws(() => variablesOf([values(db, { 'db-user': 'hidden-1', 'db.user': 'hidden-2' })], {}),
    refused(/key "db\.user" of secret default\/db and key "db-user" of secret default\/db would both set DB_USER: give one source a prefix/, 'hidden'));
  assert.throws(() => variablesOf([values(db, { blob: Buffer.from('nul-hidden\0') })], {}), refused(/key "blob" of secret default\/db holds a NUL byte/, 'nul-hidden'));
  assert.throws(() => variablesOf([values(db, { blob: Buffer.from([0xff, 0xfe]) })], {}), refused(/key "blob" of secret default\/db is not UTF-8 text/, '\uFFFD'));
});

test('a key may not choose what code the program runs (the loader, an interpreter, a shell, whom TLS trusts), nor replace exec\'s own variables, whatever its prefix', () => {
  const own = { PATH: '/usr/bin', HOME: '/home/op', DATABASE_URL: 'postgres://own' };
  // Whoever may edit a ConfigMap (and not read the Secret beside it) would otherwise pick the program exec starts.
  for (const [key, name] of <[string, string][]>[['path', 'PATH'], ['ld_preload', 'LD_PRELOAD'], ['LD.LIBRARY-PATH', 'LD_LIBRARY_PATH'], ['node_options', 'NODE_OPTIONS'],
    ['pythonpath', 'PYTHONPATH'], ['bash_env', 'BASH_ENV'], ['https_proxy', 'HTTPS_PROXY'], ['java_tool_options', 'JAVA_TOOL_OPTIONS'], ['dyld_insert_libraries', 'DYLD_INSERT_LIBRARIES']]) {
    assert.throws(() => variablesOf([values(db, { password: 'pw-hidden' }), values({ ...app, prefix: '' }, { [key]: 'chosen-hidden' })], own),
      refused(new RegExp(`key "${key.replace('.', '\\.')}" of configmap default/app would set ${name}, which chooses what code the program runs`), 'hidden'), name);
  }
  assert.throws(() => variablesOf([values({ ...app, prefix: 'LD_' }, { preload: '/tmp/x.so' })], {}), refused(/would set LD_PRELOAD/, '/tmp/x.so'), 'a prefix does not make one allowed');
  assert.throws(() => variablesOf([values({ ...db, prefix: 'DATABASE_' }, { url: 'postgres://hidden' })], own),
    refused(/key "url" of secret default\/db would replace DATABASE_URL of exec's own environment: give the source a prefix \(NAME:PREFIX\), or unset DATABASE_URL/, 'hidden'));
  assert.deepEqual([...variablesOf([values({ ...db, prefix: 'DB_' }, { path: '/data', home: '/srv' })], own)], [['DB_HOME', '/srv'], ['DB_PATH', '/data']], 'a prefix moves a key off them');
});

test('the environment exec starts its program from is its own less Coffer\'s credentials', () => {
  const own = {
    PATH: '/usr/bin', HOME: '/home/op', COFFER_ENDPOINTS: 'https://127.0.0.1:7443', COFFER_CACERT: 'certs/ca.crt',
    COFFER_UNSEAL_PASSPHRASE: 'u', COFFER_BACKUP_PASSPHRASE: 'b', COFFER_CA_PASSPHRASE: 'c', COFFER_P12_PASSWORD: 'p',
    COFFER_CERT: 'certs/clients/admin.crt', COFFER_KEY: 'certs/clients/admin.key',
  };
  assert.deepEqual(withoutCredentials(own), {
    PATH: '/usr/bin', HOME: '/home/op', COFFER_ENDPOINTS: 'https://127.0.0.1:7443', COFFER_CACERT: 'certs/ca.crt',
  });
  assert.equal(own.COFFER_KEY, 'certs/clients/admin.key', 'exec\'s own environment is left as it is');
});

test('a template fills its references and copies everything else; mistakes are named by line', () => {
  const template = parseTemplate('url = postgres://app:{{ secret "db" "password" }}@db\nmode={{configmap "app" "mode"}}\n{{ .Other }} stays\n', [db, app], 'app.tmpl');
  assert.equal(renderTemplate(template, [values(db, { password: 'pw' }), values(app, { mode: 'fast' })], 'app.tmpl').toString(),
    'url = postgres://app:pw@db\nmode=fast\n{{ .Other }} stays\n');
  assert.throws(() => parseTemplate('a\n{{ secret "other" "x" }}', [db], 't'), /^CliError: t:2: secret "other" is not given with --secret$/);
  assert.throws(() => parseTemplate('a\nb\n{{ secret db password }}', [db], 't'), /t:3: write a value as \{\{ secret "NAME" "KEY" \}\}/);
  const missing = parseTemplate('x {{ secret "db" "token" }}', [db], 't');
  assert.throws(() => renderTemplate(missing, [values(db, { password: 'pw-hidden' })], 't'), refused(/^t:1: secret default\/db has no key "token"$/, 'pw-hidden'));
});

test('a directory gets one 0600 file per key; a key gone loses its file; other files and bad keys', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-render-dir-'));
  try {
    await writeFile(join(dir, 'unrelated'), 'kept');
    const writer = new DirectoryWriter(dir);
    assert.equal(await writer.write([values(db, { password: 'one', user: 'app' })]), 2);
    assert.equal(await readFile(join(dir, 'password'), 'utf8'), 'one');
    assert.equal((await stat(join(dir, 'password'))).mode & 0o777, 0o600);
    await writer.write([values(db, { password: 'two' })]);
    assert.deepEqual((await readdir(dir)).sort(), ['password', 'unrelated']);
    assert.equal(await readFile(join(dir, 'password'), 'utf8'), 'two');
    await assert.rejects(writer.write([values(db, { '..': 'x' })]), /key "\.\." of secret default\/db cannot be a file name/);
    await assert.rejects(writer.write([values(db, { mode: 'a' }), values(app, { mode: 'b' })]),
      /key "mode" is in both secret default\/db and configmap default\/app: render them to different --dir/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a --dir that cannot be made is one plain line: a parent that is no directory, or one that takes none (procfs), never a hang', async () => {
  const writer = (dir: string) => new DirectoryWriter(dir).write([values(db, { password: 'one' })]);
  await assert.rejects(writer('/dev/null/x'), { message: 'cannot use --dir /dev/null/x: /dev/null is not a directory' });
  await assert.rejects(writer('/dev/null/x/y'), { message: 'cannot use --dir /dev/null/x/y: /dev/null is not a directory' });
  // node's recursive mkdir loops for ever here: /proc answers ENOENT for a new directory, though it exists.
  const proc = await Promise.race([writer('/proc/coffer-nope/sub').then(() => 'written', (error: unknown) => error), new Promise((resolve) => setTimeout(resolve, 5_000, 'hung'))]);
  assert.ok(proc instanceof CliError, String(proc));
  assert.match(proc.message, /^cannot create --dir \/proc\/coffer-nope\/sub: (\/proc takes no new directory \(ENOENT\)|permission denied \(EACCES\))$/, 'ENOENT as root, EACCES otherwise');
  const dir = await mkdtemp(join(tmpdir(), 'coffer-render-deep-'));
  try {
    assert.equal(await writer(join(dir, 'a', 'b')), 1);
    for (const made of [join(dir, 'a'), join(dir, 'a', 'b')]) assert.equal((await stat(made)).mode & 0o777, 0o700, made);
    assert.equal(await readFile(join(dir, 'a', 'b', 'password'), 'utf8'), 'one');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a --dir that is not this user\'s own private directory is refused in one line and nothing is written: writable by group or others, a symbolic link', async () => {
  const base = await mkdtemp(join(tmpdir(), 'coffer-render-theirs-'));
  const write = (dir: string) => new DirectoryWriter(dir).write([values(db, { password: 'pw-hidden' })]);
  try {
    for (const mode of [0o777, 0o1777, 0o770, 0o720]) {
      const dir = join(base, `mode-${mode.toString(8)}`);
      await mkdir(dir);
      await chmod(dir, mode);
      await assert.rejects(write(dir), refused(new RegExp(`^cannot use --dir ${dir}: it has mode 0${mode.toString(8)}: group or others may write to it, who then see`), 'pw-hidden'));
      assert.deepEqual(await readdir(dir), [], `nothing written in a ${mode.toString(8)} directory`);
    }
    const own = join(base, 'own');
    await mkdir(own, { mode: 0o700 });
    const link = join(base, 'link');
    await symlink(own, link);
    await assert.rejects(write(link), refused(new RegExp(`^cannot use --dir ${link}: it is a symbolic link`), 'pw-hidden'));
    assert.deepEqual(await readdir(own), []);
    assert.equal(await write(own), 1, 'this user\'s 0700 directory is used');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('a --dir another user made is refused in one line and nothing is written', { skip: process.geteuid?.() !== 0 && 'chown takes root' }, async () => {
  const base = await mkdtemp(join(tmpdir(), 'coffer-render-theirs-'));
  try {
    const dir = join(base, 'app-secrets');
    await mkdir(dir, { mode: 0o700 });
    await chown(dir, 65534, 65534); // "nobody", made it first
    await assert.rejects(new DirectoryWriter(dir).write([values(db, { password: 'pw-hidden' })]),
      refused(new RegExp(`^cannot use --dir ${dir}: it belongs to uid 65534, neither this user \\(uid 0\\) nor root`), 'pw-hidden'));
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});
