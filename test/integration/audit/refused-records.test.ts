// A request whose record the audit log refuses for what the record holds (AuditRecordRefusedError, or
// any error but a refusing sink) fails closed — 503, nothing changed — but is not left out of the log:
// it is recorded as ResponseComplete with the 503, without its body, the reason in coffer.dev/truncated.
// A log that refuses every record (its sink failed: AuditUnavailableError) is not asked again.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ApiAudit } from '../../../src/api/index.ts';
import { type AuditEventInput, AuditRecordRefusedError, AuditUnavailableError } from '../../../src/audit/index.ts';
import { grant, who } from '../audit-api/attacker.ts';
import { type AuditedCluster, startAudited } from '../audit-api/harness.ts';

/** What the wrapped log does with the next record naming `name` (its objectRef or its body's metadata). */
const refuse = new Map<string, () => Error>();
const asked: AuditEventInput[] = [];

function refusal(input: AuditEventInput): Error | undefined {
  const body = input.requestObject as { metadata?: { name?: unknown } } | undefined;
  const name = input.objectRef?.name ?? (typeof body?.metadata?.name === 'string' ? body.metadata.name : undefined);
  if (name === undefined) return undefined;
  asked.push(input);
  // Only a record holding the body, or the first stage of a read, is refused: the record without it is taken.
  if (input.requestObject === undefined && input.stage !== 'RequestReceived') return undefined;
  return refuse.get(name)?.();
}

const wrap = (audit: ApiAudit): ApiAudit => ({
  ...audit,
  record: (input, options) => {
    const error = refusal(input);
    return error === undefined ? audit.record(input, options) : Promise.reject(error);
  },
  shape: (input) => {
    const error = refusal(input);
    if (error !== undefined) throw error;
    return audit.shape(input);
  },
});

let audited: AuditedCluster;
before(async () => {
  audited = await startAudited(1, {}, wrap);
  await grant(audited.members[0]!.app, 'refused', [
    { apiGroups: [''], resources: ['namespaces'], verbs: ['create'] },
    { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'create'] },
  ], 'nadia');
});
after(async () => { await audited.close(); });

async function events(id: string) {
  return (await audited.members[0]!.events()).filter((e) => e.auditID === id);
}

test('a write whose RequestReceived record is refused for its content answers 503, changes nothing, and is recorded without its body', async () => {
  refuse.set('refused-ns', () => new AuditRecordRefusedError('audit record holds something it cannot'));
  const app = audited.members[0]!.app;
  const response = await app.inject({
    method: 'POST', url: '/api/v1/namespaces', headers: { ...who('nadia'), 'content-type': 'application/json' }, payload: '{"metadata":{"name":"refused-ns"}}',
  });
  assert.equal(response.statusCode, 503, response.body);
  refuse.delete('refused-ns');
  const id = response.headers['audit-id'] as string;
  const recorded = await events(id);
  assert.equal(recorded.length, 1, 'the refused request is in the log');
  assert.equal(recorded[0]!.stage, 'ResponseComplete');
  assert.equal(recorded[0]!.responseStatus?.code, 503);
  assert.equal(recorded[0]!.requestObject, undefined);
  assert.match(recorded[0]!.annotations['coffer.dev/truncated'] ?? '', /requestObject left out: the record holding it was refused \(audit record holds something it cannot\)/);
  const created = await app.inject({ method: 'GET', url: '/api/v1/namespaces/refused-ns', headers: who('admin', ['system:masters']) });
  assert.equal(created.statusCode, 404, 'nothing was changed');
});

test('a read whose RequestReceived record fails with an unexpected error answers 503 and is recorded', async () => {
  refuse.set('refused-read', () => new TypeError('Do not know how to serialize a BigInt'));
  const response = await audited.members[0]!.app.inject({ method: 'GET', url: '/api/v1/namespaces/default/configmaps/refused-read', headers: who('nadia') });
  assert.equal(response.statusCode, 503, response.body);
  const recorded = await events(response.headers['audit-id'] as string);
  assert.equal(recorded.length, 1, 'the refused read is in the log');
  assert.equal(recorded[0]!.responseStatus?.code, 503);
  assert.match(recorded[0]!.annotations['coffer.dev/truncated'] ?? '', /BigInt/);
});

test('a sink that refuses every record is not asked again: 503, and the request is left to the recovery record', async () => {
  refuse.set('sink-down', () => new AuditUnavailableError('audit record could not be made durable (EIO)'));
  asked.length = 0;
  const response = await audited.members[0]!.app.inject({
    method: 'POST', url: '/api/v1/namespaces', headers: { ...who('nadia'), 'content-type': 'application/json' }, payload: '{"metadata":{"name":"sink-down"}}',
  });
  assert.equal(response.statusCode, 503, response.body);
  assert.equal(asked.length, 1, `asked ${asked.length} times: ${asked.map((i) => i.stage).join(', ')}`);
  assert.equal((await events(response.headers['audit-id'] as string)).length, 0);
});
