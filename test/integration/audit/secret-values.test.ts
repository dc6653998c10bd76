// The marker scan: a log written at the most verbose level holds no Secret value in any encoding.
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { digestMatches, parseAuditPolicy, queryAuditLog, verifyAuditLog } from '../../../src/audit/index.ts';
import { hmacKey, input, memberKeys, openLog, tempDir } from '../../unit/audit/helpers.ts';

const marker = 'MARKER-7f3a9c-the-secret-value';
const everything = parseAuditPolicy('apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: RequestResponse\n');

function encodings(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  return [value, bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex'), bytes.toString('hex').toUpperCase(),
    // base64 of the value at each byte offset mod 3, so a value inside a longer base64 blob is found too.
    Buffer.from(`x${value}`).toString('base64').slice(4, -4), Buffer.from(`xy${value}`).toString('base64').slice(4, -4)];
}

test('no Secret value, nor its base64 or hex, reaches the audit files; digests let an auditor check the value', async (t) => {
  const dir = await tempDir(t);
  const { log } = await openLog(t, dir, { policy: everything, fileBytesTarget: 8192 });
  const b64 = Buffer.from(marker).toString('base64');
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default' }, data: { password: b64 }, stringData: { token: marker } };
  const ref = { resource: 'secrets', namespace: 'default', name: 'db', apiVersion: 'v1' };
  await log.record(input({ verb: 'create', requestURI: '/api/v1/namespaces/default/secrets', objectRef: ref, requestObject: secret, responseObject: secret }));
  await log.record(input({ verb: 'patch', requestURI: '/api/v1/namespaces/default/secrets/db', objectRef: ref, requestObject: { data: { password: b64 } }, responseObject: secret }));
  await log.record(input({ verb: 'get', requestURI: '/api/v1/namespaces/default/secrets/db', objectRef: ref, responseObject: secret }));
  await log.record(input({ verb: 'list', requestURI: '/api/v1/secrets', objectRef: { resource: 'secrets' }, responseObject: { kind: 'SecretList', items: [secret] } }));
  await log.record(input({
    verb: 'get', requestURI: '/apis/coffer.dev/v1/namespaces/default/secrets/db/versions',
    objectRef: { resource: 'secrets', subresource: 'versions', apiGroup: 'coffer.dev', namespace: 'default', name: 'db' },
    responseObject: { versions: [{ version: 1, data: { password: b64 } }] },
  }));
  await log.record(input({
    verb: 'update', requestURI: '/api/v1/namespaces/default/secrets/db', objectRef: ref,
    requestObject: { ...secret, metadata: { ...secret.metadata, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(secret) } } },
  }));
  // A control: a body of an endpoint that stores no values (a Namespace) is recorded as sent, so the
  // scan below reads what was written.
  await log.record(input({
    verb: 'create', requestURI: '/api/v1/namespaces', objectRef: { resource: 'namespaces', name: 'team', apiVersion: 'v1' },
    requestObject: { kind: 'Namespace', metadata: { name: 'team', labels: { k: 'CONTROL-visible' } } },
  }));
  await log.close();

  const names = (await readdir(dir)).filter((n) => n.startsWith('audit-'));
  let all = '';
  for (const name of names) all += await readFile(path.join(dir, name), 'utf8');
  assert.ok(all.includes('CONTROL-visible'));
  for (const encoded of encodings(marker)) assert.ok(!all.includes(encoded), `found an encoding of the secret value: ${encoded}`);
  // The auditor's check: the digest of the value they suspect is in the events.
  const { events } = await queryAuditLog(dir, { verb: 'create', resource: 'secrets' });
  const recorded = (events[0]!.requestObject as { data: { password: string }; stringData: { token: string } });
  assert.ok(digestMatches(hmacKey, recorded.data.password, marker));
  assert.ok(digestMatches(hmacKey, recorded.stringData.token, marker));
  assert.ok((await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey })).ok);
});
