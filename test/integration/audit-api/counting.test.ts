// What the audit counters count: a record written, a record refused; a probe the policy does not
// record is neither (it used to be counted as written, hiding refusals behind probe traffic).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { admin, startAudited } from './harness.ts';

test('coffer_audit_events_total counts records the log took, never requests the policy leaves out', async (t) => {
  const outcomes: string[] = [];
  const audited = await startAudited(1, {}, (a) => a, undefined, {
    metrics: { audit: (outcome) => outcomes.push(outcome), auditSinkFailed: () => undefined, auditYoungFilesDropped: () => undefined },
  });
  t.after(() => audited.close());
  const m1 = audited.members[0]!;
  for (const url of ['/healthz', '/readyz', '/livez']) assert.notEqual((await m1.app.inject({ url, headers: admin })).statusCode, 500);
  assert.deepEqual(outcomes, [], 'probes are not records');
  assert.equal((await m1.app.inject({ url: '/api/v1/namespaces', headers: admin })).statusCode, 200);
  assert.deepEqual(outcomes, ['written']);
});
