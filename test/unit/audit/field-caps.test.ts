import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shapeEvent, withoutBodies } from '../../../src/audit/event.ts';
import { cutUtf8 } from '../../../src/audit/field-caps.ts';
import {
  auditGroupNameBytesMax, auditGroupsMax, auditObjectRefFieldBytesMax, auditReasonBytesMax, auditRequestUriBytesMax, auditSourceIpsMax,
  auditUserAgentBytesMax, auditUserNameBytesMax,
} from '../../../src/config/index.ts';
import { hmacKey, input } from './helpers.ts';

const bytes = (s: string | undefined) => Buffer.byteLength(s ?? '', 'utf8');

test('an event whose fields are within their caps is recorded as given, without a truncation note', () => {
  const given = input({ userAgent: 'kubectl/v1.31.0 (linux/amd64)' });
  const event = shapeEvent(given, 'Metadata', 'm1', hmacKey);
  assert.equal(event.userAgent, given.userAgent);
  assert.equal(event.requestURI, given.requestURI);
  assert.equal(event.annotations['coffer.dev/truncated'], undefined);
});

test('every field a caller controls is cut to its cap, and the note names each field and its original size', () => {
  const long = (n: number) => 'z'.repeat(n);
  const event = shapeEvent(input({
    userAgent: long(12_288),
    requestURI: `/api/v1/namespaces/default/configmaps?labelSelector=${long(3000)}`,
    user: { username: long(1000), groups: Array.from({ length: 40 }, (_, i) => (i === 0 ? long(500) : `g${i}`)) },
    impersonatedUser: { username: long(700), groups: [long(300)] },
    sourceIPs: Array.from({ length: 10 }, () => '10.0.0.1'),
    objectRef: { resource: 'configmaps', namespace: long(300), name: long(5000), apiVersion: 'v1' },
    responseStatus: { code: 404, reason: 'NotFound', message: long(4000) },
    decisionReason: long(2000),
    annotations: { 'example.com/note': long(2000) },
  }), 'Metadata', 'm1', hmacKey);
  assert.equal(bytes(event.userAgent), auditUserAgentBytesMax);
  assert.equal(bytes(event.requestURI), auditRequestUriBytesMax);
  assert.equal(bytes(event.user.username), auditUserNameBytesMax);
  assert.equal(event.user.groups.length, auditGroupsMax);
  assert.equal(bytes(event.user.groups[0]), auditGroupNameBytesMax);
  assert.equal(bytes(event.impersonatedUser?.username), auditUserNameBytesMax);
  assert.equal(bytes(event.impersonatedUser?.groups[0]), auditGroupNameBytesMax);
  assert.equal(event.sourceIPs.length, auditSourceIpsMax);
  assert.equal(bytes(event.objectRef?.name), auditObjectRefFieldBytesMax);
  assert.equal(bytes(event.objectRef?.namespace), auditObjectRefFieldBytesMax);
  assert.equal(bytes(event.responseStatus?.message), auditReasonBytesMax);
  assert.equal(bytes(event.annotations['authorization.k8s.io/reason']), auditReasonBytesMax);
  assert.equal(bytes(event.annotations['example.com/note']), auditReasonBytesMax);
  assert.equal(event.annotations['authorization.k8s.io/decision'], 'allow', 'Coffer\'s own annotations stay as they are');
  const note = event.annotations['coffer.dev/truncated']!;
  for (const cut of [
    'requestURI cut from 3052 to', 'userAgent cut from 12288 to', 'user.username cut from 1000 to', 'user.groups cut from 40 to 32 groups',
    'user.groups[0] cut from 500 to', 'impersonatedUser.username cut from 700 to', 'impersonatedUser.groups[0] cut from 300 to', 'sourceIPs cut from 10 to 8', 'objectRef.namespace cut from 300', 'objectRef.name cut from 5000',
    'responseStatus.message cut from 4000', 'annotations[authorization.k8s.io/reason] cut from 2000', 'annotations[example.com/note] cut from 2000',
  ]) assert.ok(note.includes(cut), `the note names "${cut}": ${note}`);
  assert.match(JSON.stringify(withoutBodies(event).annotations), /cut from .*; bodies dropped/, 'a later note is added, not put in place of the first');
});

test('a cut never splits a character', () => {
  assert.equal(cutUtf8('aé', 2), 'a');
  assert.equal(cutUtf8('aé', 3), 'aé');
  assert.equal(cutUtf8('😀😀', 5), '😀');
  assert.equal(cutUtf8('', 0), '');
});
