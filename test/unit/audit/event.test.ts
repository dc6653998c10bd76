import assert from 'node:assert/strict';
import { test } from 'node:test';
import { digestMatches } from '../../../src/audit/index.ts';
import { shapeEvent, withoutBodies } from '../../../src/audit/event.ts';
import { auditRecordDigestsMax } from '../../../src/config/index.ts';
import { countingCrypto, hmacKey, input } from './helpers.ts';

const secretCreate = () => input({
  verb: 'create', requestURI: '/api/v1/namespaces/default/secrets',
  objectRef: { resource: 'secrets', namespace: 'default', name: 'db', apiVersion: 'v1' },
  requestObject: { kind: 'Secret', metadata: { name: 'db' }, stringData: { password: 's3cret' } },
  responseObject: { kind: 'Secret', metadata: { name: 'db' }, data: { password: 'czNjcmV0' } },
  responseStatus: { code: 201 },
});

test('an event has the audit.k8s.io/v1 shape with the decision and member as annotations', () => {
  const event = shapeEvent(input({ decision: 'forbid', decisionReason: 'RBAC: no rule allows get configmaps' }), 'Metadata', 'm2', hmacKey);
  assert.equal(event.kind, 'Event');
  assert.equal(event.apiVersion, 'audit.k8s.io/v1');
  assert.equal(event.level, 'Metadata');
  assert.equal(event.stage, 'ResponseComplete');
  assert.deepEqual(event.user, { username: 'alice', groups: ['dev'] });
  assert.deepEqual(event.objectRef, { resource: 'configmaps', namespace: 'default', name: 'app', apiVersion: 'v1' });
  assert.equal(event.requestReceivedTimestamp, '2026-01-01T00:00:00.000Z');
  assert.deepEqual(event.annotations, {
    'authorization.k8s.io/decision': 'forbid',
    'authorization.k8s.io/reason': 'RBAC: no rule allows get configmaps',
    'coffer.dev/member': 'm2',
  });
});

const namespaceUpdate = (body: unknown) => input({
  verb: 'update', requestURI: '/api/v1/namespaces/team-a', path: '/api/v1/namespaces/team-a',
  objectRef: { resource: 'namespaces', name: 'team-a', apiVersion: 'v1' }, requestObject: body, responseObject: body,
});

test('Metadata keeps no body, Request the request body, RequestResponse both', () => {
  const body = { kind: 'Namespace', metadata: { name: 'team-a', labels: { k: 'v' } } };
  const at = (level: 'Metadata' | 'Request' | 'RequestResponse') => shapeEvent(namespaceUpdate(body), level, 'm1', hmacKey);
  assert.equal(at('Metadata').requestObject, undefined);
  assert.equal(at('Metadata').responseObject, undefined);
  assert.deepEqual(at('Request').requestObject, body);
  assert.equal(at('Request').responseObject, undefined);
  assert.deepEqual(at('RequestResponse').requestObject, body);
  assert.deepEqual(at('RequestResponse').responseObject, body);
});

test('Secret bodies are recorded only with values digested, even at RequestResponse', () => {
  const event = shapeEvent(secretCreate(), 'RequestResponse', 'm1', hmacKey);
  const text = JSON.stringify(event);
  assert.ok(!text.includes('s3cret') && !text.includes('czNjcmV0'), text);
  assert.ok(digestMatches(hmacKey, (event.requestObject as { stringData: { password: string } }).stringData.password, 's3cret'));
  assert.ok(digestMatches(hmacKey, (event.responseObject as { data: { password: string } }).data.password, 's3cret'));
});

test('a Secret endpoint is recognised by its path even when the objectRef is missing', () => {
  const { objectRef: _ref, ...rest } = secretCreate();
  const text = JSON.stringify(shapeEvent(rest, 'RequestResponse', 'm1', hmacKey));
  assert.ok(!text.includes('s3cret') && !text.includes('czNjcmV0'), text);
});

test('ConfigMap values are digested unless the policy rule opted in to clear values', () => {
  const body = { kind: 'ConfigMap', metadata: { name: 'app' }, data: { url: 'postgres://db' } };
  const update = () => input({ verb: 'update', requestObject: body });
  const digested = JSON.stringify(shapeEvent(update(), 'Request', 'm1', hmacKey));
  assert.ok(!digested.includes('postgres://db'), digested);
  assert.ok(digestMatches(hmacKey, (JSON.parse(digested) as { requestObject: { data: { url: string } } }).requestObject.data.url, 'postgres://db'));
  assert.deepEqual(shapeEvent(update(), 'Request', 'm1', hmacKey, { clearConfigMapValues: true }).requestObject, body);
  // The opt-in is for ConfigMaps only: a Secret body is digested whatever the rule says.
  const secretText = JSON.stringify(shapeEvent(secretCreate(), 'RequestResponse', 'm1', hmacKey, { clearConfigMapValues: true }));
  assert.ok(!secretText.includes('s3cret') && !secretText.includes('czNjcmV0'), secretText);
});

test('an event without bodies says why in an annotation', () => {
  const event = withoutBodies(shapeEvent(secretCreate(), 'RequestResponse', 'm1', hmacKey));
  assert.equal(event.requestObject, undefined);
  assert.equal(event.responseObject, undefined);
  assert.match(event.annotations['coffer.dev/truncated']!, /bodies dropped/);
});

test('a body nested deeper than auditBodyDepthMax is left out, and the event says so', () => {
  let deep: unknown = 'leaf';
  for (let i = 0; i < 1000; i++) deep = { d: deep };
  const event = shapeEvent(namespaceUpdate(deep), 'Request', 'm1', hmacKey);
  assert.equal(event.requestObject, undefined);
  assert.match(event.annotations['coffer.dev/truncated']!, /requestObject left out: nested deeper than 32/);
  const shallow = shapeEvent(namespaceUpdate({ a: { b: 1 } }), 'Request', 'm1', hmacKey);
  assert.deepEqual(shallow.requestObject, { a: { b: 1 } });
});

const configMapWrite = (requestObject: unknown, responseObject?: unknown) => input({
  verb: 'create', requestURI: '/api/v1/namespaces/default/configmaps', requestObject, ...(responseObject !== undefined ? { responseObject } : {}),
});
const keys = (n: number, value = 'v') => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, value]));
const digestsIn = (body: unknown) => (JSON.stringify(body) ?? '').match(/hmac-sha256:[0-9a-f]{32}:[0-9a-f]{64}/g) ?? [];

test('a body needing more digests than one record can hold is left out before any digest is computed', () => {
  assert.ok(auditRecordDigestsMax * 111 <= 256 * 1024 && (auditRecordDigestsMax + 1) * 111 > 256 * 1024, `${auditRecordDigestsMax}`);
  // 100,000 values: the old record computed every digest (a random draw and an HMAC each), then dropped the body as too long.
  const { result: event, draws, hmacs } = countingCrypto(() => shapeEvent(configMapWrite({ kind: 'ConfigMap', metadata: { name: 'many' }, data: keys(100_000, '') }), 'Request', 'm1', hmacKey));
  assert.equal(event.requestObject, undefined);
  assert.match(event.annotations['coffer.dev/truncated']!, new RegExp(`requestObject left out: its values need more digests than one record holds \\(auditRecordDigestsMax, ${auditRecordDigestsMax}\\)`));
  assert.equal(hmacs, 0, 'no HMAC computed');
  assert.equal(draws, 0, 'no salt drawn');
});

test('a body at auditRecordDigestsMax is kept, every value digested with salts of one draw; the response gets what room is left', () => {
  const { result: full, draws, hmacs } = countingCrypto(() => shapeEvent(configMapWrite({ kind: 'ConfigMap', metadata: { name: 'full' }, data: keys(auditRecordDigestsMax) }), 'Request', 'm1', hmacKey));
  assert.equal(digestsIn(full.requestObject).length, auditRecordDigestsMax);
  assert.equal(full.annotations['coffer.dev/truncated'], undefined);
  assert.equal(draws, 1, 'one random draw for the whole record');
  assert.equal(hmacs, auditRecordDigestsMax);
  // Both bodies share the record's room: the request fits, the response (as many again) does not.
  const half = Math.floor(auditRecordDigestsMax / 2) + 1;
  const both = shapeEvent(configMapWrite({ data: keys(half) }, { data: keys(half) }), 'RequestResponse', 'm1', hmacKey);
  assert.equal(digestsIn(both.requestObject).length, half);
  assert.equal(both.responseObject, undefined);
  assert.match(both.annotations['coffer.dev/truncated']!, /responseObject left out: its values need more digests/);
  // A ConfigMap rule that records values in the clear digests nothing, so nothing is left out for digests.
  assert.equal(Object.keys((shapeEvent(configMapWrite({ data: keys(auditRecordDigestsMax + 1) }), 'Request', 'm1', hmacKey, { clearConfigMapValues: true }).requestObject as { data: object }).data).length, auditRecordDigestsMax + 1);
});

test('equal values digest differently within one record and across records', () => {
  const body = { kind: 'Secret', metadata: { name: 'db' }, data: { a: 'czNjcmV0', b: 'czNjcmV0' }, stringData: { c: 's3cret' } };
  const secretWrite = () => input({ verb: 'create', requestURI: '/api/v1/namespaces/default/secrets', objectRef: { resource: 'secrets', namespace: 'default', apiVersion: 'v1' }, requestObject: body, responseObject: body });
  const digests = [...digestsIn(shapeEvent(secretWrite(), 'RequestResponse', 'm1', hmacKey)), ...digestsIn(shapeEvent(secretWrite(), 'RequestResponse', 'm1', hmacKey))];
  assert.equal(digests.length, 12);
  assert.equal(new Set(digests).size, 12, 'no two digests alike');
  assert.equal(new Set(digests.map((d) => d.split(':')[1])).size, 12, 'no two salts alike');
  for (const d of digests) assert.ok(digestMatches(hmacKey, d, 's3cret'));
});
