// Audit retention by size and by age, and the flood it must survive: one denied request with a large
// User-Agent and query writes a small record (fields capped), and a flood of them cannot push history
// younger than the minimum retention out silently — the log warns when that history is at risk, and
// names every young file before it deletes it.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { verifyAuditLog } from '../../../src/audit/index.ts';
import { ManualClock } from '../../../src/base/index.ts';
import { auditRequestUriBytesMax, auditUserAgentBytesMax } from '../../../src/config/index.ts';
import { waitUntil } from '../../support/wait.ts';
import { input, memberKeys, openLog, tempDir } from '../../unit/audit/helpers.ts';

const minuteMs = 60_000;
const dayMs = 24 * 60 * minuteMs;

async function auditFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith('audit-')).sort((a, b) => Number(a.slice(6, -4)) - Number(b.slice(6, -4)));
}

/** A denied list of Secrets with a 12 KiB User-Agent and a 3 KiB query, as a flood would send it. */
const floodInput = () => input({
  verb: 'list', decision: 'forbid', decisionReason: 'RBAC: no rule allows list secrets',
  requestURI: `/api/v1/namespaces/default/secrets?labelSelector=${'a'.repeat(3 * 1024)}`,
  userAgent: 'x'.repeat(12 * 1024), user: { username: 'mallory', groups: ['dev'] },
  objectRef: { resource: 'secrets', namespace: 'default', apiVersion: 'v1' }, responseStatus: { code: 403 },
});

test('a flood of large denied requests writes capped records and cannot push young history out silently', async (t) => {
  const dir = await tempDir(t);
  const said: string[] = [];
  const { log } = await openLog(t, dir, {
    fileBytesTarget: 8 * 1024, retention: { bytesMax: 32 * 1024, ageMsMin: 60 * minuteMs, ageMsMax: 24 * 60 * minuteMs },
    events: {
      retentionAtRisk: (atRisk) => said.push(`at-risk:${atRisk}`),
      youngHistoryDropped: (files) => {
        // Reported before it goes: every file named is still on disk when the log says so.
        for (const f of files) assert.ok(existsSync(path.join(dir, f.name)), `${f.name} was reported after it was deleted`);
        said.push(...files.map((f) => `young:${f.name}`));
      },
    },
  });
  await log.record(input({ user: { username: 'alice', groups: ['dev'] } }));
  for (let i = 0; i < 200; i++) await log.record(floodInput());
  await log.close();

  const kept = await auditFiles(dir);
  const first = Number(kept[0]!.slice(6, -4));
  assert.ok(first > 1, 'the flood did push the oldest files out (the size limit holds)');
  const deleted = Array.from({ length: first - 1 }, (_, i) => `audit-${i + 1}.log`);
  // Not silently: history at risk was announced before anything young went, and every deleted file was named.
  assert.equal(said[0], 'at-risk:true', said.join(' '));
  assert.deepEqual(said.filter((s) => s.startsWith('young:')).map((s) => s.slice(6)), deleted);
  assert.ok(log.status().youngFilesDropped === deleted.length);

  // Each flood record is small: the User-Agent and the URI are capped and the cut is named.
  const records = (await readFile(path.join(dir, kept.at(-1)!), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const event = records.find((r) => r.kind === 'Event') as { userAgent: string; requestURI: string; annotations: Record<string, string> };
  assert.equal(Buffer.byteLength(event.userAgent), auditUserAgentBytesMax);
  assert.equal(Buffer.byteLength(event.requestURI), auditRequestUriBytesMax);
  assert.match(event.annotations['coffer.dev/truncated']!, /requestURI cut from \d+ to 2048 bytes, userAgent cut from 12288 to 256 bytes/);
  const longest = Math.max(...(await readFile(path.join(dir, kept.at(-1)!), 'utf8')).trimEnd().split('\n').map((l) => Buffer.byteLength(l)));
  assert.ok(longest < 4096, `the longest flood record is ${longest} bytes (a 16 KiB request)`);
  const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey });
  assert.ok(result.ok, JSON.stringify(result));
});

test('retention by age deletes files whose newest record is past the limit, even on an idle member', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const deleted: string[] = [];
  const { log } = await openLog(t, dir, {
    clock, clusterTimeMs: () => clock.nowMs(), fileBytesTarget: 2048, retention: { ageMsMax: 10 * minuteMs, ageMsMin: minuteMs },
    events: { retentionDeleted: (files) => deleted.push(...files.map((f) => `${f.name}:${f.reason}:${new Date(f.newestMs).toISOString()}`)) },
  });
  for (let i = 0; i < 12; i++) await log.record(input());
  await log.flushed();
  const before = await auditFiles(dir);
  assert.ok(before.length >= 3, before.join(' '));
  // Idle: only the checkpoint timer runs. Once the oldest file is past the limit it starts a new file
  // whose continuation deletes the old ones.
  clock.advance(11 * minuteMs);
  await waitUntil(() => deleted.length > 0, 10_000, 'the old files are deleted', { pollMs: 1 }); // said once they are gone
  await log.close();
  const after = await auditFiles(dir);
  assert.ok(!after.includes(before[0]!) && !after.includes(before.at(-2)!), `${before.join(' ')} → ${after.join(' ')}`);
  // Every deleted file is named, with its newest record's time and why it went.
  const gone = before.filter((name) => !after.includes(name));
  assert.deepEqual(deleted.map((d) => d.split(':')[0]), gone);
  assert.ok(deleted.every((d) => /^audit-\d+\.log:age:2026-01-01T00:00/.test(d)), deleted.join(' '));
  const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey });
  assert.ok(result.ok && result.firstSeq > 1, JSON.stringify(result));
});

/** A log with a few files, its clock and what the cluster's time says (set by the test). */
async function agedLog(t: Parameters<typeof tempDir>[0], cluster: { ms: number | undefined }, retention: object, said: string[]) {
  const dir = await tempDir(t);
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  cluster.ms = clock.nowMs();
  const { log } = await openLog(t, dir, {
    clock, clusterTimeMs: () => cluster.ms, fileBytesTarget: 2048, retention,
    events: {
      ageRetentionHeldBack: ({ files, clusterMs }) => said.push(`held:${files.map((f) => f.name).join(',')}:${clusterMs === undefined ? 'unknown' : 'known'}`),
      retentionDeleted: (files) => said.push(...files.map((f) => `deleted:${f.name}:${f.reason}`)),
    },
  });
  for (let i = 0; i < 12; i++) await log.record(input());
  await log.flushed();
  return { dir, clock, log, before: await auditFiles(dir) };
}

test('a member whose clock jumps 91 days ahead of the cluster time deletes nothing by age, and says it holds files back', async (t) => {
  const said: string[] = [];
  const cluster: { ms: number | undefined } = { ms: undefined };
  const { dir, clock, log, before } = await agedLog(t, cluster, { ageMsMax: 90 * dayMs, ageMsMin: minuteMs }, said);
  assert.ok(before.length >= 3, before.join(' '));
  // The cluster's time stays where it was (the other members' checkpoints); this member's clock jumps.
  clock.advance(91 * dayMs);
  await log.record(input()); // a rotation's continuation would name what it deletes
  for (let i = 0; i < 12; i++) await log.record(input());
  await log.flushed();
  assert.deepEqual((await auditFiles(dir)).slice(0, before.length), before, 'no file was deleted');
  assert.ok(said.some((s) => s.startsWith(`held:${before[0]}`) && s.endsWith(':known')), said.join(' '));
  assert.ok(!said.some((s) => s.startsWith('deleted:')), said.join(' '));
  assert.equal(log.status().ageRetentionHeldBack, true);
  // Once the cluster's time agrees, the files past the limit go, each named.
  cluster.ms = clock.nowMs();
  clock.advance(minuteMs);
  // Said once the files are gone.
  await waitUntil(() => said.includes(`deleted:${before[0]}:age`), 10_000, 'the old files are deleted', { pollMs: 1 });
  assert.ok(!existsSync(path.join(dir, before[0]!)));
  assert.equal(log.status().ageRetentionHeldBack, false);
});

test('with no cluster time nothing is deleted by age, and the size limit still deletes (and names young history)', async (t) => {
  const said: string[] = [];
  const cluster: { ms: number | undefined } = { ms: undefined };
  const { dir, clock, log, before } = await agedLog(t, cluster, { ageMsMax: 10 * minuteMs, ageMsMin: minuteMs, bytesMax: 64 * 1024 }, said);
  cluster.ms = undefined;
  clock.advance(11 * minuteMs);
  await log.record(input());
  await log.flushed();
  assert.deepEqual((await auditFiles(dir)).slice(0, before.length), before, 'no file was deleted by age');
  assert.ok(said.some((s) => s.startsWith(`held:${before[0]}`) && s.endsWith(':unknown')), said.join(' '));
  // The size limit protects the disk whatever the clocks say.
  for (let i = 0; i < 400; i++) await log.record(floodInput());
  await log.flushed();
  const after = await auditFiles(dir);
  assert.ok(!after.includes(before[0]!), `${before.join(' ')} → ${after.join(' ')}`);
  assert.ok(said.includes(`deleted:${before[0]}:size`), said.join(' '));
});

test('an empty newest file left by a crash mid-rotation takes the next age-driven continuation, the newest full file stays, and the chain still verifies', async (t) => {
  const dir = await tempDir(t);
  const retention = { ageMsMax: 10 * minuteMs, ageMsMin: minuteMs };
  const first = await openLog(t, dir, { fileBytesTarget: 2048, retention });
  for (let i = 0; i < 12; i++) await first.log.record(input());
  await first.log.close();
  const files = await auditFiles(dir);
  // A crash right after a rotation created its file, before the file's first line was written.
  const empty = `audit-${Number(files.at(-1)!.slice(6, -4)) + 1}.log`;
  await writeFile(path.join(dir, empty), '');
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const { log } = await openLog(t, dir, { clock, clusterTimeMs: () => clock.nowMs(), fileBytesTarget: 2048, retention });
  assert.equal(log.status().file, empty);
  clock.advance(11 * minuteMs); // idle: the checkpoint timer finds the oldest file past the age limit
  await log.flushed();
  await log.close();
  const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey });
  assert.ok(result.ok, JSON.stringify(result));
  const after = await auditFiles(dir);
  assert.ok(after.includes(empty) && (await readFile(path.join(dir, empty), 'utf8')).startsWith('{"apiVersion"'), after.join(' '));
  // As after any rotation, the newest full file stays: the empty file is the new one, not the one kept.
  assert.ok(after.includes(files.at(-1)!) && !after.includes(files.at(-2)!), `${files.join(' ')} → ${after.join(' ')}`);
});
