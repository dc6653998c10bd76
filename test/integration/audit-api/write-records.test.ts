// A write's RequestReceived record travels in its Raft entry: the member that takes the request shapes
// it, the entry makes it durable with the change on a quorum, and every member's log takes it as it
// applies the write (src/replication/audit-records.ts). These tests look at the members' files, not at
// the API's view of them: the record is in every log at the write's entry, a log that was closed or
// failed when the write was applied gets it afterwards from the WAL, and a write that proposes nothing
// (a dry run, a KV transaction that writes nothing) still has its record in the receiving member's log
// before the answer leaves.
import assert from 'node:assert/strict';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { canonicalJson } from '../../../src/audit/canonical.ts';
import { hashOf } from '../../../src/audit/chain.ts';
import { listAuditFiles, readLines } from '../../../src/audit/files.ts';
import { verifyAuditLog } from '../../../src/audit/index.ts';
import { ReplicationError } from '../../../src/replication/index.ts';
import { waitUntil } from '../../support/wait.ts';
import { waitLimitMs } from '../replication/harness.ts';
import { admin, type AuditedCluster, type AuditedMember, type AuditRecordLine, startAudited } from './harness.ts';


let audited: AuditedCluster;
let m1: AuditedMember;
let m2: AuditedMember;
let m3: AuditedMember;

before(async () => {
  // One record per file: a record after the directory is gone needs a new file, so a fault shows at once.
  audited = await startAudited(3, { sinkRetryMs: 20, sinkRetryMsMax: 50, fileBytesTarget: 1 });
  [m1, m2, m3] = audited.members as [AuditedMember, AuditedMember, AuditedMember];
});
after(() => audited.close());

const json = { ...admin, 'content-type': 'application/json' };
const b64 = (s: string) => Buffer.from(s).toString('base64');

async function put(member: AuditedMember, key: string): Promise<string> {
  const reply = await member.app.inject({ method: 'POST', url: '/v3/kv/put', headers: admin, payload: JSON.stringify({ key: b64(key), value: b64('v') }) });
  assert.equal(reply.statusCode, 200, reply.body);
  return String(reply.headers['audit-id']);
}

const received = (lines: AuditRecordLine[], auditID: string) => lines.filter((l) => l.kind === 'Event' && l.auditID === auditID && l.stage === 'RequestReceived');

test('a write taken by one member has its RequestReceived record in every member\'s log, at the write\'s entry', async () => {
  const auditID = await put(m1, 'everywhere');
  const applied = m1.backend.status().appliedIndex;
  await waitUntil(() => [m2, m3].every((m) => m.backend.status().appliedIndex >= applied), waitLimitMs, 'the followers applied the write');
  const entries = new Set<number>();
  for (const member of [m1, m2, m3]) {
    const lines = await member.records();
    const records = received(lines, auditID);
    assert.equal(records.length, 1, `${member.name} holds the record once`);
    entries.add(records[0]!.entry!);
    const completions = lines.filter((l) => l.auditID === auditID && l.stage === 'ResponseComplete');
    assert.equal(completions.length, member === m1 ? 1 : 0, `${member.name}: the completion is in the answering member's log only`);
    const verdict = await verifyAuditLog(join(member.dataDir, 'audit'), { publicKey: member.audit.publicKey, member: member.name });
    assert.ok(verdict.ok, JSON.stringify(verdict));
  }
  assert.equal(entries.size, 1, 'the same entry index on every member');
  assert.ok([...entries][0]! >= 1 && [...entries][0]! <= applied);
  // The cluster's query shows the request once, at its latest stage.
  const query = await m2.app.inject({ method: 'GET', url: '/apis/coffer.dev/v1/audit/events?limit=1000', headers: admin });
  const items = query.json<{ items: { auditID: string; stage: string }[] }>().items.filter((e) => e.auditID === auditID);
  assert.deepEqual(items.map((e) => e.stage), ['ResponseComplete']);
});

test('a write whose handler proposes nothing (a server dry run) has its record in the receiving member\'s log only, before the answer', async () => {
  const reply = await m2.app.inject({
    method: 'POST', url: '/api/v1/namespaces/default/configmaps?dryRun=All', headers: json,
    payload: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dry' }, data: { a: '1' } }),
  });
  assert.equal(reply.statusCode, 201, reply.body);
  const auditID = String(reply.headers['audit-id']);
  // The answer waited for the record: it is in the file without a flush.
  assert.equal(received(await m2.recordsWritten(), auditID).length, 1);
  assert.equal(received(await m1.records(), auditID).length, 0, 'no entry carried it to m1');
});

test('a transaction that writes nothing is served as a read: its record is in the receiving member\'s log only, before the answer', async () => {
  await put(m1, 'read-only/k');
  const reply = await m2.app.inject({
    method: 'POST', url: '/v3/kv/txn', headers: admin,
    payload: JSON.stringify({ compare: [{ key: b64('read-only/k'), target: 'VERSION', result: 'EQUAL', version: '1' }], success: [{ request_range: { key: b64('read-only/k') } }] }),
  });
  assert.equal(reply.statusCode, 200, reply.body);
  assert.equal(reply.json<{ succeeded?: boolean }>().succeeded, true, 'the linearizable read saw the put taken by m1');
  const auditID = String(reply.headers['audit-id']);
  // The answer waited for the record: it is in the file without a flush, in m2's own log only.
  assert.equal(received(await m2.recordsWritten(), auditID).length, 1);
  const applied = m2.backend.status().appliedIndex;
  await waitUntil(() => m1.backend.status().appliedIndex >= applied, waitLimitMs, 'm1 applied what m2 has');
  assert.equal(received(await m1.records(), auditID).length, 0, 'nothing was proposed: no entry carried it to m1');
});

test('a member whose log was closed while writes were applied takes their records from the WAL when it opens again', async () => {
  await m3.audit.stop();
  const auditIDs = [await put(m1, 'while-closed-1'), await put(m2, 'while-closed-2')];
  const applied = m1.backend.status().appliedIndex;
  await waitUntil(() => m3.backend.status().appliedIndex >= applied, waitLimitMs, 'm3 applied the writes');
  await m3.reopen();
  const lines = await m3.records();
  for (const auditID of auditIDs) assert.equal(received(lines, auditID).length, 1, `${auditID} replayed once`);
  const verdict = await verifyAuditLog(join(m3.dataDir, 'audit'), { publicKey: m3.audit.publicKey, member: m3.name });
  assert.ok(verdict.ok, JSON.stringify(verdict));
});

test('a member whose log failed while a write was applied gets the record once the log takes records again', async () => {
  const dir = join(m2.dataDir, 'audit');
  const aside = `${dir}.aside`;
  await rename(dir, aside);
  await writeFile(dir, 'not a directory');
  // A read on m2 writes its own record and finds the fault; from then on m2's log refuses records.
  const read = await m2.app.inject({ method: 'POST', url: '/v3/kv/range', headers: admin, payload: JSON.stringify({ key: b64('x') }) });
  assert.equal(read.statusCode, 503);
  const auditID = await put(m1, 'while-failed');
  const applied = m1.backend.status().appliedIndex;
  await waitUntil(() => m2.backend.status().appliedIndex >= applied, waitLimitMs, 'm2 applied the write');
  await rm(dir);
  await rename(aside, dir);
  await waitUntil(() => m2.audit.refusal() === undefined, waitLimitMs, 'm2\'s log takes records again');
  const lines = await m2.records();
  assert.equal(received(lines, auditID).length, 1, 'the record of the write applied during the outage is in m2\'s log');
  assert.ok(lines.some((l) => l.kind === 'Recovery'), 'the outage is recorded');
  const verdict = await verifyAuditLog(dir, { publicKey: m2.audit.publicKey, member: m2.name });
  assert.ok(verdict.ok, JSON.stringify(verdict));
});

test('a write whose proposal fails has its record made durable in the receiving member\'s log before its error leaves', async (t) => {
  let refuse = false;
  const single = await startAudited(1, {}, (audit) => audit, undefined, {}, (backend) => ({
    ...backend,
    propose: (op, record) => refuse ? Promise.reject(new ReplicationError('E_UNAVAILABLE', 'no leader (the test refuses proposals)')) : backend.propose(op, record),
  }));
  t.after(() => single.close());
  const member = single.members[0]!;
  refuse = true;
  const reply = await member.app.inject({ method: 'POST', url: '/v3/kv/put', headers: admin, payload: JSON.stringify({ key: b64('refused'), value: b64('v') }) });
  assert.equal(reply.statusCode, 503, reply.body);
  const auditID = String(reply.headers['audit-id']);
  // No flush: the answer waited for the record.
  assert.equal(received(await member.recordsWritten(), auditID).length, 1);
  assert.equal((await member.backend.range(new TextEncoder().encode('refused'), undefined, { linearizable: true })).count, 0, 'nothing was written');
});

/** The newest audit file of `member` and its lines, parsed. */
async function newestAuditFile(member: AuditedMember): Promise<{ file: string; lines: Record<string, unknown>[] }> {
  const file = (await listAuditFiles(join(member.dataDir, 'audit'))).at(-1)!.path;
  return { file, lines: (await readLines(file)).lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** `line` with `change` applied and its hash recomputed, as someone editing the file would write it back. */
function rehashed(line: Record<string, unknown>, change: Record<string, unknown>): Record<string, unknown> {
  const { hash: _hash, ...rest } = line;
  const edited = { ...rest, ...change };
  return { ...edited, hash: hashOf(edited) };
}

// While the member is stopped, its log is made to claim the records of every Raft entry: believed, it
// would take no record of any write from then on.
const entryEdits: Array<[string, (lines: Record<string, unknown>[]) => Record<string, unknown>[]]> = [
  ['the entry of the final checkpoint edited', (lines) => [...lines.slice(0, -1), rehashed(lines.at(-1)!, { entry: Number.MAX_SAFE_INTEGER })]],
  ['a gap record over every entry appended after the final checkpoint', (lines) => {
    const last = lines.at(-1)!;
    const gap = {
      kind: 'Gap', apiVersion: 'audit.coffer.dev/v1', member: 'm1', time: '2026-12-06T00:00:00.000Z',
      entries: { first: (last.entry as number) + 1, last: Number.MAX_SAFE_INTEGER },
      seq: (last.seq as number) + 1, prevHash: last.hash, entry: Number.MAX_SAFE_INTEGER,
    };
    return [...lines, { ...gap, hash: hashOf(gap) }];
  }],
];

for (const [edit, rewrite] of entryEdits) {
  test(`a member whose stopped log claims more entries than it holds (${edit}) reports the tampering and records the next write`, async (t) => {
    const warnings: { fields: object; message: string }[] = [];
    const log = { info: () => {}, warn: (fields: object, message: string) => { warnings.push({ fields, message }); }, error: () => {} };
    const single = await startAudited(1, {}, (audit) => audit, undefined, { log });
    t.after(() => single.close());
    const member = single.members[0]!;
    await put(member, 'before-the-edit');
    await member.audit.stop();
    const { file, lines } = await newestAuditFile(member);
    assert.equal(lines.at(-1)!.kind, 'Checkpoint', 'a clean stop ends in the final checkpoint');
    await writeFile(file, rewrite(lines).map((l) => `${canonicalJson(l)}\n`).join(''));

    await member.reopen();
    const auditID = await put(member, 'after-the-edit');
    const records = await member.records();
    assert.equal(received(records, auditID).length, 1, 'the write after the restart has its record in the chain');
    assert.ok(records.some((l) => l.kind === 'Restart'), 'the log continues in a fresh segment');
    const broken = warnings.find((w) => /the audit log is broken/.test(w.message));
    assert.match((broken?.fields as { reason?: string } | undefined)?.reason ?? '', /entry/, JSON.stringify(warnings));
    assert.ok(member.audit.broken());
    const verdict = await verifyAuditLog(join(member.dataDir, 'audit'), { publicKey: member.audit.publicKey, member: member.name });
    assert.equal(verdict.ok, false, 'verify reports the tampering');
  });
}
