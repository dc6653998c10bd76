import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { digestValue, redactSecretBody } from '../../../src/audit/index.ts';
import { hmacKey } from './helpers.ts';

const otherKey = new Uint8Array(32).fill(7);

test('digestValue is HMAC-SHA256 of the value under the audit key, as hmac-sha256:<hex>', () => {
  const expected = createHmac('sha256', hmacKey).update('hunter2').digest('hex');
  assert.equal(digestValue(hmacKey, 'hunter2'), `hmac-sha256:${expected}`);
  assert.equal(digestValue(hmacKey, new TextEncoder().encode('hunter2')), `hmac-sha256:${expected}`);
  assert.notEqual(digestValue(otherKey, 'hunter2'), digestValue(hmacKey, 'hunter2'));
  assert.notEqual(digestValue(hmacKey, 'hunter3'), digestValue(hmacKey, 'hunter2'));
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
  const redacted = redactSecretBody(body, hmacKey) as typeof body & { data: Record<string, unknown>; stringData: Record<string, unknown> };
  // data is digested over the decoded bytes, stringData over the UTF-8: the same value, the same digest.
  assert.equal(redacted.data.password, digestValue(hmacKey, 's3cret'));
  assert.equal(redacted.stringData.token, digestValue(hmacKey, 's3cret'));
  assert.equal(redacted.data.removed, null);
  assert.deepEqual(redacted.metadata, body.metadata);
  assert.equal(redacted.type, 'Opaque');
  // The input is left alone.
  assert.equal(body.stringData.token, 's3cret');
});

test('values nested in lists and version histories, and the last-applied annotation, are digested too', () => {
  const lastApplied = JSON.stringify({ kind: 'Secret', data: { a: Buffer.from('s3cret').toString('base64') } });
  const body = {
    kind: 'SecretList',
    items: [{ kind: 'Secret', metadata: { name: 'a', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied, keep: 'me' } }, data: { a: 'czNjcmV0' } }],
    versions: [{ version: 1, data: { a: 'czNjcmV0' } }],
  };
  const text = JSON.stringify(redactSecretBody(body, hmacKey));
  assert.ok(!text.includes('czNjcmV0') && !text.includes('s3cret'), text);
  assert.ok(text.includes('"keep":"me"'));
  assert.equal(text.split(digestValue(hmacKey, 's3cret')).length - 1, 2);
});

test('a body that is not JSON structure (raw text) is digested whole', () => {
  assert.equal(redactSecretBody('password=s3cret', hmacKey), digestValue(hmacKey, 'password=s3cret'));
  assert.equal(redactSecretBody(undefined, hmacKey), undefined);
});
