import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { sodiumReady } from '../../../src/crypto/index.ts';
import {
  type SignedCheckpoint, checkpointSignatureValid, parseAuditPolicy, verifyAuditLog,
} from '../../../src/audit/index.ts';
import { input, memberKeys, openLog, tempDir } from '../../unit/audit/helpers.ts';

async function recordsIn(dir: string, file = 'audit-1.log'): Promise<Record<string, unknown>[]> {
  const text = await readFile(path.join(dir, file), 'utf8');
  return text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('record resolves once its line is in the file, and the untouched log verifies', async (t) => {
  const dir = await tempDir(t);
  const { log } = await openLog(t, dir);
  await log.record(input());
  const lines = await recordsIn(dir);
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.kind, 'Event');
  assert.equal(lines[0]!.seq, 1);
  await log.record(input({ verb: 'list' }));
  const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey, member: 'm1' });
  assert.deepEqual({ ok: result.ok, events: result.ok && result.events, checkpoints: result.ok && result.checkpoints }, { ok: true, events: 2, checkpoints: 0 });
});

test('concurrent records share fdatasyncs (group commit) and each resolves durable', async (t) => {
  const dir = await tempDir(t);
  const { log } = await openLog(t, dir);
  await Promise.all(Array.from({ length: 200 }, (_, i) => log.record(input({ auditID: `id-${i}` }))));
  const status = log.status();
  assert.equal(status.durableSeq, 200);
  assert.ok(status.fsyncs < 20, `${status.fsyncs} fdatasyncs for 200 records`);
  assert.equal((await recordsIn(dir)).length, 200);
});

test('a request the policy puts at None writes nothing, and an omitted stage writes nothing', async (t) => {
  const dir = await tempDir(t);
  const { log } = await openLog(t, dir);
  await log.record(input({ requestURI: '/healthz', objectRef: undefined, verb: 'get' }));
  await log.record(input({ stage: 'RequestReceived' }));
  assert.equal(log.status().seq, 0);
  await log.record(input());
  assert.equal(log.status().seq, 1);
});

test('a signed checkpoint is written every N records and handed to onCheckpoint once durable', async (t) => {
  const dir = await tempDir(t);
  const seen: SignedCheckpoint[] = [];
  const { log } = await openLog(t, dir, { checkpointEveryRecords: 3, onCheckpoint: (cp) => { seen.push(cp); } });
  for (let i = 0; i < 7; i++) await log.record(input());
  await log.checkpoint(); // the tail (seq 8's event) gets its own checkpoint now, not at the next 3
  const records = await recordsIn(dir);
  const kinds = records.map((r) => r.kind);
  assert.deepEqual(kinds, ['Event', 'Event', 'Event', 'Checkpoint', 'Event', 'Event', 'Event', 'Checkpoint', 'Event', 'Checkpoint']);
  assert.deepEqual(seen.map((cp) => cp.seq), [3, 7, 9]);
  const sodium = await sodiumReady();
  for (const cp of seen) {
    assert.ok(checkpointSignatureValid(sodium, cp, (await memberKeys()).publicKey));
    assert.equal(cp.head, records[cp.seq - 1]!.hash);
    assert.equal(cp.member, 'm1');
  }
  const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey, replicatedCheckpoints: seen });
  assert.ok(result.ok && result.checkpoints === 3 && result.events === 7, JSON.stringify(result));
});

test('a checkpoint is written every T milliseconds while records are uncovered, and not when idle', async (t) => {
  const dir = await tempDir(t);
  const seen: SignedCheckpoint[] = [];
  let checkpointed!: () => void;
  let next = new Promise<void>((resolve) => { checkpointed = resolve; });
  const { log, clock } = await openLog(t, dir, {
    checkpointIntervalMs: 1000,
    onCheckpoint: (cp) => { seen.push(cp); checkpointed(); next = new Promise<void>((r) => { checkpointed = r; }); },
  });
  await log.record(input());
  const first = next;
  clock.advance(1000);
  await first;
  assert.deepEqual(seen.map((cp) => cp.seq), [1]);
  clock.advance(5000); // nothing new: no checkpoint
  assert.equal(log.status().recordsSinceCheckpoint, 0);
  assert.equal(log.status().seq, 2);
});

test('reopening continues the chain, and close covers the tail with a checkpoint', async (t) => {
  const dir = await tempDir(t);
  const policy = parseAuditPolicy('apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n');
  const first = await openLog(t, dir, { policy });
  await first.log.record(input());
  await first.log.close();
  const second = await openLog(t, dir, { policy });
  assert.equal(second.log.status().seq, 2);
  assert.equal(second.log.status().recordsSinceCheckpoint, 0);
  assert.equal(second.log.status().brokenAtOpen, undefined);
  await second.log.record(input());
  await second.log.close();
  const kinds = (await recordsIn(dir)).map((r) => [r.seq, r.kind]);
  assert.deepEqual(kinds, [[1, 'Event'], [2, 'Checkpoint'], [3, 'Event'], [4, 'Checkpoint']]);
  const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey });
  assert.ok(result.ok, JSON.stringify(result));
});

test('a torn last line (a crash mid-write, never acknowledged) is cut off at open and is not a break', async (t) => {
  const dir = await tempDir(t);
  const first = await openLog(t, dir);
  await first.log.record(input());
  await first.log.record(input());
  await first.log.close();
  const file = path.join(dir, 'audit-1.log');
  await writeFile(file, (await readFile(file, 'utf8')) + '{"kind":"Event","seq":4,"pre', 'utf8');
  const before = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey });
  assert.ok(before.ok && before.tornTail, JSON.stringify(before));
  const second = await openLog(t, dir);
  assert.equal(second.log.status().tornTailBytesRemoved, '{"kind":"Event","seq":4,"pre'.length);
  assert.equal(second.log.status().brokenAtOpen, undefined);
  await second.log.record(input());
  await second.log.close();
  const after = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey });
  assert.ok(after.ok && !after.tornTail && after.events === 3, JSON.stringify(after));
});

test('unsynced lines whose sectors a power cut zeroed (a complete last line holding zero bytes) are a torn tail, not a break', async (t) => {
  const dir = await tempDir(t);
  const first = await openLog(t, dir);
  await first.log.record(input());
  await first.log.record(input());
  await first.log.close();
  const file = path.join(dir, 'audit-1.log');
  // Two records were being written: the power cut zeroed the sector holding the first one's start and
  // kept the sector after it, so the file ends in a complete line again.
  const torn = Buffer.concat([Buffer.alloc(300), Buffer.from('"verb":"get"}\n{"kind":"Event","seq":5}\n')]);
  await writeFile(file, Buffer.concat([await readFile(file), torn]));
  const before = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey });
  assert.ok(before.ok && before.tornTail && before.events === 2, JSON.stringify(before));
  const second = await openLog(t, dir);
  assert.equal(second.log.status().tornTailBytesRemoved, torn.length);
  assert.equal(second.log.status().brokenAtOpen, undefined);
  await second.log.record(input());
  await second.log.close();
  const after = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey });
  assert.ok(after.ok && !after.tornTail && after.events === 3, JSON.stringify(after));
});

test('an event whose line would exceed auditRecordBytesMax is recorded without its bodies', async (t) => {
  const dir = await tempDir(t);
  const { log } = await openLog(t, dir);
  const big = { kind: 'Namespace', metadata: { name: 'big', labels: { blob: 'x'.repeat(300 * 1024) } } };
  await log.record(input({ verb: 'create', requestURI: '/api/v1/namespaces', objectRef: { resource: 'namespaces', name: 'big', apiVersion: 'v1' }, requestObject: big }));
  const [record] = await recordsIn(dir);
  assert.equal(record!.requestObject, undefined);
  assert.match((record!.annotations as Record<string, string>)['coffer.dev/truncated']!, /bodies dropped/);
  assert.ok((await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey })).ok);
});
