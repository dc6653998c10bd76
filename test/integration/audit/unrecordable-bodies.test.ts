// A request body holding a value an audit record cannot hold as it is — a number JSON.parse reads as
// Infinity (1e400, -1e400, 1e999) or YAML's .inf and .nan — is recorded with that value replaced and the
// replacement named in coffer.dev/truncated, and the request is then answered as the API answers it.
// Before, the record's canonical form refused it, the request was left unrecorded and answered 503
// ("the audit log cannot record this request"): any writer could fake audit outages and escape the log.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { AuditEvent } from '../../../src/audit/index.ts';
import { grant, who } from '../audit-api/attacker.ts';
import { admin, type AuditedCluster, startAudited } from '../audit-api/harness.ts';

let audited: AuditedCluster;
before(async () => {
  audited = await startAudited(1);
  await grant(audited.members[0]!.app, 'unrecordable', [
    { apiGroups: [''], resources: ['namespaces'], verbs: ['create'] },
    { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'patch', 'get'] },
    { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['create'] },
  ], 'nadia');
});
after(async () => { await audited.close(); });

const unavailable = 'the audit log cannot record this request';

async function send(url: string, payload: string, contentType = 'application/json', method: 'POST' | 'PATCH' = 'POST') {
  const m1 = audited.members[0]!;
  const response = await m1.app.inject({ method, url, headers: { ...who('nadia'), 'content-type': contentType }, payload });
  const id = response.headers['audit-id'] as string | undefined;
  assert.ok(id !== undefined, `no Audit-ID header: ${response.statusCode} ${response.body}`);
  const events = (await m1.events()).filter((e) => e.auditID === id);
  return { response, events };
}

function truncation(event: AuditEvent | undefined): string {
  return event?.annotations['coffer.dev/truncated'] ?? '';
}

test('a Namespace create whose body holds 1e400 (JSON.parse: Infinity) is recorded with the number replaced, then answered as usual', async () => {
  const { response, events } = await send('/api/v1/namespaces', '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"inf"},"spec":{"x":1e400}}');
  assert.doesNotMatch(response.body, new RegExp(unavailable), `${response.statusCode} ${response.body}`);
  assert.notEqual(response.statusCode, 503);
  assert.ok(events.length === 1, `the request is in the log: ${events.length} events`);
  const event = events[0]!;
  assert.equal(event.responseStatus?.code, response.statusCode);
  const body = event.requestObject as { spec?: { x?: unknown }; metadata?: { name?: string } } | undefined;
  assert.equal(body?.metadata?.name, 'inf', 'the rest of the body is kept');
  assert.equal(body?.spec?.x, null, 'the number JSON cannot hold is recorded as null');
  assert.match(truncation(event), /requestObject: numbers JSON cannot hold recorded as null \(1 × Infinity\)/);
});

test('a Role create whose body holds -1e400 is recorded, then answered as usual', async () => {
  const { response, events } = await send('/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles', '{"metadata":{"name":"r"},"rules":[],"x":-1e400}');
  assert.notEqual(response.statusCode, 503, response.body);
  assert.ok(events.length === 1, `the request is in the log: ${events.length} events`);
  assert.match(truncation(events[0]), /1 × -Infinity/);
});

test('a dry-run create whose body holds 1e999 is recorded as a dry run, then answered as usual', async () => {
  const { response, events } = await send('/api/v1/namespaces?dryRun=All', '{"metadata":{"name":"inf2","annotations":{"a":"b"}},"x":1e999}');
  assert.notEqual(response.statusCode, 503, response.body);
  assert.ok(events.length === 1, `the request is in the log: ${events.length} events`);
  assert.equal(events[0]!.annotations['coffer.dev/dry-run'], 'true');
  assert.match(truncation(events[0]), /1 × Infinity/);
});

test('a server-side apply whose YAML holds .inf and .nan is recorded with both replaced, then answered as usual', async () => {
  const yaml = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yaml-inf\n  namespace: default\nspec:\n  a: .inf\n  b: .nan\n  c: [-.inf, 1]\n';
  const { response, events } = await send('/api/v1/namespaces/default/configmaps/yaml-inf?fieldManager=test', yaml, 'application/apply-patch+yaml', 'PATCH');
  assert.notEqual(response.statusCode, 503, response.body);
  assert.ok(events.length === 1, `the request is in the log: ${events.length} events`);
  assert.match(truncation(events[0]), /Infinity/);
});

test('after bodies like these the member keeps recording and serving', async () => {
  const later = await audited.members[0]!.app.inject({ method: 'GET', url: '/api/v1/namespaces/default/configmaps', headers: admin });
  assert.equal(later.statusCode, 200);
  assert.equal(audited.members[0]!.audit.problems().length, 0, audited.members[0]!.audit.problems().join('; '));
});
