// A body holding a value canonical JSON refuses (a non-finite number, a BigInt) is recorded with that
// value replaced and the replacement named, and the record then chains and verifies; values canonical
// JSON writes and reads back alike (-0, lone surrogates, undefined in arrays) are kept as they are.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson } from '../../../src/audit/canonical.ts';
import { chainRecord, genesisHash } from '../../../src/audit/chain.ts';
import { shapeEvent } from '../../../src/audit/event.ts';
import { hmacKey, input } from './helpers.ts';

const truncated = (annotations: Record<string, string>) => annotations['coffer.dev/truncated'] ?? '';

/** A create of a Namespace (bodies recorded clear) with `overrides`. */
const namespaceCreate = (overrides: Parameters<typeof input>[0]) =>
  input({ verb: 'create', requestURI: '/api/v1/namespaces', objectRef: { resource: 'namespaces', apiVersion: 'v1' }, ...overrides });

test('non-finite numbers in a recorded body become null, named in coffer.dev/truncated, and the record chains', () => {
  const body = { metadata: { name: 'inf' }, spec: { x: Infinity, y: [-Infinity, 1, NaN], z: { w: Infinity } } };
  const event = shapeEvent(namespaceCreate({ requestObject: body, responseObject: { n: NaN } }), 'RequestResponse', 'm1', hmacKey);
  assert.deepEqual(event.requestObject, { metadata: { name: 'inf' }, spec: { x: null, y: [null, 1, null], z: { w: null } } });
  assert.deepEqual(event.responseObject, { n: null });
  assert.match(truncated(event.annotations), /requestObject: numbers JSON cannot hold recorded as null \(2 × Infinity, 1 × -Infinity, 1 × NaN\)/);
  assert.match(truncated(event.annotations), /responseObject: numbers JSON cannot hold recorded as null \(1 × NaN\)/);
  assert.equal(body.spec.x, Infinity, 'the request body itself is not changed');
  const { line } = chainRecord(event, 1, genesisHash);
  assert.equal(canonicalJson(JSON.parse(line)), line);
});

test('a BigInt in a recorded body becomes its decimal string, named', () => {
  const event = shapeEvent(namespaceCreate({ requestObject: { big: 12345678901234567890n } }), 'Request', 'm1', hmacKey);
  assert.deepEqual(event.requestObject, { big: '12345678901234567890' });
  assert.match(truncated(event.annotations), /requestObject: 1 BigInt value\(s\) recorded as decimal strings/);
  assert.doesNotThrow(() => chainRecord(event, 1, genesisHash));
});

test('a Secret body holding a non-finite number is digested as usual and recorded', () => {
  const event = shapeEvent(input({
    verb: 'create', objectRef: { resource: 'secrets', namespace: 'default', name: 'db', apiVersion: 'v1' },
    requestObject: { kind: 'Secret', metadata: { name: 'db' }, stringData: { password: 's3cret' }, x: Infinity },
  }), 'Request', 'm1', hmacKey);
  assert.match(truncated(event.annotations), /1 × Infinity/);
  assert.doesNotMatch(canonicalJson(event), /s3cret/);
});

test('values canonical JSON writes and reads back alike are kept, with no note: -0, a lone surrogate, undefined in an array', () => {
  const body = { zero: -0, lone: '\ud800', list: [undefined, 1], '\udc00': true, __proto__: null } as unknown as Record<string, unknown>;
  const event = shapeEvent(namespaceCreate({ requestObject: body }), 'Request', 'm1', hmacKey);
  assert.equal(event.requestObject, body, 'nothing to replace: the body is not copied');
  assert.equal(truncated(event.annotations), '');
  const { line } = chainRecord(event, 1, genesisHash);
  assert.equal(canonicalJson(JSON.parse(line)), line);
});

test('a key named __proto__ stays an own member when a body is copied', () => {
  const body = JSON.parse('{"__proto__":{"polluted":1},"x":1e400}') as Record<string, unknown>;
  const event = shapeEvent(namespaceCreate({ requestObject: body }), 'Request', 'm1', hmacKey);
  const recorded = event.requestObject as Record<string, unknown>;
  assert.ok(Object.hasOwn(recorded, '__proto__'));
  assert.equal(Object.getPrototypeOf(recorded), Object.prototype);
  assert.equal(recorded.x, null);
});
