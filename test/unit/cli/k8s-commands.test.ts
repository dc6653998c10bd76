/**
 * The pure parts of `coffer secret | configmap | namespace | policy | watch`: parsing of
 * --from-literal / --from-file / -n / -A, AGE, and what each view prints — above all, that a Secret's
 * values appear only when revealed and a watch line never carries one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { K8sObject } from '../../../src/client/index.ts';
import { newPassphraseCharsMin, cliFromFileBytesMax, generatedValueCharsMax, parseServerConfig, type RawServerConfig } from '../../../src/config/index.ts';
import { configMapTable, describeConfigMap } from '../../../src/cli/commands/configmap.ts';
import { startCommand } from '../../../src/cli/commands/member.ts';
import { checkNewPassphrase } from '../../../src/cli/commands/snapshot.ts';
import { shownValue } from '../../../src/cli/shown.ts';
import {
  age, namespaceOf, parseFileSource, parseLiteral, readSources, redactedAnnotation,
} from '../../../src/cli/commands/k8s-common.ts';
import { CliError } from '../../../src/cli/errors.ts';
import { runCli } from '../../../src/cli/index.ts';
import { namespaceTable } from '../../../src/cli/commands/namespace.ts';
import { policyTable } from '../../../src/cli/commands/policy.ts';
import { describeSecret, parseGenerate, secretTable } from '../../../src/cli/commands/secret.ts';
import { formatEvent } from '../../../src/cli/commands/watch.ts';

const now = Date.parse('2026-01-01T12:00:00Z');
const b64 = (text: string) => Buffer.from(text).toString('base64');

function secret(name: string, data: Record<string, string> | undefined, extra: Partial<K8sObject> = {}): K8sObject {
  return {
    apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
    metadata: { name, namespace: 'default', resourceVersion: '12', creationTimestamp: '2026-01-01T11:55:00Z' },
    ...(data ? { data } : {}), ...extra,
  };
}

test('--from-literal splits at the first "=" and never echoes the argument in its error', () => {
  assert.deepEqual(parseLiteral('password=a=b'), { key: 'password', value: 'a=b' });
  assert.deepEqual(parseLiteral('empty='), { key: 'empty', value: '' });
  for (const bad of ['hunter2', '=hunter2']) {
    assert.throws(() => parseLiteral(bad), (e: unknown) => e instanceof CliError && !e.message.includes('hunter2'));
  }
});

test('--from-file takes key=path or a path whose file name is the key', () => {
  assert.deepEqual(parseFileSource('tls.crt=/tmp/x/cert.pem'), { key: 'tls.crt', path: '/tmp/x/cert.pem' });
  assert.deepEqual(parseFileSource('/tmp/x/cert.pem'), { key: 'cert.pem', path: '/tmp/x/cert.pem' });
  assert.throws(() => parseFileSource('=/tmp/x'), CliError);
  assert.throws(() => parseFileSource('k='), CliError);
});

test('readSources reads literals and files, refuses a key given twice and a missing file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-cli-sources-'));
  try {
    await writeFile(join(dir, 'token'), 'from-file');
    const entries = await readSources(['a=1'], [join(dir, 'token')]);
    assert.deepEqual([...entries].map(([k, v]) => `${k}=${v.toString()}`), ['a=1', 'token=from-file']);
    await assert.rejects(readSources(['a=1', 'a=2'], []), /key "a" is given more than once/);
    await assert.rejects(readSources([], [`x=${join(dir, 'missing')}`]), /cannot read ".*missing": no such file or directory \(ENOENT\)$/);
    await assert.rejects(readSources([], [`x=${dir}`]), /is not a file/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('-n defaults to "default", -A means every namespace, both together is an error', () => {
  assert.equal(namespaceOf({}), 'default');
  assert.equal(namespaceOf({ namespace: 'team-a' }), 'team-a');
  assert.equal(namespaceOf({ allNamespaces: true }), undefined);
  assert.throws(() => namespaceOf({ namespace: 'x', allNamespaces: true }), /either -n or -A/);
});

test('AGE is short, as kubectl prints it', () => {
  assert.equal(age('2026-01-01T11:59:15Z', now), '45s');
  assert.equal(age('2026-01-01T11:48:00Z', now), '12m');
  assert.equal(age('2026-01-01T07:00:00Z', now), '5h');
  assert.equal(age('2025-12-29T12:00:00Z', now), '3d');
  assert.equal(age('2023-12-01T12:00:00Z', now), '2y');
  assert.equal(age(undefined, now), '<unknown>');
});

test('secret get shows sizes, not values, unless revealed', () => {
  const object = secret('db', { password: b64('s3cret'), blob: Buffer.from([0, 1, 2, 255]).toString('base64') });
  const hidden = describeSecret(object, { reveal: false, nowMs: now });
  assert.match(hidden, /^Name:\s+db$/m);
  assert.match(hidden, /^Age:\s+5m$/m);
  assert.match(hidden, /^password:\s+6 bytes$/m);
  assert.match(hidden, /^blob:\s+4 bytes$/m);
  assert.ok(!hidden.includes('s3cret') && !hidden.includes(b64('s3cret')), hidden);
  const shown = describeSecret(object, { reveal: true, nowMs: now });
  assert.match(shown, /^password:\s+s3cret$/m);
  assert.match(shown, /^blob:\s+base64:AAEC\/w==$/m, 'binary values are shown as base64, never raw');
});

test('secret get of a value with control characters reveals it as base64, not raw to the terminal', () => {
  const shown = describeSecret(secret('x', { esc: b64('\u001b[2Jboom') }), { reveal: true, nowMs: now });
  assert.match(shown, new RegExp(`^esc:\\s+base64:${b64('\u001b[2Jboom').replace(/[+/=]/g, '\\$&')}$`, 'm'));
});

test('secret list counts keys, says <redacted> for a copy without data, and adds NAMESPACE with -A', () => {
  const items = [
    secret('db', { a: b64('1'), b: b64('2') }),
    secret('hidden', undefined, { metadata: { name: 'hidden', namespace: 'ops', creationTimestamp: '2026-01-01T11:00:00Z', annotations: { [redactedAnnotation]: 'true' } } }),
  ];
  const one = secretTable(items.slice(0, 1), { allNamespaces: false, nowMs: now });
  assert.equal(one, 'NAME  TYPE    DATA  AGE\ndb    Opaque  2     5m\n');
  const all = secretTable(items, { allNamespaces: true, nowMs: now });
  assert.match(all, /^NAMESPACE\s+NAME\s+TYPE\s+DATA\s+AGE$/m);
  assert.match(all, /^ops\s+hidden\s+Opaque\s+<redacted>\s+1h$/m);
  assert.match(describeSecret(items[1] as K8sObject, { reveal: true, nowMs: now }), /<redacted: you may list this Secret but not get it>/);
});

test('configmap views show values and count binaryData keys', () => {
  const cm: K8sObject = {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', namespace: 'default', creationTimestamp: '2026-01-01T11:59:00Z' },
    data: { mode: 'fast', multi: 'a\nb\n' }, binaryData: { logo: Buffer.from([1, 2, 3]).toString('base64') },
  };
  const shown = describeConfigMap(cm, now);
  assert.match(shown, /^mode:\n----\nfast\n$/m);
  assert.match(shown, /^multi:\n----\na\nb\n$/m);
  assert.match(shown, /^logo: 3 bytes$/m);
  assert.equal(configMapTable([cm], { allNamespaces: false, nowMs: now }), 'NAME  DATA  AGE\napp   3     1m\n');
});

test('namespace and policy tables', () => {
  assert.equal(namespaceTable([{ metadata: { name: 'default', creationTimestamp: '2026-01-01T10:00:00Z' }, status: { phase: 'Active' } }], now),
    'NAME     STATUS  AGE\ndefault  Active  2h\n');
  const table = policyTable([
    { kind: 'ClusterRole', metadata: { name: 'viewer', creationTimestamp: '2026-01-01T10:00:00Z' }, rules: [{}, {}] },
    {
      kind: 'RoleBinding', metadata: { name: 'rb', namespace: 'default', creationTimestamp: '2026-01-01T10:00:00Z' },
      roleRef: { kind: 'Role', name: 'getter' }, subjects: [{ kind: 'Group', name: 'readers' }, { kind: 'User', name: 'carol' }],
    },
  ], now);
  assert.match(table, /^KIND\s+NAMESPACE\s+NAME\s+RULES\s+ROLE\s+SUBJECTS\s+AGE$/m);
  assert.match(table, /^ClusterRole\s+viewer\s+2\s+2h$/m);
  assert.match(table, /^RoleBinding\s+default\s+rb\s+Role\/getter\s+Group:readers,User:carol\s+2h$/m);
});

test('a watch line carries type, namespace/name and resourceVersion — never data', () => {
  const event = { type: 'MODIFIED' as const, object: secret('db', { password: b64('s3cret') }) };
  assert.equal(formatEvent(event, 'table'), 'MODIFIED default/db 12\n');
  assert.deepEqual(JSON.parse(formatEvent(event, 'json')), { type: 'MODIFIED', namespace: 'default', name: 'db', resourceVersion: '12' });
  for (const format of ['table', 'json', 'yaml'] as const) {
    const line = formatEvent(event, format);
    assert.ok(!line.includes('s3cret') && !line.includes(b64('s3cret')), line);
  }
});

test('a --from-file over the limit is refused with the limit in words', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-cli-big-'));
  try {
    const big = join(dir, 'big.bin');
    await writeFile(big, Buffer.alloc(5 * 1024 * 1024 + 300));
    await assert.rejects(readSources([], [`blob=${big}`]), { message: `"${big}" is 5 MiB, over the 1 MiB limit of --from-file` });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('watch names only secrets or configmaps: a name every object inherits (constructor, toString, __proto__) is refused before connecting', async () => {
  for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
    let stderr = '';
    const code = await runCli(['watch', name], { out: () => undefined, err: (t) => { stderr += t; }, env: {} });
    assert.equal(code, 1, name);
    assert.equal(stderr, `coffer: cannot watch ${JSON.stringify(name)}: choose secrets or configmaps\n`);
  }
});

test('--from-file reads a value from standard input (- or /dev/stdin, once), a named pipe or a character device, within the limit', async () => {
  const stdin = (...chunks: string[]) => () => Readable.from(chunks.map((c) => Buffer.from(c)));
  const read = async (files: string[], input = stdin()) => [...await readSources([], files, input)].map(([k, v]) => `${k}=${v.toString()}`);
  assert.deepEqual(await read(['password=-'], stdin('s3', 'cret')), ['password=s3cret']);
  assert.deepEqual(await read(['password=/dev/stdin'], stdin('pw')), ['password=pw']);
  await assert.rejects(readSources([], ['a=-', 'b=/dev/stdin'], stdin('x')), { message: '--from-file reads standard input (- or /dev/stdin) at most once per command: it holds one value' });
  await assert.rejects(readSources([], ['-'], stdin('x')), /--from-file -: name the key the value from standard input goes to \(--from-file KEY=-\)/);
  await assert.rejects(readSources([], ['big=-'], stdin('x'.repeat(cliFromFileBytesMax), 'y')), { message: '"-" holds more than the 1 MiB limit of --from-file' });
  assert.deepEqual(await read(['full=-'], stdin('x'.repeat(cliFromFileBytesMax))), [`full=${'x'.repeat(cliFromFileBytesMax)}`], 'exactly the limit is taken');
  assert.deepEqual(await read(['empty=/dev/null']), ['empty='], 'a character device');
  await assert.rejects(readSources([], ['zero=/dev/zero']), { message: '"/dev/zero" holds more than the 1 MiB limit of --from-file' });

  const dir = await mkdtemp(join(tmpdir(), 'coffer-cli-fifo-'));
  try {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const [entries] = await Promise.all([readSources([], [`token=${fifo}`]), writeFile(fifo, 'from-a-pipe')]);
    assert.equal(entries.get('token')?.toString(), 'from-a-pipe');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a shown value: text when printable, a block when it has lines, base64 when it holds any other control character — for secrets and configmaps alike', () => {
  assert.equal(shownValue(Buffer.from('plain\ttab')), 'plain\ttab');
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  assert.equal(shownValue(Buffer.from(pem)), pem);
  for (const raw of ['\u001b[2Jboom', 'a\rb', 'bell\u0007', 'del\u007f', 'csi\u009b31m', 'line\n\u001b]0;title\u0007']) {
    assert.equal(shownValue(Buffer.from(raw)), `base64:${b64(raw)}`, JSON.stringify(raw));
  }
  const revealed = describeSecret(secret('tls', { 'ca.crt': b64(pem), token: b64('t0ken') }), { reveal: true, nowMs: now });
  assert.match(revealed, /^ca\.crt:\n----\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n\ntoken:\s+t0ken$/m);
  assert.match(describeSecret(secret('tls', { 'ca.crt': b64(pem) }), { reveal: false, nowMs: now }), /^ca\.crt:\s+\d+ bytes$/m, 'sizes only without --reveal');

  const cm: K8sObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'default' }, data: { motd: '\u001b[2Jowned', pem } };
  const shown = describeConfigMap(cm, now);
  assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(shown), 'no raw control character reaches the terminal'); // eslint-disable-line no-control-regex
  assert.match(shown, new RegExp(`^motd:\\n----\\nbase64:${b64('\u001b[2Jowned').replace(/[+/=]/g, '\\$&')}\\n$`, 'm'));
  assert.match(shown, /^pem:\n----\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n$/m);
});

test('--generate takes a length from 1 to the limit: too long or 0 is one range error naming the limit; rotate without a source says what to give', async () => {
  assert.deepEqual(parseGenerate('token:32:hex'), { key: 'token', length: 32, charset: 'hex' });
  for (const length of ['0', '99999999', '9'.repeat(40), String(generatedValueCharsMax + 1)]) {
    assert.throws(() => parseGenerate(`password:${length}`), { message: `--generate "password:${length}": the length must be from 1 to ${generatedValueCharsMax} characters` });
  }
  assert.equal(parseGenerate(`password:${generatedValueCharsMax}`).length, generatedValueCharsMax);
  assert.throws(() => parseGenerate('password:-1'), { message: '--generate "password:-1" must be key[:length[:charset]]' });
  const run = async (args: string[]) => {
    let err = '';
    const code = await runCli(args, { out: () => undefined, err: (t) => { err += t; }, env: {} });
    return { code, err };
  };
  assert.deepEqual(await run(['secret', 'rotate', 'db']), {
    code: 1, err: 'coffer: give the new values: --from-literal KEY=VALUE or --generate KEY[:LENGTH[:CHARSET]] (each repeatable)\n',
  });
  assert.deepEqual(await run(['secret', 'rotate', 'db', '--from-literal', 'a=b', '--generate', 'c']), {
    code: 1, err: 'coffer: give either --from-literal or --generate (one or more times), not both\n',
  });
});

test('snapshot save refuses a passphrase shorter than newPassphraseCharsMin before asking any member, without printing it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-cli-pass-'));
  try {
    for (const [passphrase, chars] of [['x', 1], ['ünïcødé-pw', 10], ['a'.repeat(newPassphraseCharsMin - 1), newPassphraseCharsMin - 1]] as const) {
      let err = '';
      const code = await runCli(['--endpoints', 'https://127.0.0.1:1', 'snapshot', 'save', join(dir, 'b.cbk')],
        { out: () => undefined, err: (t) => { err += t; }, env: { COFFER_BACKUP_PASSPHRASE: passphrase } });
      assert.equal(code, 1);
      assert.equal(err, `coffer: the backup passphrase (COFFER_BACKUP_PASSPHRASE) is ${chars} ${chars === 1 ? 'character' : 'characters'}; `
        + `a new backup needs at least ${newPassphraseCharsMin}: a backup file can be attacked offline\n`);
    }
    assert.doesNotThrow(() => checkNewPassphrase(Buffer.from('a'.repeat(newPassphraseCharsMin)), undefined));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('coffer --help lists server, coffer snapshot --help lists restore', async () => {
  const help = async (args: string[]) => {
    let out = '';
    await runCli(args, { out: (t) => { out += t; }, err: (t) => { out += t; }, env: {} });
    return out;
  };
  assert.match(await help(['--help']), /^ {2}server\s+run a Coffer member/m);
  assert.match(await help(['snapshot', '--help']), /^ {2}restore <file>\s+build a new member's data dir from a backup/m);
});

test('member add prints a start command that names every flag coffer server requires', () => {
  const text = startCommand({
    name: 'm4', memberId: '4', clusterId: 'abcdef0123456789', peerUrl: 'https://127.0.0.1:7474', clientUrl: undefined,
    initialCluster: 'm1=https://127.0.0.1:7444,m4=https://127.0.0.1:7474', caFile: 'certs/ca.crt',
  });
  const command = text.split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n').replace(/ \\\n\s*/g, ' ').trim();
  assert.equal(command, 'coffer server --name m4 --join --member-id 4 --cluster-id abcdef0123456789 --data-dir data/m4 '
    + '--listen-client https://127.0.0.1:7473 --listen-peer https://127.0.0.1:7474 --initial-cluster m1=https://127.0.0.1:7444,m4=https://127.0.0.1:7474 '
    + '--cert certs/members/m4.crt --key certs/members/m4.key --cacert certs/ca.crt'
    + (existsSync('certs/crl.pem') ? ' --crl certs/crl.pem' : '') + ' --unseal-key-file certs/members/m4.unseal.key');
  // What coffer server makes of those flags: every required one is there.
  const raw: RawServerConfig & Record<string, string | boolean> = {};
  const words = command.split(' ').slice(2);
  for (let i = 0; i < words.length; i++) {
    const flag = (words[i] ?? '').slice(2).replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
    if (flag === 'join') raw.join = true;
    else raw[flag] = words[++i] ?? '';
  }
  const config = parseServerConfig(raw, {});
  assert.equal(config.join, true);
  assert.equal(config.memberId, 4);
  assert.equal(config.listenClient.href, 'https://127.0.0.1:7473/');
  assert.match(text, /^ {2}# --listen-client: the peer port less one; coffer member add --client-url chooses it$/m);
  assert.match(startCommand({ name: 'm5', memberId: '5', clusterId: 'c', peerUrl: 'https://h:1', clientUrl: 'https://h:9', initialCluster: 'm5=https://h:1', caFile: '/my certs/ca.crt' }),
    /--listen-client https:\/\/h:9 .*--cacert '\/my certs\/ca\.crt'/s, 'the given client URL; a path with a space quoted');
});
