import assert from 'node:assert/strict';
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { type SignedCheckpoint, verifyAuditLog } from '../../../src/audit/index.ts';
import { input, memberKeys, openLog, tempDir } from '../../unit/audit/helpers.ts';

async function auditFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith('audit-')).sort((a, b) => Number(a.slice(6, -4)) - Number(b.slice(6, -4)));
}

async function firstRecord(dir: string, name: string): Promise<Record<string, unknown>> {
  return JSON.parse((await readFile(path.join(dir, name), 'utf8')).split('\n')[0]!) as Record<string, unknown>;
}

test('files rotate by size and each new file begins with a continuation; the whole chain verifies', async (t) => {
  const dir = await tempDir(t);
  const { log } = await openLog(t, dir, { fileBytesTarget: 4096 });
  for (let i = 0; i < 60; i++) await log.record(input());
  await log.close();
  const files = await auditFiles(dir);
  assert.ok(files.length >= 5, `${files.length} files`);
  for (const name of files) {
    const bytes = (await readFile(path.join(dir, name))).length;
    assert.ok(bytes <= 4096 + 1024, `${name} is ${bytes} bytes`);
  }
  for (const name of files.slice(1)) {
    const first = await firstRecord(dir, name);
    assert.equal(first.kind, 'Continuation');
    assert.equal(first.file, Number(name.slice(6, -4)));
  }
  const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey });
  assert.ok(result.ok && result.events === 60 && result.files.length === files.length, JSON.stringify(result));
});

test('retention by size keeps the newest files within the limit, records the cut, and the kept chain verifies against replicated checkpoints', async (t) => {
  const dir = await tempDir(t);
  const checkpoints: SignedCheckpoint[] = [];
  const bytesMax = 3 * 4096;
  const { log } = await openLog(t, dir, {
    fileBytesTarget: 4096, retention: { bytesMax }, checkpointEveryRecords: 5, onCheckpoint: (cp) => { checkpoints.push(cp); },
  });
  for (let i = 0; i < 120; i++) await log.record(input());
  await log.close();
  const files = await auditFiles(dir);
  const sizes = await Promise.all(files.map(async (f) => (await stat(path.join(dir, f))).size));
  // Every rotation deleted the oldest files while the kept ones exceeded the limit; the file being written comes on top.
  const closedBytes = sizes.slice(0, -1).reduce((a, b) => a + b, 0);
  assert.ok(closedBytes <= bytesMax, `${closedBytes} bytes in closed files, limit ${bytesMax}`);
  assert.ok(closedBytes + 4096 > bytesMax, `no more was deleted than the limit asks (${closedBytes} bytes kept)`);
  assert.notEqual(files[0], 'audit-1.log');
  const oldest = await firstRecord(dir, files[0]!);
  assert.equal(oldest.kind, 'Continuation');
  // The kept files' continuations name the files their rotations deleted: the cut is recorded in the chain.
  const removed = (await Promise.all(files.map((f) => firstRecord(dir, f)))).flatMap((r) => r.removes as string[]);
  const oldestNumber = Number(files[0]!.slice(6, -4));
  assert.ok(removed.length > 0);
  assert.deepEqual(removed, removed.map((_, i) => `audit-${oldestNumber - removed.length + i}.log`), 'a contiguous run just before the oldest kept file');
  const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey, replicatedCheckpoints: checkpoints });
  assert.ok(result.ok && result.firstSeq === oldest.seq, JSON.stringify(result));
  // Reopening a retained log continues it.
  const again = await openLog(t, dir, { fileBytesTarget: 4096, retention: { bytesMax } });
  assert.equal(again.log.status().brokenAtOpen, undefined);
});

test('a missing file in the middle of the kept files is a break', async (t) => {
  const dir = await tempDir(t);
  const { log } = await openLog(t, dir, { fileBytesTarget: 4096 });
  for (let i = 0; i < 40; i++) await log.record(input());
  await log.close();
  const files = await auditFiles(dir);
  assert.ok(files.length >= 3);
  await rm(path.join(dir, files[1]!));
  const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey });
  assert.ok(!result.ok && result.file === files[2] && /missing/.test(result.reason), JSON.stringify(result));
});

test('deleting the oldest file by hand does not pass for a retention cut: no kept continuation names it', async (t) => {
  const dir = await tempDir(t);
  const checkpoints: SignedCheckpoint[] = [];
  const { log } = await openLog(t, dir, { fileBytesTarget: 4096, onCheckpoint: (cp) => { checkpoints.push(cp); } });
  for (let i = 0; i < 40; i++) await log.record(input());
  await log.close();
  const files = await auditFiles(dir);
  await rm(path.join(dir, files[0]!));
  const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey, replicatedCheckpoints: checkpoints });
  assert.ok(!result.ok && result.file === files[1] && /no retention cut in the kept log names audit-1\.log/.test(result.reason), JSON.stringify(result));
});
