/**
 * The pure parts of `coffer secret | configmap | namespace | policy | watch`: parsing of
 * --from-literal / --from-file / -n / -A, AGE, and what each view prints — above all, that a Secret's
 * values appear only when revealed and a watch line never carries one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { K8sObject } from '../../../src/client/index.ts';
import { configMapTable, describeConfigMap } from '../../../src/cli/commands/configmap.ts';
import {
  age, namespaceOf, parseFileSource, parseLiteral, readSources, redactedAnnotation,
} from '../../../src/cli/commands/k8s-common.ts';
import { CliError } from '../../../src/cli/errors.ts';
import { runCli } from '../../../src/cli/index.ts';
import { namespaceTable } from '../../../src/cli/commands/namespace.ts';
import { policyTable } from '../../../src/cli/commands/policy.ts';
import { describeSecret, secretTable } from '../../../src/cli/commands/secret.ts';
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
    await assert.rejects(readSources([], [`x=${join(dir, 'missing')}`]), /cannot read ".*missing": ENOENT/);
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
