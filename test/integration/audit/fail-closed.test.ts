// Fail closed: when a record cannot be made durable, record() rejects and the request must fail (503).
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { AuditLog, AuditUnavailableError, verifyAuditLog } from '../../../src/audit/index.ts';
import type { AppendHandle, OpenAppendFile } from '../../../src/durable/index.ts';
import { defaultPolicy, hmacKey, input, memberKeys, openLog, tempDir } from '../../unit/audit/helpers.ts';
import { syncedAppendOver } from '../../support/power-loss/index.ts';

const unavailable = (e: unknown) => e instanceof AuditUnavailableError && e.code === 'E_AUDIT_UNAVAILABLE';

test('a log cannot be opened where the audit directory cannot exist (a file is in the way)', async (t) => {
  const dataDir = await tempDir(t);
  await writeFile(path.join(dataDir, 'audit'), 'not a directory');
  await assert.rejects(
    AuditLog.open({ dir: path.join(dataDir, 'audit'), member: 'm1', keyPair: await memberKeys(), hmacKey, policy: await defaultPolicy() }),
    (e: unknown) => unavailable(e) && /cannot be (created|read)/.test((e as Error).message),
  );
});

test('when the directory disappears and a file takes its place, the next file cannot be created and record rejects', async (t) => {
  const parent = await tempDir(t);
  const dir = path.join(parent, 'audit');
  const { log } = await openLog(t, dir, { fileBytesTarget: 2048 });
  await log.record(input());
  await rm(dir, { recursive: true });
  await writeFile(dir, 'not a directory');
  // Records keep going to the already-open (now unlinked) file until rotation needs a new file in the dir.
  const results = await Promise.allSettled(Array.from({ length: 10 }, () => log.record(input())));
  const rejected = results.filter((r) => r.status === 'rejected');
  assert.ok(rejected.length > 0, 'some record must be refused');
  assert.ok(rejected.every((r) => unavailable(r.reason)));
  assert.match(log.status().failure ?? '', /ENOTDIR/);
  await assert.rejects(log.record(input()), unavailable, 'after a failure every record is refused');
});

/** A seam: real files, synced after each write, except that the sync fails with ENOSPC once `failing` is set. */
function flakyDisk(): { openFile: OpenAppendFile; fail(): void } {
  let failing = false;
  const openFile: OpenAppendFile = async (file) => {
    const { promises: fs } = await import('node:fs');
    const handle = await fs.open(file, 'a', 0o600);
    const wrapped: AppendHandle = syncedAppendOver({
      write: (buffer, offset, length) => handle.write(buffer, offset, length),
      datasync: () => (failing ? Promise.reject(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })) : handle.datasync()),
      close: () => handle.close(),
    });
    return { handle: wrapped, created: false };
  };
  return { openFile, fail: () => { failing = true; } };
}

test('when fdatasync fails, every waiting record rejects, later ones too, and nothing is acknowledged', async (t) => {
  const dir = await tempDir(t);
  const disk = flakyDisk();
  const { log } = await openLog(t, dir, { openFile: disk.openFile });
  await log.record(input());
  disk.fail();
  const batch = await Promise.allSettled([log.record(input()), log.record(input()), log.record(input())]);
  assert.deepEqual(batch.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
  assert.ok(batch.every((r) => r.status === 'rejected' && unavailable(r.reason)));
  assert.match(log.status().failure ?? '', /ENOSPC/);
  assert.equal(log.status().durableSeq, 1);
  await assert.rejects(log.record(input()), unavailable);
  await assert.rejects(log.checkpoint(), unavailable);
});

test('after a failure the member reopens the log and the chain still verifies', async (t) => {
  const dir = await tempDir(t);
  const disk = flakyDisk();
  const first = await openLog(t, dir, { openFile: disk.openFile });
  await first.log.record(input());
  disk.fail();
  await assert.rejects(first.log.record(input()), unavailable);
  await first.log.close();
  // The failed record's line may or may not be in the file (written, not synced); either way the chain holds.
  const second = await openLog(t, dir);
  assert.equal(second.log.status().brokenAtOpen, undefined);
  await second.log.record(input());
  await second.log.close();
  const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey });
  assert.ok(result.ok, JSON.stringify(result));
});
