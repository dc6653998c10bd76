import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { digestMatches, digestValue, redactValueBody } from '../../../src/audit/index.ts';
import { countDigests } from '../../../src/audit/digest.ts';
import { countingCrypto, hmacKey } from './helpers.ts';

const digestPattern = /hmac-sha256:[0-9a-f]{32}:[0-9a-f]{64}/g;

const otherKey = new Uint8Array(32).fill(7);

test('digestValue is HMAC-SHA256 of a fresh salt and the value under the audit key, as hmac-sha256:<salt hex>:<hex>', () => {
  const digest = digestValue(hmacKey, 'hunter2');
  const [, salt, macHex] = /^hmac-sha256:([0-9a-f]{32}):([0-9a-f]{64})$/.exec(digest) ?? [];
  assert.ok(salt !== undefined && macHex !== undefined, digest);
  assert.equal(macHex, createHmac('sha256', hmacKey).update(Buffer.from(salt, 'hex')).update('hunter2').digest('hex'));
  assert.ok(digestMatches(hmacKey, digest, 'hunter2'));
  assert.ok(digestMatches(hmacKey, digestValue(hmacKey, new TextEncoder().encode('hunter2')), 'hunter2'), 'bytes and their UTF-8 text digest alike');
  assert.ok(!digestMatches(otherKey, digest, 'hunter2'), 'another key');
  assert.ok(!digestMatches(hmacKey, digest, 'hunter3'), 'another value');
  assert.ok(!digestMatches(hmacKey, digest.slice(0, -1), 'hunter2'), 'a cut digest');
});

test('two digests of one value differ: without the key they tell nothing, not even equality', () => {
  const digests = new Set(Array.from({ length: 50 }, () => digestValue(hmacKey, '4821')));
  assert.equal(digests.size, 50);
  for (const digest of digests) assert.ok(digestMatches(hmacKey, digest, '4821'));
});

test('digestValue refuses a key shorter than 32 bytes', () => {
  assert.throws(() => digestValue(new Uint8Array(16), 'x'), /16 bytes is shorter than 32/);
});

test('a Secret body keeps its shape but every data and stringData value becomes a digest', () => {
  const body = {
    apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
    metadata: { name: 'db', namespace: 'default', labels: { app: 'db' } },
    data: { password: Buffer.from('s3cret').toString('base64'), removed: null },
    stringData: { token: 's3cret' },
  };
  const redacted = redactValueBody(body, hmacKey, 'secrets') as typeof body & { data: Record<string, unknown>; stringData: Record<string, unknown> };
  // data is digested over the decoded bytes, stringData over the UTF-8: both check against the same value.
  assert.ok(digestMatches(hmacKey, redacted.data.password, 's3cret'));
  assert.ok(digestMatches(hmacKey, redacted.stringData.token, 's3cret'));
  assert.equal(redacted.data.removed, null);
  assert.deepEqual(redacted.metadata, body.metadata);
  assert.equal(redacted.type, 'Opaque');
  // The input is left alone.
  assert.equal(body.stringData.token, 's3cret');
});

test('a member named __proto__ (JSON.parse makes it an own property) keeps its place, digested, at every level', () => {
  const body = JSON.parse(`{"kind":"Secret","data":{"__proto__":"${Buffer.from('s3cret').toString('base64')}"},"__proto__":{"token":"s3cret"}}`) as unknown;
  const redacted = redactValueBody(body, hmacKey, 'secrets') as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(redacted), ['kind', 'data', '__proto__']);
  assert.ok(digestMatches(hmacKey, Object.getOwnPropertyDescriptor(redacted.data, '__proto__')?.value as string, 's3cret'));
  assert.ok(digestMatches(hmacKey, (Object.getOwnPropertyDescriptor(redacted, '__proto__')?.value as Record<string, string>).token!, 's3cret'));
  assert.doesNotMatch(JSON.stringify(redacted), /s3cret|czNjcmV0/);
});

test('values nested in lists and version histories, and every annotation but Coffer settings, are digested too', () => {
  const lastApplied = JSON.stringify({ kind: 'Secret', data: { a: Buffer.from('s3cret').toString('base64') } });
  const body = {
    kind: 'SecretList',
    items: [{
      kind: 'Secret', data: { a: 'czNjcmV0' },
      metadata: { name: 'a', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied, note: 's3cret', 'coffer.dev/rotate-every': '24h' } },
    }],
    versions: [{ version: 1, data: { a: 'czNjcmV0' } }],
  };
  const text = JSON.stringify(redactValueBody(body, hmacKey, 'secrets'));
  assert.ok(!text.includes('czNjcmV0') && !text.includes('s3cret'), text);
  assert.ok(text.includes('"coffer.dev/rotate-every":"24h"'), 'Coffer settings stay readable');
  assert.ok(text.includes('"version":1'));
  const digests = text.match(/hmac-sha256:[0-9a-f]{32}:[0-9a-f]{64}/g) ?? [];
  assert.equal(digests.filter((d) => digestMatches(hmacKey, d, 's3cret')).length, 3, 'the data value and the annotation, twice');
});

test('redaction is by endpoint, not by body shape: JSON Patch, unknown fields and rotate bodies carry no value', () => {
  const patch = [
    { op: 'replace', path: '/data/pw', value: 'czNjcmV0' },
    { op: 'add', path: '/metadata/annotations/x', value: { nested: 's3cret' } },
    { op: 'test', path: '/type', value: 'Opaque' },
  ];
  const redactedPatch = redactValueBody(patch, hmacKey, 'secrets') as Array<{ op: string; path: string; value: unknown }>;
  assert.deepEqual(redactedPatch.map((o) => [o.op, o.path]), patch.map((o) => [o.op, o.path]), 'operations and paths stay');
  const odd = { spec: { password: 's3cret' }, list: ['s3cret'], number: 4242 };
  const rotate = { data: { pw: 'czNjcmV0' }, stage: true, generate: [{ key: 'token', length: 32, charset: 'alnum' }] };
  for (const body of [patch, odd, rotate]) {
    const text = JSON.stringify(redactValueBody(body, hmacKey, 'secrets'));
    assert.ok(!text.includes('czNjcmV0') && !text.includes('s3cret') && !text.includes('4242'), text);
  }
  assert.deepEqual((redactValueBody(rotate, hmacKey, 'secrets') as typeof rotate).generate, rotate.generate, 'a generate spec holds no value');
});

test('a key of a structural name is the user\'s below the body\'s shape: in a JSON Patch value, in an unknown field', () => {
  const value = 'czNjcmV0';
  const bodies: unknown[] = [
    [{ op: 'replace', path: '/data', value: { key: value, path: value, type: value, version: value, cert: value } }],
    [{ op: 'add', path: '/stringData', value: { version: 's3cret', uid: 's3cret', kind: 's3cret' } }],
    [{ op: 'add', path: '', value: { kind: 'Secret', type: 's3cret', data: { key: value } } }],
    { spec: { key: 's3cret', type: 's3cret', path: ['s3cret'] } },
    { data: { pw: value }, generate: [{ key: 'token', length: 32, nested: { key: 's3cret' } }] },
  ];
  for (const body of bodies) {
    const text = JSON.stringify(redactValueBody(body, hmacKey, 'secrets'));
    assert.ok(!text.includes(value) && !text.includes('s3cret'), text);
  }
});

test('a ConfigMap endpoint digests data values over their text', () => {
  const redacted = redactValueBody({ kind: 'ConfigMap', data: { url: 'postgres://x' }, binaryData: { b: Buffer.from('raw').toString('base64') } }, hmacKey, 'configmaps') as { data: Record<string, string>; binaryData: Record<string, string> };
  assert.ok(digestMatches(hmacKey, redacted.data.url!, 'postgres://x'));
  assert.ok(digestMatches(hmacKey, redacted.binaryData.b!, 'raw'));
});

test('a body that is not JSON structure (raw text) is digested whole', () => {
  assert.ok(digestMatches(hmacKey, redactValueBody('password=s3cret', hmacKey, 'secrets') as string, 'password=s3cret'));
  assert.equal(redactValueBody(undefined, hmacKey, 'secrets'), undefined);
});

test('one body\'s salts are drawn in one call, however many values it holds; each digest still has its own salt', () => {
  const data = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, Buffer.from('same').toString('base64')]));
  const { result, draws, hmacs } = countingCrypto(() => redactValueBody({ kind: 'Secret', metadata: { name: 'a', annotations: { note: 'x' } }, data, stringData: { s: 'same' } }, hmacKey, 'secrets'));
  assert.equal(draws, 1, 'one random draw for the 502 salts');
  assert.equal(hmacs, 502);
  const digests = JSON.stringify(result).match(digestPattern) ?? [];
  assert.equal(digests.length, 502);
  assert.equal(new Set(digests.map((d) => d.split(':')[1])).size, 502, 'every salt differs');
  for (const d of digests.slice(0, 20)) assert.ok(digestMatches(hmacKey, d, 'same') || digestMatches(hmacKey, d, 'x'));
});

test('countDigests counts exactly the digests redactValueBody computes, and stops past its limit', () => {
  const value = 'czNjcmV0';
  const bodies: unknown[] = [
    { kind: 'Secret', type: 'Opaque', metadata: { name: 'db', labels: { a: 'b' }, annotations: { note: 's', 'coffer.dev/max-versions': '3', obj: { x: [1, 2] } }, finalizers: ['f'] }, data: { a: value, gone: null }, stringData: { b: 's3cret' } },
    { kind: 'SecretList', items: [{ data: { a: value }, metadata: { name: 'x' } }, { data: 'odd', binaryData: [1, 2] }], metadata: { resourceVersion: '5' } },
    [{ op: 'replace', path: '/data/pw', value }, { op: 'add', path: '/metadata/annotations/x', value: { nested: 's3cret', list: ['a', 1, true, null] } }, { op: 'test', path: '/type', value: 'Opaque' }],
    { spec: { password: 's3cret', key: 'k', type: ['a', 'b'] }, list: ['s3cret', { deep: [1] }], number: 4242, flag: false },
    { data: { pw: value }, stage: true, generate: [{ key: 'token', length: 32, charset: 'alnum', nested: { key: 's' } }], versions: [{ version: 1, data: { a: value } }] },
    { metadata: 'not an object', data: null, binaryData: { b: 'cmF3' } },
    { metadata: { annotations: ['a', 'b'], managedFields: [{ manager: 'm', fieldsV1: { 'f:data': { 'f:a': {} } } }] } },
    'password=s3cret', 42, null, undefined, [],
  ];
  for (const body of bodies) {
    const digests = (JSON.stringify(redactValueBody(body, hmacKey, 'secrets')) ?? '').match(digestPattern) ?? [];
    assert.equal(countDigests(body, Number.POSITIVE_INFINITY), digests.length, JSON.stringify(body));
    assert.equal(countDigests(body, digests.length), digests.length, 'exact up to the limit');
    if (digests.length > 0) assert.ok(countDigests(body, digests.length - 1) > digests.length - 1, 'over the limit: more than it');
  }
  // Past the limit the walk stops: a body of a million values is counted in a few steps.
  const huge = { data: Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, 'v'])) };
  assert.equal(countDigests(huge, 10), 11);
});
