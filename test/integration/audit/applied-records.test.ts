// The log's side of records that travel in Raft entries (src/replication/audit-records.ts): the records
// of applied entries are taken once and in index order, every line says how far the log took entries
// (so a reopened log knows where the replica must hand records again), entries a snapshot installed
// leave a gap record, and the verifier reports a record of an earlier entry after a later one.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { canonicalJson } from '../../../src/audit/canonical.ts';
import { hashOf, signCheckpoint } from '../../../src/audit/chain.ts';
import { verifyAuditLog } from '../../../src/audit/index.ts';
import { auditEntriesUnmarkedMax } from '../../../src/config/index.ts';
import { sodiumReady } from '../../../src/crypto/index.ts';
import { withOneEventPerRequest } from '../../../src/api/index.ts';
import { defaultPolicy, input, memberKeys, openLog as openAnyLog, tempDir } from '../../unit/audit/helpers.ts';

/** The policy as the API applies it: every stage of a request is recorded. */
const openLog: typeof openAnyLog = async (t, dir, options = {}) => openAnyLog(t, dir, { policy: withOneEventPerRequest(await defaultPolicy()), ...options });

/** A log in `dir` that took a write's record in each of `entries`, flushed. */
async function logWithApplied(t: Parameters<typeof openLog>[0], dir: string, options: Parameters<typeof openLog>[2], entries: number[]) {
  const opened = await openLog(t, dir, options);
  const record = opened.log.shape(input({ stage: 'RequestReceived', verb: 'create' }));
  assert.ok(record !== undefined);
  for (const entry of entries) opened.log.applied(entry, record);
  await opened.log.flushed();
  return opened;
}

const lineFile = (dir: string) => path.join(dir, 'audit-1.log');
const linesIn = async (dir: string) => (await readFile(lineFile(dir), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

test('records of applied entries are taken once, in index order, and every line says how far the log took entries', async (t) => {
  const dir = await tempDir(t);
  const { log } = await openLog(t, dir);
  const record = log.shape(input({ stage: 'RequestReceived', verb: 'create' }));
  assert.ok(record !== undefined);
  log.applied(4, record);
  log.applied(4, record);
  log.applied(3, record);
  log.applied(7, undefined);
  assert.equal(log.takenThrough(), 7);
  await log.record(input());
  assert.equal(log.durableThrough(), 7, 'the local record after entry 7 is durable, and with it everything before');
  const lines = await linesIn(dir);
  assert.deepEqual(lines.map((l) => [l.stage, l.entry]), [['RequestReceived', 4], ['ResponseComplete', 7]]);
  await log.close();

  const reopened = await openLog(t, dir);
  assert.equal(reopened.log.takenThrough(), 7, 'the last line tells the reopened log where it stood');
});

test('entries a snapshot installed leave a gap record that verifies and is reported', async (t) => {
  const dir = await tempDir(t);
  const { log } = await openLog(t, dir);
  log.applied(2, undefined);
  log.skipped(1, 9);
  assert.equal(log.takenThrough(), 9);
  await log.close();
  const verdict = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey, member: 'm1' });
  assert.ok(verdict.ok, JSON.stringify(verdict));
  const gap = (await linesIn(dir)).find((l) => l.kind === 'Gap');
  assert.deepEqual(gap?.entries, { first: 3, last: 9 }, 'only the entries after those taken');
  assert.deepEqual(verdict.gaps, [{ first: 3, last: 9 }]);
  assert.ok(verdict.notes.some((note) => /entries 3\.\.9 reached this member's store through a snapshot/.test(note)), verdict.notes.join('; '));
});

test('the verifier reports a record of an earlier entry after a later one, even with every hash recomputed', async (t) => {
  const dir = await tempDir(t);
  await logWithApplied(t, dir, { checkpointEveryRecords: 1000 }, [5, 6]);
  // Rewrite the second line to claim entry 4, re-chaining every hash after it.
  const lines = await linesIn(dir);
  let prevHash = lines[0]!.hash as string;
  const rewritten = [canonicalJson(lines[0]!)];
  for (const [i, line] of lines.slice(1).entries()) {
    const { hash: _hash, ...rest } = line;
    const unhashed = { ...rest, prevHash, ...(i === 0 ? { entry: 4 } : {}) };
    const hash = hashOf(unhashed);
    rewritten.push(canonicalJson({ ...unhashed, hash }));
    prevHash = hash;
  }
  await writeFile(lineFile(dir), `${rewritten.join('\n')}\n`);
  const verdict = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey, member: 'm1' });
  assert.equal(verdict.ok, false);
  assert.match((verdict as { reason: string }).reason, /entry 4 goes back from 5/);
});

test('a log that refuses records refuses to shape one: the write is not proposed', async (t) => {
  const dir = await tempDir(t);
  const { log } = await openLog(t, dir);
  await log.close();
  assert.throws(() => log.shape(input({ stage: 'RequestReceived', verb: 'create' })), /closed/);
});

test('entries without records move the durable line on by a checkpoint every auditEntriesUnmarkedMax entries, so the WAL is not held', async (t) => {
  const dir = await tempDir(t);
  const { log } = await openLog(t, dir);
  for (let index = 1; index < auditEntriesUnmarkedMax; index++) log.applied(index, undefined);
  await log.flushed();
  assert.equal(log.durableThrough(), 0, 'no line says how far the log got yet');
  log.applied(auditEntriesUnmarkedMax, undefined);
  await log.flushed();
  assert.equal(log.durableThrough(), auditEntriesUnmarkedMax);
  assert.deepEqual((await linesIn(dir)).map((l) => [l.kind, l.entry]), [['Checkpoint', auditEntriesUnmarkedMax]]);
});

test('a rotation before an applied record does not claim the record: cut after the continuation, the log reopens before the entry', async (t) => {
  const dir = await tempDir(t);
  // One record per file: the second applied record begins a new file with a continuation.
  await logWithApplied(t, dir, { fileBytesTarget: 1 }, [4, 9]);
  const second = path.join(dir, 'audit-2.log');
  const lines = (await readFile(second, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines.map((l) => [l.kind, l.entry]), [['Continuation', 4], ['Event', 9]]);
  // The disk after a power cut that kept the continuation and lost the record after it.
  const cut = await tempDir(t);
  await writeFile(path.join(cut, 'audit-1.log'), await readFile(path.join(dir, 'audit-1.log')));
  await writeFile(path.join(cut, 'audit-2.log'), `${canonicalJson(lines[0]!)}\n`);
  const reopened = await openLog(t, cut, { fileBytesTarget: 1 });
  assert.equal(reopened.log.status().brokenAtOpen, undefined);
  assert.equal(reopened.log.takenThrough(), 4, 'the log does not claim entry 9: the replica hands it again');
});

/** `line` with `change` applied and its hash recomputed, as someone editing the file would write it back. */
function rehashed(line: Record<string, unknown>, change: Record<string, unknown>): string {
  const { hash: _hash, ...rest } = line;
  const edited = { ...rest, ...change };
  return canonicalJson({ ...edited, hash: hashOf(edited) });
}

test('a line claiming an entry beyond the newest the member holds is a break at open: the log takes records from its last trusted line', async (t) => {
  const dir = await tempDir(t);
  await logWithApplied(t, dir, { checkpointEveryRecords: 1000 }, [4, 5]);
  // The files as a crash left them (no checkpoint after the records), then edited while the member is
  // stopped: the last line claims every entry, its hash recomputed. No signature covers that line.
  const edited = await tempDir(t);
  const lines = await linesIn(dir);
  assert.deepEqual(lines.map((l) => [l.kind, l.entry]), [['Event', 4], ['Event', 5]]);
  await writeFile(lineFile(edited), `${canonicalJson(lines[0]!)}\n${rehashed(lines[1]!, { entry: Number.MAX_SAFE_INTEGER })}\n`);
  // The member's WAL holds entries through 6: entry 6 was applied while the log was closed.
  const reopened = await openLog(t, edited, { entryMax: 6 });
  const broken = reopened.log.status().brokenAtOpen;
  assert.deepEqual(broken && [broken.file, broken.seq], ['audit-1.log', 2]);
  assert.match(broken?.reason ?? '', /line 2: entry 9007199254740991 is beyond the newest Raft entry this member holds \(6\)/);
  assert.equal(reopened.log.takenThrough(), 4, 'taken through the last line verification trusts, not the edited claim');
  // The replica hands entry 5 again and then entry 6: both records are in the fresh segment.
  const record = reopened.log.shape(input({ stage: 'RequestReceived', verb: 'create' }));
  assert.ok(record !== undefined);
  reopened.log.applied(5, record);
  reopened.log.applied(6, record);
  await reopened.log.flushed();
  assert.equal(reopened.log.durableThrough(), 6);
  const fresh = (await readFile(path.join(edited, 'audit-2.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(fresh.map((l) => [l.kind, l.entry]), [['Restart', 4], ['Event', 5], ['Event', 6]]);
  assert.deepEqual(fresh[0]!.break, broken);
});

test('a checkpoint signs the entry its line carries: an edited entry on the last checkpoint is a break for verify and at open', async (t) => {
  const dir = await tempDir(t);
  const { log } = await logWithApplied(t, dir, {}, [4, 5]);
  await log.close();
  const lines = await linesIn(dir);
  const last = lines.at(-1)!;
  assert.deepEqual([last.kind, last.entry, (last.checkpoint as { entry?: number }).entry], ['Checkpoint', 5, 5]);
  lines[lines.length - 1] = JSON.parse(rehashed(last, { entry: 6 })) as Record<string, unknown>;
  await writeFile(lineFile(dir), `${lines.map((l) => canonicalJson(l)).join('\n')}\n`);
  const verdict = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey, member: 'm1' });
  assert.equal(verdict.ok, false);
  assert.match((verdict as { reason: string }).reason, /line 3: the checkpoint signs entry 5 but its line carries entry 6 \(edited\)/);
  // Within what the member holds, so only the signature shows it at open.
  const reopened = await openLog(t, dir, { entryMax: 6 });
  assert.match(reopened.log.status().brokenAtOpen?.reason ?? '', /signs entry 5/);
  assert.equal(reopened.log.takenThrough(), 5);
});

test('a checkpoint written before checkpoints signed the entry still verifies', async (t) => {
  const dir = await tempDir(t);
  const { log } = await logWithApplied(t, dir, {}, [4, 5]);
  await log.close();
  const lines = await linesIn(dir);
  const last = lines.at(-1)!;
  // The final checkpoint as a member signed it before: {member, seq, head, time}, no entry.
  const { entry: _entry, ...claim } = last.checkpoint as { member: string; seq: number; head: string; time: string; entry: number };
  const { signature, ...checkpoint } = signCheckpoint(await sodiumReady(), claim, (await memberKeys()).privateKey);
  lines[lines.length - 1] = JSON.parse(rehashed(last, { checkpoint, signature })) as Record<string, unknown>;
  await writeFile(lineFile(dir), `${lines.map((l) => canonicalJson(l)).join('\n')}\n`);
  const verdict = await verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey, member: 'm1' });
  assert.ok(verdict.ok, JSON.stringify(verdict));
  const reopened = await openLog(t, dir, { entryMax: 5 });
  assert.equal(reopened.log.status().brokenAtOpen, undefined);
  assert.equal(reopened.log.takenThrough(), 5);
});
