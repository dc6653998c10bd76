/**
 * The audit log on the power-loss disk (test/support/power-loss): a record whose record() resolved
 * survives a power cut, in a new log's first file and in a rotated file, and the log still verifies.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../../src/base/index.ts';
import { AuditLog, verifyAuditLog } from '../../../src/audit/index.ts';
import { mkdirDurably } from '../../../src/durable/index.ts';
import { PowerLossDisk, processKilledBeforeSync, processOn } from '../../support/power-loss/index.ts';
import { waitUntil } from '../../support/wait.ts';
import { defaultPolicy, hmacKey, input, memberKeys } from '../../unit/audit/helpers.ts';

const dataDir = '/m1/data';
const dir = `${dataDir}/audit`;

/** Opens a log on a fresh disk, records `events` (each awaited), kills the process and cuts the power. */
async function recordThenCut(seed: number, events: number, fileBytesTarget?: number): Promise<PowerLossDisk> {
  const disk = new PowerLossDisk();
  const process = processOn(disk, seed);
  await mkdirDurably(dataDir, { fs: process.fs });
  const log = await AuditLog.open({
    dir, member: 'm1', keyPair: await memberKeys(), hmacKey, policy: await defaultPolicy(), clock: process.clock, fs: process.fs,
    ...(fileBytesTarget !== undefined ? { fileBytesTarget } : {}),
  });
  for (let i = 0; i < events; i++) await log.record(input({ auditID: `id-${i}` }));
  process.kill();
  disk.powerLoss(seededRandom(seed));
  return disk;
}

test('a record acknowledged by a new log survives a power cut: the audit directory itself is durable', async () => {
  for (let seed = 1; seed <= 20; seed++) {
    const disk = await recordThenCut(seed, 1);
    const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey, member: 'm1', fs: processOn(disk).fs });
    assert.ok(result.ok, `seed ${seed}: ${result.ok ? '' : result.reason}`);
    assert.equal(result.events, 1, `seed ${seed}`);
  }
});

test('records acknowledged in rotated files survive a power cut, and the chain links the files', async () => {
  for (let seed = 1; seed <= 10; seed++) {
    const disk = await recordThenCut(seed, 12, 2048);
    const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey, member: 'm1', fs: processOn(disk).fs });
    assert.ok(result.ok, `seed ${seed}: ${result.ok ? '' : result.reason}`);
    assert.equal(result.events, 12, `seed ${seed}`);
    assert.ok(result.files.length > 2, `seed ${seed}: ${result.files.length} files`);
  }
});

test('a record acknowledged in a file a killed process created survives a power cut: opening makes the names it found durable', async () => {
  for (let seed = 1; seed <= 20; seed++) {
    const disk = new PowerLossDisk();
    const first = processOn(disk, seed);
    await mkdirDurably(dataDir, { fs: first.fs });
    const options = { dir, member: 'm1', keyPair: await memberKeys(), hmacKey, policy: await defaultPolicy() };
    const log = await AuditLog.open({ ...options, clock: first.clock, fs: first.fs });
    await log.record(input({ auditID: 'before' }));
    // Killed right after a rotation created the next file, before its directory was fsynced.
    await first.fs.openAppend(`${dir}/audit-2.log`);
    first.kill();
    const second = processOn(disk, seed);
    const reopened = await AuditLog.open({ ...options, clock: second.clock, fs: second.fs });
    await reopened.record(input({ auditID: 'after' }));
    second.kill();
    disk.powerLoss(seededRandom(seed));
    const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey, member: 'm1', fs: processOn(disk).fs });
    assert.ok(result.ok, `seed ${seed}: ${result.ok ? '' : result.reason}`);
    assert.equal(result.events, 2, `seed ${seed}`);
  }
});

test('a record a killed process wrote but never synced is made durable by the next open before the log moves on to a new file', async () => {
  for (let seed = 1; seed <= 10; seed++) {
    const disk = new PowerLossDisk();
    const setup = processOn(disk, seed);
    await mkdirDurably(dataDir, { fs: setup.fs });
    // Retention that keeps every file: the file the killed process wrote stays to be read.
    const options = { dir, member: 'm1', keyPair: await memberKeys(), hmacKey, policy: await defaultPolicy(), retention: { bytesMax: 1 << 30, ageMsMax: Number.MAX_SAFE_INTEGER } };
    const first = await AuditLog.open({ ...options, clock: setup.clock, fs: setup.fs });
    await first.record(input({ auditID: 'synced' }));
    setup.kill();
    // The next process writes one more record and dies before its fdatasync: the record is visible, not durable.
    const killed = processKilledBeforeSync(disk, seed, (path) => path === `${dir}/audit-1.log`);
    const second = await AuditLog.open({ ...options, clock: killed.clock, fs: killed.fs });
    void second.record(input({ auditID: 'unsynced' })).catch(() => undefined);
    await waitUntil(() => !killed.alive(), 5_000, 'the process to die before its fdatasync', { pollMs: 1 });
    const seen = (await processOn(disk).fs.readFile(`${dir}/audit-1.log`)).toString();
    assert.match(seen, /unsynced/, 'the killed process wrote its record');
    // The third opens the log as it finds it and, its file size target reached, goes on in a new file.
    const third = processOn(disk, seed);
    const reopened = await AuditLog.open({ ...options, fileBytesTarget: 1, clock: third.clock, fs: third.fs });
    for (let i = 0; i < 8; i++) await reopened.record(input({ auditID: `after-${i}` }));
    third.kill();
    disk.powerLoss(seededRandom(seed));
    const result = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey, member: 'm1', fs: processOn(disk).fs });
    assert.ok(result.ok, `seed ${seed}: ${result.ok ? '' : result.reason}`);
    assert.ok(result.files.length > 1, `seed ${seed}: the log went on into ${result.files.length} files`);
  }
});
