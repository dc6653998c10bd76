// The start of a member's audit log must be the member's own: files missing before the oldest kept
// one are accepted only when a retention cut the member signed names them, every chain record must
// name the member, and a log written by someone without the member's key — a hand-written file at a
// high seq, another member's file, the newest files left after the oldest were deleted — is refused by
// verify even when it predates no replicated checkpoint, and reported broken by the member at open, which
// then starts a fresh segment instead of signing over it. Legitimate starts still verify: a retention
// cut, a fresh log, a restart segment (tamper.test.ts), a recovery (sink-recovery.test.ts).
import assert from 'node:assert/strict';
import { copyFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { chainApiVersion, chainRecord, type ContinuationBody, type RecordBody, type RestartBody, signRecord } from '../../../src/audit/chain.ts';
import { generateAuditKeyPair, type SignedCheckpoint, verifyAuditLog, type VerifyAuditResult } from '../../../src/audit/index.ts';
import { sodiumReady } from '../../../src/crypto/index.ts';
import { input, memberKeys, openLog, tempDir } from '../../unit/audit/helpers.ts';

type T = Parameters<typeof tempDir>[0];

const byNumber = (a: string, b: string) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0]);

async function auditFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => /^audit-\d+\.log$/.test(f)).sort(byNumber);
}

/** m1's log of 40 events over several files, checkpoints every 3 records, replicated; retention when asked. */
async function manyFiles(t: T, retention?: { bytesMax: number }) {
  const dir = await tempDir(t);
  const checkpoints: SignedCheckpoint[] = [];
  const { log } = await openLog(t, dir, {
    checkpointEveryRecords: 3, fileBytesTarget: 4000, onCheckpoint: (cp) => { checkpoints.push(cp); },
    ...(retention ? { retention: { ...retention, ageMsMin: 0 } } : {}),
  });
  for (let i = 0; i < 40; i++) await log.record(input({ auditID: `event-${i}`, user: { username: i === 2 ? 'mallory' : `user-${i}`, groups: ['dev'] } }));
  await log.close();
  return { dir, checkpoints, files: await auditFiles(dir) };
}

async function verifyAsM1(dir: string, checkpoints?: SignedCheckpoint[]): Promise<VerifyAuditResult> {
  return verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey, member: 'm1', ...(checkpoints ? { replicatedCheckpoints: checkpoints } : {}) });
}

function refused(result: VerifyAuditResult, pattern: RegExp): { file: string; seq: number; reason: string } {
  assert.ok(!result.ok, `verified: ${JSON.stringify({ ...result, notes: undefined })}`);
  assert.match(result.reason, pattern);
  return result;
}

const fixtureEvent = (): RecordBody => ({
  kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', auditID: '00000000-0000-4000-8000-00000000beef', stage: 'ResponseComplete',
  requestURI: '/api/v1/namespaces/default/secrets/db', verb: 'get', user: { username: 'someone-else', groups: ['system:authenticated'] },
  sourceIPs: ['10.0.0.9'], requestReceivedTimestamp: '2026-01-02T00:00:00.000Z', stageTimestamp: '2026-01-02T00:00:00.001Z',
  annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': 'invented', 'coffer.dev/member': 'm1' },
  objectRef: { resource: 'secrets', namespace: 'default', name: 'db', apiVersion: 'v1' }, responseStatus: { code: 200 },
});

/** Replaces the whole log with one hand-written file: a continuation far above every seq, with any prevHash, and an invented event. */
async function fabricate(dir: string, files: string[]): Promise<void> {
  for (const f of files) await rm(path.join(dir, f));
  const continuation = chainRecord({
    kind: 'Continuation', apiVersion: chainApiVersion, member: 'm1', time: '2026-01-02T00:00:00.000Z', file: 500, previousFile: 499, removes: ['audit-499.log'],
  }, 100_000, 'ab'.repeat(32));
  const event = chainRecord(fixtureEvent(), 100_001, continuation.fields.hash);
  await writeFile(path.join(dir, 'audit-500.log'), `${continuation.line}\n${event.line}\n`);
}

test('a log whose oldest files retention removed verifies against the replicated checkpoints, and reopens without a break', async (t) => {
  const { dir, checkpoints, files } = await manyFiles(t, { bytesMax: 9000 });
  assert.ok(!files.includes('audit-1.log'), `retention removed file 1: ${files.join(',')}`);
  const result = await verifyAsM1(dir, checkpoints);
  assert.ok(result.ok && result.firstSeq > 1, JSON.stringify(result));
  const { log } = await openLog(t, dir, { replicatedCheckpoints: checkpoints, fileBytesTarget: 4000 });
  assert.equal(log.status().brokenAtOpen, undefined);
});

test('verify refuses a log whose two oldest files were deleted by hand (no retention cut names them), key, member and replicated checkpoints given', async (t) => {
  const { dir, checkpoints, files } = await manyFiles(t);
  assert.ok(files.length >= 4, files.join(','));
  await rm(path.join(dir, 'audit-1.log'));
  await rm(path.join(dir, 'audit-2.log'));
  const b = refused(await verifyAsM1(dir, checkpoints), /the files before audit-3\.log are missing and no retention cut in the kept log names audit-2\.log/);
  assert.equal(b.file, 'audit-3.log');
});

/**
 * Deletes audit-1.log and appends, after the newest file (in the tail no checkpoint covers), a file whose
 * continuation claims that deletion as a retention cut — unsigned, or signed with `privateKey`.
 */
async function deleteAndClaimCut(dir: string, files: string[], privateKey?: Uint8Array): Promise<void> {
  await rm(path.join(dir, 'audit-1.log'));
  const last = files.at(-1)!;
  const lastLine = JSON.parse((await readFile(path.join(dir, last), 'utf8')).trimEnd().split('\n').at(-1)!) as { seq: number; hash: string };
  const next = Number(/\d+/.exec(last)![0]) + 1;
  const seq = lastLine.seq + 1;
  const unsigned: Omit<ContinuationBody, 'signature'> = {
    kind: 'Continuation', apiVersion: chainApiVersion, member: 'm1', time: '2026-01-02T00:00:00.000Z', file: next, previousFile: next - 1, removes: ['audit-1.log'],
  };
  const body = privateKey === undefined ? unsigned : signRecord<ContinuationBody>(await sodiumReady(), unsigned, seq, lastLine.hash, privateKey);
  await writeFile(path.join(dir, `audit-${next}.log`), `${chainRecord(body, seq, lastLine.hash).line}\n`);
}

test('verify refuses a deletion of the oldest files that a continuation appended in the unsigned tail claims as a retention cut', async (t) => {
  const { dir, checkpoints, files } = await manyFiles(t);
  await deleteAndClaimCut(dir, files);
  refused(await verifyAsM1(dir, checkpoints), /the retention cut at seq \d+ naming audit-1\.log is not signed by the member/);
});

test('verify refuses a continuation signed with a key that is not the member\'s', async (t) => {
  const { dir, checkpoints, files } = await manyFiles(t);
  await deleteAndClaimCut(dir, files, (await generateAuditKeyPair()).privateKey);
  refused(await verifyAsM1(dir, checkpoints), /continuation record signature does not verify under the member audit key \(forged\)/);
});

test('verify refuses m1\'s log replaced by a checkpoint-free file of member m2 (its own key and name), with or without the member named', async (t) => {
  const m1 = await manyFiles(t);
  const m2dir = await tempDir(t);
  const { log } = await openLog(t, m2dir, { member: 'm2', keyPair: await generateAuditKeyPair(), checkpointEveryRecords: 1000, fileBytesTarget: 4000 });
  for (let i = 0; i < 200; i++) await log.record(input({ auditID: `m2-${i}`, user: { username: `someone-${i}`, groups: ['dev'] } }));
  await log.close();
  for (const f of m1.files) await rm(path.join(m1.dir, f));
  const pick = (await auditFiles(m2dir)).at(-2)!;
  await copyFile(path.join(m2dir, pick), path.join(m1.dir, pick));
  refused(await verifyAsM1(m1.dir, m1.checkpoints), /continuation record names member "m2", expected "m1"/);
  const unnamed = await verifyAuditLog(m1.dir, { publicKey: (await memberKeys()).publicKey, replicatedCheckpoints: m1.checkpoints });
  refused(unnamed, /continuation record signature does not verify under the member audit key/);
});

test('verify refuses a hand-written file holding a continuation at a high seq with an arbitrary prevHash and an invented event', async (t) => {
  const m1 = await manyFiles(t);
  await fabricate(m1.dir, m1.files);
  // Every replicated checkpoint predates the forged start, and the file names its own "cut".
  const b = refused(await verifyAsM1(m1.dir, m1.checkpoints), /retention cut at seq 100000 naming audit-499\.log is not signed by the member/);
  assert.deepEqual([b.file, b.seq], ['audit-500.log', 100_000]);
  refused(await verifyAsM1(m1.dir), /not signed by the member/);
});

test('the member reopening a hand-written log reports it broken at open and starts a fresh segment instead of signing over it', async (t) => {
  const m1 = await manyFiles(t);
  await fabricate(m1.dir, m1.files);
  const { log } = await openLog(t, m1.dir, { replicatedCheckpoints: m1.checkpoints });
  const status = log.status();
  assert.match(status.brokenAtOpen?.reason ?? '', /not signed by the member/);
  assert.equal(status.file, 'audit-501.log', 'appending continues in a new file');
  await log.record(input({ auditID: 'after-reopen' }));
  await log.close();
  const fresh = (await readFile(path.join(m1.dir, 'audit-501.log'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as { kind: string; prevHash: string });
  assert.equal(fresh[0]!.kind, 'Restart');
  assert.equal(fresh[0]!.prevHash, '0'.repeat(64), 'the new segment does not chain onto the forged head');
  refused(await verifyAsM1(m1.dir, m1.checkpoints), /the chain was restarted here after a break at audit-500\.log seq 100000: the retention cut .* not signed by the member/);
});

test('the member reopening a log that ends in a hand-written restart segment reports it broken instead of continuing it', async (t) => {
  const m1 = await manyFiles(t);
  const next = Number(/\d+/.exec(m1.files.at(-1)!)![0]) + 1;
  const restart = chainRecord({
    kind: 'Restart', apiVersion: chainApiVersion, member: 'm1', time: '2026-01-02T00:00:00.000Z',
    break: { file: 'audit-1.log', seq: 1, reason: 'invented' }, lastGood: null,
  } satisfies RestartBody, 100_000, '0'.repeat(64));
  const event = chainRecord(fixtureEvent(), 100_001, restart.fields.hash);
  await writeFile(path.join(m1.dir, `audit-${next}.log`), `${restart.line}\n${event.line}\n`);
  const { log } = await openLog(t, m1.dir, { replicatedCheckpoints: m1.checkpoints });
  assert.match(log.status().brokenAtOpen?.reason ?? '', /the restart record at seq 100000 that begins this segment is not signed by the member/);
  assert.equal(log.status().file, `audit-${next + 1}.log`);
});

test('a fresh log and a log after a restart the member wrote verify and reopen as before', async (t) => {
  const dir = await tempDir(t);
  assert.ok((await verifyAsM1(dir)).ok, 'an empty directory is a fresh log');
  const first = await openLog(t, dir);
  await first.log.record(input());
  await first.log.close();
  assert.ok((await verifyAsM1(dir)).ok);
  // A break, then the member's own (signed) restart: later opens continue that segment.
  const file = path.join(dir, 'audit-1.log');
  await writeFile(file, (await readFile(file, 'utf8')).replace('"alice"', '"mallory"'));
  const second = await openLog(t, dir);
  assert.notEqual(second.log.status().brokenAtOpen, undefined);
  await second.log.close();
  const third = await openLog(t, dir);
  assert.equal(third.log.status().brokenAtOpen, undefined);
  assert.notEqual(third.log.status().segmentRestartedAfter, undefined);
});
