// A failed audit sink heals without a restart: records are refused while it fails (fail closed), the
// log tries again with backoff, and once a record can be made durable it takes records again. The chain
// records the gap with a signed recovery record, which verification explains rather than calling it
// tampering.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import {
  AuditUnavailableError, generateAuditKeyPair, verifyAuditLog,
} from '../../../src/audit/index.ts';
import { hashOf, signRecovery, type RecoveryBody } from '../../../src/audit/chain.ts';
import { canonicalJson } from '../../../src/audit/canonical.ts';
import { sodiumReady } from '../../../src/crypto/index.ts';
import type { AppendHandle, OpenAppendFile } from '../../../src/durable/index.ts';
import { waitUntil } from '../../support/wait.ts';
import { syncedAppendOver } from '../../support/power-loss/index.ts';
import { input, memberKeys, openLog, tempDir } from '../../unit/audit/helpers.ts';

const unavailable = (e: unknown) => e instanceof AuditUnavailableError && e.code === 'E_AUDIT_UNAVAILABLE';

/**
 * The deliberate seam at the file layer: real files, except that while the disk is "full" a write puts
 * half its bytes down (a short write, as a filling disk does) and the next one fails with ENOSPC.
 */
function fullDisk(): { openFile: OpenAppendFile; fill(): void; free(): void } {
  let full = false;
  const openFile: OpenAppendFile = async (file) => {
    let created = true;
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, 'ax', 0o600);
    } catch {
      created = false;
      handle = await fs.open(file, 'a', 0o600);
    }
    const wrapped: AppendHandle = syncedAppendOver({
      write: async (buffer, offset, length) => {
        if (!full) return handle.write(buffer, offset, length);
        if (offset === 0 && length > 1) return handle.write(buffer, 0, Math.floor(length / 2));
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      },
      datasync: () => handle.datasync(),
      close: () => handle.close(),
    });
    return { handle: wrapped, created };
  };
  return { openFile, fill: () => { full = true; }, free: () => { full = false; } };
}

/** Waits until `condition` holds, asking every millisecond (the log's retries run on real I/O). */
function until(condition: () => boolean, what: string): Promise<true> {
  return waitUntil(condition, 10_000, what, { pollMs: 1 });
}

async function lines(dir: string, file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path.join(dir, file), 'utf8');
  assert.ok(text === '' || text.endsWith('\n'), `${file} ends in a complete line`);
  return text === '' ? [] : text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('a full disk: records are refused, retries back off, and once space is free the log takes records again with the gap signed in the chain', async (t) => {
  const dir = await tempDir(t);
  const disk = fullDisk();
  const failed: string[] = [];
  const recovered: { seq: number; recordsCut: number; recordsRefused: number }[] = [];
  const { log, clock } = await openLog(t, dir, {
    openFile: disk.openFile, sinkRetryMs: 100, sinkRetryMsMax: 1000,
    events: { sinkFailed: ({ reason }) => failed.push(reason), sinkRecovered: (o) => recovered.push(o) },
  });
  await log.record(input());
  await log.record(input());

  disk.fill();
  const batch = await Promise.allSettled([log.record(input()), log.record(input())]);
  assert.ok(batch.every((r) => r.status === 'rejected' && unavailable(r.reason)), 'nothing is acknowledged while the disk is full');
  await assert.rejects(log.record(input()), unavailable, 'later records are refused at once');
  assert.equal(failed.length, 1);
  assert.match(failed[0]!, /ENOSPC/);
  const down = log.status();
  assert.match(down.failure ?? '', /ENOSPC/);
  assert.equal(down.durableSeq, 2);

  // Each attempt while the disk is still full fails, and the next waits twice as long, up to the maximum.
  const delays: number[] = [];
  let next = log.status().sinkRetry!.nextAttemptMs;
  for (let i = 0; i < 5; i++) {
    clock.advance(next - clock.nowMs());
    const fired = next;
    await until(() => log.status().sinkRetry?.nextAttemptMs !== fired, 'the failed attempt schedules the next');
    next = log.status().sinkRetry!.nextAttemptMs;
    delays.push(next - fired);
  }
  assert.deepEqual(delays, [200, 400, 800, 1000, 1000]);
  assert.match(log.status().sinkRetry?.lastError ?? '', /ENOSPC/);
  assert.equal(failed.length, 1, 'the failure is reported once, not once per attempt');

  disk.free();
  clock.advance(next - clock.nowMs());
  await until(() => recovered.length === 1, 'the sink recovers');
  assert.equal(log.status().failure, undefined);
  assert.equal(await log.record(input()), true, 'records are taken again without a reopen');
  assert.equal(recovered[0]!.recordsCut, 2, 'the two records of the failed batch were cut');
  assert.equal(recovered[0]!.recordsRefused, 1);

  // The file that failed ends at its last durable record; the recovery record begins a fresh file and
  // continues the chain from it.
  const first = await lines(dir, 'audit-1.log');
  assert.deepEqual(first.map((r) => r.seq), [1, 2]);
  const second = await lines(dir, 'audit-2.log');
  assert.equal(second[0]!.kind, 'Recovery');
  assert.equal(second[0]!.seq, 3);
  assert.equal(second[0]!.prevHash, first[1]!.hash);
  await log.close();
  const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey, member: 'm1' });
  assert.ok(result.ok, JSON.stringify(result));
  assert.equal(result.events, 3);
  assert.equal(result.outages.length, 1);
  assert.deepEqual({ cut: result.outages[0]!.recordsCut, refused: result.outages[0]!.recordsRefused }, { cut: 2, refused: 1 });
  assert.match(result.notes[0]!, /the audit sink failed at .* \(ENOSPC: no space left on device, write\) and took records again at .*not tampering/);
});

test('a recovery record signed with another key is reported as a forged explanation', async (t) => {
  const dir = await tempDir(t);
  const disk = fullDisk();
  let recoveredAt = -1;
  const { log, clock } = await openLog(t, dir, { openFile: disk.openFile, events: { sinkRecovered: (o) => { recoveredAt = o.seq; } } });
  await log.record(input());
  disk.fill();
  await assert.rejects(log.record(input()), unavailable);
  disk.free();
  clock.advance(log.status().sinkRetry!.nextAttemptMs - clock.nowMs());
  await until(() => recoveredAt > 0, 'the sink recovers');
  await log.close();
  // Keep the log up to the recovery record, and sign that record with a key that is not the member's.
  const [recovery] = await lines(dir, 'audit-2.log') as unknown as (RecoveryBody & { seq: number; prevHash: string; hash: string })[];
  const { hash: _hash, signature: _signature, seq, prevHash, ...unsigned } = recovery!;
  const forged = signRecovery(await sodiumReady(), unsigned, seq, prevHash, (await generateAuditKeyPair()).privateKey);
  const record = { ...forged, seq, prevHash };
  await writeFile(path.join(dir, 'audit-2.log'), `${canonicalJson({ ...record, hash: hashOf(record) })}\n`);
  const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey });
  assert.ok(!result.ok && /forged explanation of a gap/.test(result.reason), JSON.stringify(result));
});

test('with the directory replaced by a file the sink fails (ENOTDIR); once the directory is back it recovers on its own', async (t) => {
  const parent = await tempDir(t);
  const dir = path.join(parent, 'audit');
  let recovered = 0;
  // One record per file: each record needs a new file in the directory.
  const { log, clock } = await openLog(t, dir, { fileBytesTarget: 1, events: { sinkRecovered: () => { recovered++; } } });
  await log.record(input());
  await log.record(input());
  await rename(dir, path.join(parent, 'aside'));
  await writeFile(dir, 'not a directory');
  await assert.rejects(log.record(input()), (e: unknown) => unavailable(e) && /ENOTDIR/.test((e as Error).message));
  clock.advance(log.status().sinkRetry!.nextAttemptMs - clock.nowMs());
  await until(() => log.status().sinkRetry?.lastError !== undefined, 'an attempt fails while the file is in the way');
  assert.equal(recovered, 0);
  await rm(dir);
  await rename(path.join(parent, 'aside'), dir);
  clock.advance(log.status().sinkRetry!.nextAttemptMs - clock.nowMs());
  await until(() => recovered === 1, 'the sink recovers');
  assert.equal(await log.record(input()), true);
  await log.close();
  const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey });
  assert.ok(result.ok && result.outages.length === 1 && result.events === 3, JSON.stringify(result));
});

test('a recovered log reopens cleanly and keeps the outage in its verified history', async (t) => {
  const dir = await tempDir(t);
  const disk = fullDisk();
  let recovered = false;
  const first = await openLog(t, dir, { openFile: disk.openFile, events: { sinkRecovered: () => { recovered = true; } } });
  await first.log.record(input());
  disk.fill();
  await assert.rejects(first.log.record(input()), unavailable);
  disk.free();
  first.clock.advance(first.log.status().sinkRetry!.nextAttemptMs - first.clock.nowMs());
  await until(() => recovered, 'the sink recovers');
  await first.log.record(input());
  await first.log.close();
  const again = await openLog(t, dir);
  assert.equal(again.log.status().brokenAtOpen, undefined);
  await again.log.record(input());
  await again.log.close();
  const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey });
  assert.ok(result.ok && result.outages.length === 1 && result.events === 3, JSON.stringify(result));
});
