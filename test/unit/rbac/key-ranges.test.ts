import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { type KeyRangeRequest, authorizeKeyRange, compilePolicy, parsePolicyYaml, parseRbacObject } from '../../../src/rbac/index.ts';
import { clusterRole, clusterRoleBinding, role, roleBinding } from './objects.ts';

const alice = { user: 'alice', groups: ['system:authenticated'] };
const ask = (verb: KeyRangeRequest['verb'], start: string, end?: string | null): KeyRangeRequest => ({ ...alice, verb, start, end });
const prefixRole = (verbs: string[], resourceNames?: string[]) =>
  compilePolicy([clusterRole('app-keys', [{ apiGroups: ['coffer.dev'], resources: ['kvkeys'], verbs, ...(resourceNames ? { resourceNames } : {}) }]),
    clusterRoleBinding('alice-app-keys', 'app-keys', ['User:alice'])]);

test('default deny: no rule on kvkeys grants no key, however the request is shaped', () => {
  const policy = compilePolicy([clusterRole('other', [{ apiGroups: ['coffer.dev'], resources: ['secrets'], verbs: ['*'] }]), clusterRoleBinding('b', 'other', ['User:alice'])]);
  for (const request of [ask('get', 'a'), ask('list', 'a', 'b'), ask('list', '', null), ask('watch', 'a'), ask('update', 'a'), ask('delete', 'a', 'b')]) {
    assert.equal(authorizeKeyRange(policy, request), false, JSON.stringify(request));
  }
});

test('a prefix grants exactly the keys that start with it, as single keys and as ranges inside it', () => {
  const policy = prefixRole(['get', 'list'], ['app/']);
  assert.equal(authorizeKeyRange(policy, ask('get', 'app/db')), true);
  assert.equal(authorizeKeyRange(policy, ask('get', 'app/')), true);
  assert.equal(authorizeKeyRange(policy, ask('list', 'app/', 'app0')), true, 'the prefix range itself');
  assert.equal(authorizeKeyRange(policy, ask('list', 'app/a', 'app/b')), true, 'a range inside it');
  assert.equal(authorizeKeyRange(policy, ask('get', 'app')), false, 'one byte shorter');
  assert.equal(authorizeKeyRange(policy, ask('get', 'app0')), false, 'the next key after the prefix');
  assert.equal(authorizeKeyRange(policy, ask('get', 'other/app/db')), false);
  assert.equal(authorizeKeyRange(policy, ask('list', 'app/', 'app1')), false, 'a range reaching past the prefix');
  assert.equal(authorizeKeyRange(policy, ask('list', 'app/', null)), false, 'a from-key read has no end');
  assert.equal(authorizeKeyRange(policy, ask('list', 'ap', 'app0')), false, 'a range starting before the prefix');
});

test('verbs are checked: a read grant does not write, watch or delete', () => {
  const policy = prefixRole(['get', 'list'], ['app/']);
  assert.equal(authorizeKeyRange(policy, ask('update', 'app/db')), false);
  assert.equal(authorizeKeyRange(policy, ask('delete', 'app/db')), false);
  assert.equal(authorizeKeyRange(policy, ask('watch', 'app/', 'app0')), false);
  assert.equal(authorizeKeyRange(prefixRole(['*'], ['app/']), ask('watch', 'app/', 'app0')), true);
});

test('no resourceNames covers every key, from-key reads included; several prefixes are each their own bound', () => {
  const everything = prefixRole(['list']);
  assert.equal(authorizeKeyRange(everything, ask('list', '', null)), true);
  const two = prefixRole(['list'], ['a/', 'b/']);
  assert.equal(authorizeKeyRange(two, ask('list', 'a/', 'a0')), true);
  assert.equal(authorizeKeyRange(two, ask('list', 'b/', 'b0')), true);
  assert.equal(authorizeKeyRange(two, ask('list', 'a/', 'b0')), false, 'two granted prefixes do not join into one range');
});

test('prefixes are UTF-8 and compared as bytes, up to the last byte value', () => {
  const latin1OfUtf8 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
  const policy = prefixRole(['get', 'list'], ['é/']);
  assert.equal(authorizeKeyRange(policy, ask('get', latin1OfUtf8('é/x'))), true);
  assert.equal(authorizeKeyRange(policy, ask('get', 'é/x')), false, 'the latin1 é is another byte');
  const top = prefixRole(['list'], ['\u00ff']);
  // The prefix "ÿ" is UTF-8 0xC3 0xBF: its range ends at 0xC3 0xC0.
  assert.equal(authorizeKeyRange(top, ask('list', '\u00c3\u00bf', '\u00c3\u00c0')), true);
  assert.equal(authorizeKeyRange(top, ask('list', '\u00c3\u00bf', null)), false);
});

test('a RoleBinding never grants key ranges: kvkeys is cluster-scoped', () => {
  const policy = compilePolicy([role('team-a', 'keys', [{ apiGroups: ['coffer.dev'], resources: ['kvkeys'], verbs: ['*'] }]),
    roleBinding('team-a', 'b', { kind: 'Role', name: 'keys' }, ['User:alice'])]);
  assert.equal(authorizeKeyRange(policy, ask('get', 'a')), false);
});

test('the README\'s kvkeys example is a valid ClusterRole that grants what the README says', async () => {
  const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
  const block = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).find((text) => text.includes('kvkeys'));
  assert.ok(block !== undefined, 'the README shows a kvkeys rule');
  const objects = parsePolicyYaml(block, 'README.md').map((d) => parseRbacObject(d.value));
  const name = objects[0]!.metadata.name;
  const policy = compilePolicy([...objects, clusterRoleBinding('alice-keys', name, ['User:alice'])]);
  assert.equal(authorizeKeyRange(policy, ask('get', 'app/config/db')), true);
  assert.equal(authorizeKeyRange(policy, ask('list', 'app/config/', 'app/config0')), true, 'etcdctl get app/config/ --prefix');
  assert.equal(authorizeKeyRange(policy, ask('list', 'a', 'b')), false, 'etcdctl get a --prefix');
  assert.equal(authorizeKeyRange(policy, ask('list', 'app/config/', null)), false, '--from-key');
});
