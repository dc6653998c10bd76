// Querying and verifying audit logs across a three-member cluster through the API: filters, merge
// and limit, RBAC (auditor only), verification against the replicated checkpoints, and a member whose
// log is broken still serving and reporting the break (status errors, metric).
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { AuditEventList, AuditVerification } from '../../../src/api/index.ts';
import { MemberMetrics } from '../../../src/metrics/index.ts';
import { prefixEnd } from '../../../src/storage/mvcc/index.ts';
import { checkpointPrefix } from '../../../src/audit/index.ts';
import { waitUntil } from '../../support/wait.ts';
import { admin, type AuditedCluster, type AuditedMember, startAudited } from './harness.ts';

let audited: AuditedCluster;
let m1: AuditedMember;
let m2: AuditedMember;
let m3: AuditedMember;
const carol = { 'x-user': 'carol', 'x-groups': 'auditors' };
const json = (who: Record<string, string>) => ({ ...who, 'content-type': 'application/json' });

before(async () => {
  audited = await startAudited(3, { checkpointEveryRecords: 3 });
  [m1, m2, m3] = audited.members as [AuditedMember, AuditedMember, AuditedMember];
  const binding = await m1.app.inject({
    method: 'POST', url: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', headers: json(admin),
    payload: JSON.stringify({
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'auditors' },
      subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'auditors' }],
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'auditor' },
    }),
  });
  assert.equal(binding.statusCode, 201, binding.body);
  // Known events on each member.
  assert.equal((await m1.app.inject({ method: 'GET', url: '/api/v1/namespaces/default/configmaps', headers: admin })).statusCode, 200);
  assert.equal((await m2.app.inject({ method: 'GET', url: '/api/v1/namespaces/default/secrets/db', headers: { 'x-user': 'bob', 'x-groups': 'devs' } })).statusCode, 403);
  const created = await m3.app.inject({ method: 'POST', url: '/api/v1/namespaces/default/configmaps', headers: json(admin), payload: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'q' }, data: { a: '1' } }) });
  assert.equal(created.statusCode, 201);
});
after(async () => { await audited.close(); });

async function query(member: AuditedMember, search: string, who = carol) {
  const response = await member.app.inject({ method: 'GET', url: `/apis/coffer.dev/v1/audit/events${search}`, headers: who });
  return { status: response.statusCode, body: response.json<AuditEventList & { message?: string }>() };
}

test('a query on one member returns the matching events of every member, each member accounted for', async () => {
  const { status, body } = await query(m2, '?user=bob');
  assert.equal(status, 200);
  assert.equal(body.kind, 'AuditEventList');
  assert.deepEqual(body.members.map((m) => [m.name, m.error]), [['m1', undefined], ['m2', undefined], ['m3', undefined]]);
  assert.ok(body.items.length >= 1);
  assert.ok(body.items.every((e) => e.user.username === 'bob'));
  assert.ok(body.items.some((e) => e.annotations['coffer.dev/member'] === 'm2' && e.annotations['authorization.k8s.io/decision'] === 'forbid'));

  const creates = await query(m1, '?verb=create&resource=configmaps&namespace=default&name=q');
  assert.deepEqual(creates.body.items.map((e) => [e.annotations['coffer.dev/member'], e.verb, e.objectRef?.name]), [['m3', 'create', 'q']]);

  const denied = await query(m3, '?decision=deny');
  assert.ok(denied.body.items.length >= 1);
  assert.ok(denied.body.items.every((e) => e.annotations['authorization.k8s.io/decision'] === 'forbid'));

  const group = await query(m3, '?group=system:masters&resource=configmaps');
  const membersSeen = new Set(group.body.items.map((e) => e.annotations['coffer.dev/member']));
  assert.ok(membersSeen.has('m1') && membersSeen.has('m3'), [...membersSeen].join(','));
});

test('limit keeps the newest events across members, merged newest first; since/until bound the time', async () => {
  const all = (await query(m1, '?limit=1000')).body.items;
  const two = (await query(m1, '?limit=2')).body.items;
  assert.equal(two.length, 2);
  const times = all.map((e) => Date.parse(e.requestReceivedTimestamp));
  assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first');
  assert.ok(Date.parse(two[1]!.requestReceivedTimestamp) >= Date.parse(all[2]!.requestReceivedTimestamp));
  const future = new Date(Date.now() + 3_600_000).toISOString();
  assert.equal((await query(m1, `?since=${future}`)).body.items.length, 0);
  assert.ok((await query(m1, `?until=${future}&since=1h`)).body.items.length > 0);
});

test('bad filters are refused with 400 before any member is asked', async () => {
  for (const search of ['?limit=abc', '?limit=0', '?decision=maybe', '?since=yesterday', '?limit=1000000']) {
    const { status, body } = await query(m1, search);
    assert.equal(status, 400, search);
    assert.match(body.message ?? '', /limit|decision|since/);
  }
});

test('only auditors and admins may query or verify; a refusal is itself audited', async () => {
  const dave = { 'x-user': 'dave', 'x-groups': 'devs' };
  assert.equal((await query(m1, '', dave)).status, 403);
  assert.equal((await m1.app.inject({ method: 'GET', url: '/apis/coffer.dev/v1/audit/verify', headers: dave })).statusCode, 403);
  assert.equal((await query(m1, '?limit=1', admin)).status, 200);
  const refusals = (await m1.events()).filter((e) => e.user.username === 'dave');
  assert.deepEqual(refusals.map((e) => [e.verb, e.objectRef?.resource, e.objectRef?.subresource, e.responseStatus?.code]).sort(), [
    ['get', 'auditevents', 'verify', 403], ['list', 'auditevents', undefined, 403],
  ].sort());
});

async function verify(member: AuditedMember): Promise<AuditVerification> {
  const response = await member.app.inject({ method: 'GET', url: '/apis/coffer.dev/v1/audit/verify', headers: carol });
  assert.equal(response.statusCode, 200, response.body);
  return response.json<AuditVerification>();
}

async function replicatedCheckpointSeqs(member: AuditedMember): Promise<number[]> {
  const prefix = checkpointPrefix(member.name);
  const { kvs } = await member.backend.range(prefix, prefixEnd(prefix), { linearizable: true });
  return kvs.map((kv) => (JSON.parse(new TextDecoder().decode(kv.value)) as { seq: number }).seq);
}


test('verify passes on untouched logs, and names the member, file and sequence of an edited line', async () => {
  const clean = await verify(m3);
  assert.equal(clean.ok, true, JSON.stringify(clean));
  assert.deepEqual(clean.members.map((m) => [m.member, m.ok]), [['m1', true], ['m2', true], ['m3', true]]);

  const file = join(m1.dataDir, 'audit', 'audit-1.log');
  const lines = (await readFile(file, 'utf8')).split('\n');
  const at = lines.findIndex((l) => l.includes('"kind":"Event"') && l.includes('"verb":"list"'));
  assert.ok(at >= 0);
  lines[at] = lines[at]!.replace('"verb":"list"', '"verb":"lisT"');
  await writeFile(file, lines.join('\n'));
  const broken = await verify(m2);
  assert.equal(broken.ok, false);
  const m1Result = broken.members.find((m) => m.member === 'm1') as { ok: boolean; file?: string; seq?: number; reason?: string };
  assert.equal(m1Result.ok, false);
  assert.equal(m1Result.file, 'audit-1.log');
  assert.equal(m1Result.seq, at + 1);
  assert.match(m1Result.reason ?? '', /hash|canonical/);
  assert.ok(broken.members.filter((m) => m.member !== 'm1').every((m) => m.ok));
});

test('checkpoints are replicated, and a tail cut back before the newest one shows against them', async () => {
  for (let i = 0; i < 4; i++) assert.equal((await m2.app.inject({ method: 'GET', url: '/api/v1/namespaces', headers: admin })).statusCode, 200);
  const seqs = await waitUntil(async () => {
    const found = await replicatedCheckpointSeqs(m2);
    return found.length > 0 ? found : undefined;
  }, 30_000, 'a checkpoint replicated to m2');
  const newest = Math.max(...seqs);
  const file = join(m2.dataDir, 'audit', 'audit-1.log');
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '');
  // The checkpoint covering seq `newest` is the record just after it; cut the file before that record.
  await writeFile(file, lines.slice(0, newest).join('\n') + '\n');
  // m2 verifies its own log directly: a verify request would first append its own RequestReceived
  // record to the cut file (a seq jump, found before the end of the log is compared with the checkpoints).
  const m2Result = await m2.audit.verifyLocal();
  assert.equal(m2Result.ok, false, JSON.stringify(m2Result));
  assert.match(m2Result.reason ?? '', /checkpoint/);
});

test('a member whose log is broken still starts, serves, and reports the break in status and metrics', async () => {
  // m1's log was edited above; reopening it is what a restart does.
  await m1.reopen();
  assert.ok(m1.audit.broken());
  assert.ok(m1.audit.problems().some((p) => /audit: log broken at audit-1\.log seq \d+/.test(p)), m1.audit.problems().join('; '));
  const status = await m1.app.inject({ method: 'POST', url: '/v3/maintenance/status', headers: admin, payload: '{}' });
  assert.equal(status.statusCode, 200);
  assert.ok((status.json<{ errors?: string[] }>().errors ?? []).some((e) => /audit: log broken/.test(e)));
  const metrics = new MemberMetrics(() => ({
    term: 1, hasLeader: true, commitIndex: 1, appliedIndex: 1, watchers: 0, sealed: false, certificateExpirySeconds: {}, pagesPerDek: {},
    auditBroken: m1.audit.broken(),
  }));
  assert.match(await metrics.render(), /^coffer_audit_broken 1$/m);
  // It keeps recording, in a fresh segment.
  const response = await m1.app.inject({ method: 'GET', url: '/api/v1/namespaces', headers: admin });
  assert.equal(response.statusCode, 200);
  assert.ok((await m1.events()).some((e) => e.auditID === response.headers['audit-id']));
  const result = await verify(m3);
  assert.equal(result.members.find((m) => m.member === 'm1')?.ok, false, 'the break keeps being reported');
});
