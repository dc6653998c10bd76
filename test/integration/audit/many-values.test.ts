// What a body of many values costs the audit step, over an audited member (real log, default policy).
// Before, every value of a Secret or ConfigMap body was digested with a random draw and an HMAC of its own,
// in the RequestReceived record and again in the ResponseComplete one, before anything measured the
// record: a create of 100,000 empty ConfigMap keys (1.3 MB, under the body limit) blocked the member's
// event loop for 10–15 s, and was refused only at the end. Now the body is refused as it arrives
// (objectMapEntriesMax), its record is shaped without digesting a value (a record cannot hold more than
// auditRecordDigestsMax digests), and the salts a record does need come from one random draw.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type AuditEvent, digestMatches, ensureAuditHmacKey } from '../../../src/audit/index.ts';
import type { KvBackend } from '../../../src/api/index.ts';
import { auditRecordDigestsMax, objectMapEntriesMax } from '../../../src/config/index.ts';
import { b64, grant, who } from '../audit-api/attacker.ts';
import { type AuditedCluster, type AuditedMember, startAudited } from '../audit-api/harness.ts';
import { countingCryptoAsync } from '../../unit/audit/helpers.ts';

/** What the API asked of the member's store under /registry/ (the objects), counted. */
const registryCalls = { count: 0 };
const decoder = new TextDecoder();
const countingRegistry = (backend: KvBackend): KvBackend => ({
  ...backend,
  range: (key, end, options) => {
    if (decoder.decode(key).startsWith('/registry/')) registryCalls.count++;
    return backend.range(key, end, options);
  },
  propose: (op, audit) => {
    if (JSON.stringify(op, (_key, value: unknown) => (value instanceof Uint8Array ? decoder.decode(value) : value)).includes('"/registry/')) registryCalls.count++;
    return backend.propose(op, audit);
  },
});

let audited: AuditedCluster;
let member: AuditedMember;
before(async () => {
  audited = await startAudited(1, {}, undefined, undefined, {}, countingRegistry);
  member = audited.members[0]!;
  await grant(member.app, 'many-values', [{ apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['create', 'patch'] }], 'carol');
});
after(async () => { await audited.close(); });

const entries = (n: number, value = '') => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, value]));

/** Sends one request as carol, counting digests made and registry calls; returns the answer and every record of its auditID. */
async function send(method: 'POST' | 'PATCH', url: string, body: unknown, contentType = 'application/json') {
  registryCalls.count = 0;
  const { result: response, hmacs, draws } = await countingCryptoAsync(() => member.app.inject({
    method, url, headers: { ...who('carol'), 'content-type': contentType }, payload: JSON.stringify(body),
  }));
  const reads = registryCalls.count;
  const auditID = response.headers['audit-id'] as string;
  assert.ok(auditID !== undefined, `no Audit-ID: ${response.statusCode} ${response.body.slice(0, 200)}`);
  await member.audit.flushed();
  const records = (await member.records()).filter((r) => r.auditID === auditID) as unknown as AuditEvent[];
  return { response, hmacs, draws, reads, records };
}

test('a create of 100,000 keys is refused as it arrives: nothing read or written, one record, no value digested', async () => {
  const { response, hmacs, reads, records } = await send('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'many' }, data: entries(100_000) });
  assert.equal(response.statusCode, 422, response.body.slice(0, 300));
  const status = response.json<{ reason: string; message: string; details: { causes: { field: string; reason: string }[] } }>();
  assert.equal(status.reason, 'Invalid');
  assert.match(status.message, new RegExp(`ConfigMap "many" is invalid: data: Too many: 100000: .* at most ${objectMapEntriesMax} entries together \\(objectMapEntriesMax\\)`));
  assert.deepEqual(status.details.causes.map((c) => [c.field, c.reason]), [['data', 'FieldValueTooMany']]);
  assert.equal(reads, 0, 'the store was not read nor written for the request');
  assert.equal(hmacs, 0, 'no value was digested');
  assert.equal(records.length, 1, `one record: ${records.map((r) => r.stage).join(', ')}`);
  const [record] = records;
  assert.equal(record!.stage, 'ResponseComplete');
  assert.equal(record!.responseStatus?.code, 422);
  assert.equal(record!.user.username, 'carol');
  assert.equal(record!.requestObject, undefined);
  assert.match(record!.annotations['coffer.dev/truncated'] ?? '', new RegExp(`requestObject left out: its values need more digests than one record holds \\(auditRecordDigestsMax, ${auditRecordDigestsMax}\\)`));
  assert.deepEqual(member.audit.problems(), []);
});

test('a Secret of more values than a record can digest is stored; its records leave the body out without digesting a value', async () => {
  const { response, hmacs, reads, records } = await send('POST', '/api/v1/namespaces/default/secrets', { metadata: { name: 'wide' }, data: entries(auditRecordDigestsMax + 1, b64('v')) });
  assert.equal(response.statusCode, 201, response.body.slice(0, 300));
  assert.ok(reads > 0, 'a create is seen reading and writing the store (the count of the first test means something)');
  assert.equal(hmacs, 0, 'no value was digested');
  assert.deepEqual(records.map((r) => r.stage), ['RequestReceived', 'ResponseComplete']);
  for (const record of records) {
    assert.equal(record.requestObject, undefined);
    assert.match(record.annotations['coffer.dev/truncated'] ?? '', /requestObject left out: its values need more digests than one record holds/);
  }
});

test('a record\'s digests come from one random draw, and equal values digest differently within a record and across records', async () => {
  const key = await ensureAuditHmacKey(member.backend);
  const digests: string[] = [];
  for (const name of ['same-1', 'same-2']) {
    const { response, records, hmacs } = await send('POST', '/api/v1/namespaces/default/secrets', { metadata: { name }, data: { a: b64('s3cret'), b: b64('s3cret') }, stringData: { c: 's3cret' } });
    assert.equal(response.statusCode, 201, response.body);
    assert.equal(hmacs, 6, 'three values, in each of the two records');
    for (const record of records) {
      const body = record.requestObject as { data: Record<string, string>; stringData: Record<string, string> };
      digests.push(...Object.values(body.data), ...Object.values(body.stringData));
    }
  }
  assert.equal(digests.length, 12);
  assert.equal(new Set(digests).size, 12, 'no two digests alike');
  for (const digest of digests) assert.ok(digestMatches(key, digest, 's3cret'), digest);
  key.fill(0);
  // One draw per record: count them for a body of 1,000 values (two records).
  const { response, draws, hmacs } = await send('POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'thousand' }, data: entries(1_000, 'v') });
  assert.equal(response.statusCode, 201, response.body.slice(0, 300));
  assert.equal(hmacs, 2_000);
  assert.ok(draws < 20, `${draws} random draws for 2,000 salts (and whatever else the member drew meanwhile)`);
});
