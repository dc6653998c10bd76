// Registry validation without a store: names, keys, Secret types, stringData merging, sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configMaps, namespaces, secrets, type StatusCause } from '../../../src/registry/index.ts';

const causesOf = (type: typeof secrets, body: Record<string, unknown>) => {
  const causes: StatusCause[] = [];
  const result = type.body(body, causes, { name: 'x', namespace: 'default' });
  return { causes, result };
};

test('names: DNS-1123 subdomain for Secrets and ConfigMaps, label for Namespaces', () => {
  assert.deepEqual(secrets.nameErrors('db.example-1'), []);
  assert.ok(secrets.nameErrors('Bad_Name').length > 0);
  assert.ok(secrets.nameErrors('a'.repeat(254)).length > 0);
  assert.deepEqual(namespaces.nameErrors('team-a'), []);
  assert.ok(namespaces.nameErrors('team.a').length > 0, 'a namespace is a label: no dots');
  assert.ok(namespaces.nameErrors('a'.repeat(64)).length > 0);
});

test('stringData is merged into data (stringData wins) and not kept', () => {
  const { causes, result } = causesOf(secrets, { data: { a: Buffer.from('old').toString('base64') }, stringData: { a: 'new', b: 'two' } });
  assert.deepEqual(causes, []);
  assert.deepEqual(result, { type: 'Opaque', data: { a: Buffer.from('new').toString('base64'), b: Buffer.from('two').toString('base64') } });
});

test('secret types require their keys', () => {
  const b = (s: string) => Buffer.from(s).toString('base64');
  assert.deepEqual(causesOf(secrets, { type: 'kubernetes.io/tls', data: { 'tls.crt': b('c'), 'tls.key': b('k') } }).causes, []);
  assert.equal(causesOf(secrets, { type: 'kubernetes.io/tls', data: { 'tls.crt': b('c') } }).causes[0]?.field, 'data[tls.key]');
  assert.deepEqual(causesOf(secrets, { type: 'kubernetes.io/basic-auth', stringData: { username: 'u' } }).causes, []);
  assert.equal(causesOf(secrets, { type: 'kubernetes.io/basic-auth' }).causes.length, 1);
  assert.equal(causesOf(secrets, { type: 'kubernetes.io/ssh-auth' }).causes[0]?.field, 'data[ssh-privatekey]');
  assert.deepEqual(causesOf(secrets, { type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': '{}' } }).causes, []);
  const notJson = causesOf(secrets, { type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': 'secret-stuff{' } });
  assert.equal(notJson.causes[0]?.field, 'data[.dockerconfigjson]');
  assert.equal(JSON.stringify(notJson.causes).includes('secret-stuff'), false, 'the message never quotes the value');
});

test('data keys, base64 and the 1 MiB limit', () => {
  assert.equal(causesOf(secrets, { data: { 'a b': 'YQ==' } }).causes[0]?.field, 'data[a b]');
  assert.equal(causesOf(secrets, { data: { a: 'YQ=' } }).causes[0]?.field, 'data[a]');
  assert.deepEqual(causesOf(configMaps, { data: { a: 'x'.repeat(1024 * 1024 - 1) } }).causes, []);
  assert.equal(causesOf(configMaps, { data: { a: 'x'.repeat(1024 * 1024) } }).causes[0]?.field, 'data');
  assert.equal(causesOf(configMaps, { data: { a: '1' }, binaryData: { a: 'YQ==' } }).causes[0]?.reason, 'FieldValueDuplicate');
});

test('a data key named __proto__ stays a key, never a prototype', () => {
  const body = JSON.parse('{"data":{"__proto__":"x","b":"y"}}') as Record<string, unknown>;
  const { causes, result } = causesOf(configMaps, body);
  assert.deepEqual(causes, []);
  assert.deepEqual(Object.keys(result.data as object).sort(), ['__proto__', 'b']);
  assert.equal(Object.getPrototypeOf(result.data), Object.prototype);
});

test('a binaryData key named __proto__ is no duplicate of a data key it does not have', () => {
  const { causes, result } = causesOf(configMaps, JSON.parse('{"data":{"a":"1"},"binaryData":{"__proto__":"eA=="}}') as Record<string, unknown>);
  assert.deepEqual(causes, []);
  assert.deepEqual([Object.keys(result.data as object), Object.keys(result.binaryData as object)], [['a'], ['__proto__']]);
  const both = causesOf(configMaps, JSON.parse('{"data":{"__proto__":"1"},"binaryData":{"__proto__":"eA=="}}') as Record<string, unknown>);
  assert.deepEqual(both.causes.map((c) => [c.field, c.reason]), [['data[__proto__]', 'FieldValueDuplicate']]);
});
