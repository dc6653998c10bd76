import assert from 'node:assert/strict';
import { test } from 'node:test';
import { digestMatches } from '../../../src/audit/index.ts';
import { shapeEvent, withoutBodies } from '../../../src/audit/event.ts';
import { hmacKey, input } from './helpers.ts';

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
