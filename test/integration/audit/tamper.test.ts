// Verification against every kind of tampering the issue names, and the opener's behaviour on a broken log.
import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { sodiumReady } from '../../../src/crypto/index.ts';
import { canonicalJson } from '../../../src/audit/canonical.ts';
import { hashOf, signCheckpoint } from '../../../src/audit/chain.ts';
import {
  type SignedCheckpoint, type VerifyAuditResult, generateAuditKeyPair, verifyAuditLog,
} from '../../../src/audit/index.ts';
import { input, memberKeys, openLog, tempDir } from '../../unit/audit/helpers.ts';

/** A closed log of 10 events with checkpoints after every 4 records: E E E E C E E E E C E E C (13 records). */
async function writtenLog(t: Parameters<typeof tempDir>[0]): Promise<{ dir: string; file: string; checkpoints: SignedCheckpoint[] }> {
  const dir = await tempDir(t);
  const checkpoints: SignedCheckpoint[] = [];
  const { log } = await openLog(t, dir, { checkpointEveryRecords: 4, onCheckpoint: (cp) => { checkpoints.push(cp); } });
  for (let i = 0; i < 10; i++) await log.record(input({ auditID: `event-${i}`, user: { username: `user-${i}`, groups: ['dev'] } }));
  await log.close();
  return { dir, file: path.join(dir, 'audit-1.log'), checkpoints };
}

async function lines(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8')).trimEnd().split('\n');
}

async function writeLines(file: string, content: string[]): Promise<void> {
  await writeFile(file, content.join('\n') + '\n');
}

async function verify(dir: string, replicatedCheckpoints?: SignedCheckpoint[]): Promise<VerifyAuditResult> {
  return verifyAuditLog(dir, { publicKey: (await memberKeys()).publicKey, member: 'm1', ...(replicatedCheckpoints ? { replicatedCheckpoints } : {}) });
}

function broken(result: VerifyAuditResult): { file: string; seq: number; reason: string } {
  assert.equal(result.ok, false, 'verification should have failed');
  return result;
}

test('an untouched log verifies, with the replicated checkpoints too', async (t) => {
  const { dir, checkpoints } = await writtenLog(t);
  assert.equal(checkpoints.length, 3);
  const result = await verify(dir, checkpoints);
  assert.ok(result.ok && result.events === 10 && result.checkpoints === 3 && result.lastSeq === 13, JSON.stringify(result));
});

test('an edited field is reported at its seq', async (t) => {
  const { dir, file } = await writtenLog(t);
  const content = await lines(file);
  content[2] = content[2]!.replace('"user-2"', '"user-X"');
  await writeLines(file, content);
  const b = broken(await verify(dir));
  assert.deepEqual([b.file, b.seq], ['audit-1.log', 3]);
  assert.match(b.reason, /hash does not match its content \(edited\)/);
});

test('an edit whose author recomputed every later hash is caught by the next checkpoint signature', async (t) => {
  const { dir, file } = await writtenLog(t);
  const records = (await lines(file)).map((l) => JSON.parse(l) as Record<string, unknown>);
  (records[1]!.user as { username: string }).username = 'nobody';
  let prev = records[0]!.hash as string;
  for (const r of records.slice(1)) {
    r.prevHash = prev;
    if (r.kind === 'Checkpoint') (r.checkpoint as { head: string }).head = prev; // keeps the claim consistent, not the signature
    delete r.hash;
    r.hash = hashOf(r);
    prev = r.hash as string;
  }
  await writeLines(file, records.map((r) => canonicalJson(r)));
  const b = broken(await verify(dir));
  assert.equal(b.seq, 5);
  assert.match(b.reason, /checkpoint signature does not verify/);
});

test('a deleted line is reported where the sequence jumps', async (t) => {
  const { dir, file } = await writtenLog(t);
  const content = await lines(file);
  content.splice(6, 1);
  await writeLines(file, content);
  const b = broken(await verify(dir));
  assert.equal(b.seq, 8);
  assert.match(b.reason, /seq jumps from 6 to 8 \(lines deleted\)/);
});

test('two swapped lines are reported', async (t) => {
  const { dir, file } = await writtenLog(t);
  const content = await lines(file);
  [content[6], content[7]] = [content[7]!, content[6]!];
  await writeLines(file, content);
  const b = broken(await verify(dir));
  assert.equal(b.seq, 8);
  assert.match(b.reason, /seq jumps from 6 to 8/);
});

test('a cut tail verifies alone but is reported against the replicated checkpoints', async (t) => {
  const { dir, file, checkpoints } = await writtenLog(t);
  const content = await lines(file);
  await writeLines(file, content.slice(0, 10)); // keeps seq 1..10: the checkpoints over 4 and 9 are still there, the one over 12 is not
  const alone = await verify(dir);
  assert.ok(alone.ok && alone.lastSeq === 10, 'without the cluster record, a clean cut at a line boundary is invisible');
  const b = broken(await verify(dir, checkpoints));
  assert.equal(b.file, 'audit-1.log');
  assert.match(b.reason, /cut tail: the cluster holds a checkpoint at seq 12 but the log ends at seq 10/);
});

test('dropping only the final checkpoint line is reported against the replicated checkpoint it wrote', async (t) => {
  const { dir, file, checkpoints } = await writtenLog(t);
  await writeLines(file, (await lines(file)).slice(0, 12)); // every event kept, the checkpoint record over seq 12 dropped
  const b = broken(await verify(dir, checkpoints));
  assert.equal(b.seq, 13);
  assert.match(b.reason, /cut tail: the log ends before the checkpoint record the cluster holds for seq 12/);
});

test('a tail rewritten after the last replicated checkpoint with recomputed hashes is reported against it', async (t) => {
  const { dir, file, checkpoints } = await writtenLog(t);
  const records = (await lines(file)).map((l) => JSON.parse(l) as Record<string, unknown>);
  const kept = records.slice(0, 12); // seq 1..12: the final checkpoint (13) dropped, event 12 rewritten
  (kept[11]!.user as { username: string }).username = 'nobody';
  delete kept[11]!.hash;
  kept[11]!.hash = hashOf(kept[11]!);
  await writeLines(file, kept.map((r) => canonicalJson(r)));
  assert.ok((await verify(dir)).ok, 'no signature covers the rewritten record locally');
  const b = broken(await verify(dir, checkpoints));
  assert.equal(b.seq, 12);
  assert.match(b.reason, /differs from the cluster's replicated checkpoint at seq 12/);
});

test('a forged checkpoint (signed with another key, hashes recomputed) is reported', async (t) => {
  const { dir, file } = await writtenLog(t);
  const sodium = await sodiumReady();
  const mallory = await generateAuditKeyPair();
  const records = (await lines(file)).map((l) => JSON.parse(l) as Record<string, unknown>);
  const cpRecord = records[4]!;
  const claim = cpRecord.checkpoint as { member: string; seq: number; head: string; time: string };
  const { signature, ...checkpoint } = signCheckpoint(sodium, claim, mallory.privateKey);
  cpRecord.checkpoint = checkpoint;
  cpRecord.signature = signature;
  let prev = records[3]!.hash as string;
  for (const r of records.slice(4)) {
    r.prevHash = prev;
    if (r.kind === 'Checkpoint' && r !== cpRecord) (r.checkpoint as { head: string }).head = prev;
    delete r.hash;
    r.hash = hashOf(r);
    prev = r.hash as string;
  }
  await writeLines(file, records.map((r) => canonicalJson(r)));
  const b = broken(await verify(dir));
  assert.equal(b.seq, 5);
  assert.match(b.reason, /checkpoint signature does not verify under the member audit key \(forged\)/);
});

test('a forged replicated checkpoint is reported', async (t) => {
  const { dir, checkpoints } = await writtenLog(t);
  const forged = { ...checkpoints[0]!, head: 'f'.repeat(64) };
  const b = broken(await verify(dir, [forged]));
  assert.match(b.reason, /replicated checkpoint at seq 4 has a signature that does not verify/);
});

test('a broken log still opens: the break is reported and appending continues in a fresh segment', async (t) => {
  const { dir, file } = await writtenLog(t);
  const content = await lines(file);
  content.splice(6, 1);
  await writeLines(file, content);
  const { log } = await openLog(t, dir);
  const status = log.status();
  assert.deepEqual(status.brokenAtOpen && [status.brokenAtOpen.file, status.brokenAtOpen.seq], ['audit-1.log', 8]);
  assert.equal(status.file, 'audit-2.log');
  assert.equal(status.seq, 14, 'the restart record takes a seq above every seq seen');
  await log.record(input());
  await log.close();
  const fresh = (await lines(path.join(dir, 'audit-2.log'))).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(fresh.map((r) => r.kind), ['Restart', 'Event', 'Checkpoint']);
  assert.deepEqual(fresh[0]!.break, status.brokenAtOpen);
  assert.deepEqual(fresh[0]!.lastGood, { seq: 6, hash: (JSON.parse(content[5]!) as { hash: string }).hash });
  // verify keeps reporting the original break; the broken file is left as it was. Then the restart,
  // from which it follows the fresh segment.
  const result = await verify(dir);
  const b = broken(result);
  assert.deepEqual([b.file, b.seq], ['audit-1.log', 8]);
  assert.deepEqual(breaksOf(result).map(([file]) => file), ['audit-1.log', 'audit-2.log']);
  assert.match(breaksOf(result)[1]![1], /^line 1: the chain was restarted here after a break at audit-1\.log seq 8/);
  // Opening again continues the fresh segment: no second restart, and the earlier break stays visible.
  const again = await openLog(t, dir);
  assert.equal(again.log.status().brokenAtOpen, undefined);
  assert.deepEqual(again.log.status().segmentRestartedAfter, status.brokenAtOpen);
  assert.equal(again.log.status().file, 'audit-2.log');
});

test('a member whose tail was cut restarts above the replicated checkpoints, so no seq is reused', async (t) => {
  const { dir, file, checkpoints } = await writtenLog(t);
  await writeLines(file, (await lines(file)).slice(0, 9));
  const { log } = await openLog(t, dir, { replicatedCheckpoints: checkpoints });
  assert.match(log.status().brokenAtOpen?.reason ?? '', /cut tail/);
  assert.equal(log.status().seq, 13, 'above the replicated checkpoint at seq 12');
});

test('a missing audit directory does not verify, an empty one (a fresh member) does', async (t) => {
  const dir = await tempDir(t);
  const missing = broken(await verify(path.join(dir, 'nope')));
  assert.match(missing.reason, /does not exist/);
  const empty = await verify(dir);
  assert.ok(empty.ok && empty.events === 0);
});

test('a line whose bytes are not UTF-8 is a break naming its file and line, never its content, for verify and at open', async (t) => {
  const dir = await tempDir(t);
  const { log } = await openLog(t, dir);
  // A name holding U+FFFD (bytes EF BF BD): the same text as any invalid byte decoded leniently.
  await log.record(input({ user: { username: 'bob\uFFFD', groups: ['dev'] } }));
  await log.record(input());
  await log.close();
  const file = path.join(dir, 'audit-1.log');
  const bytes = await readFile(file);
  const at = bytes.indexOf(Buffer.from('\uFFFD'));
  assert.ok(at > 0, 'the record holds U+FFFD');
  await writeFile(file, Buffer.concat([bytes.subarray(0, at), Buffer.from([0xff]), bytes.subarray(at + 3)]));
  const b = broken(await verify(dir));
  assert.deepEqual([b.file, b.seq], ['audit-1.log', 1]);
  assert.equal(b.reason, 'line 1 is not valid UTF-8 (its bytes were edited)');
  const reopened = await openLog(t, dir);
  assert.deepEqual(reopened.log.status().brokenAtOpen, { file: 'audit-1.log', seq: 1, reason: 'line 1 is not valid UTF-8 (its bytes were edited)' });
});

test('a byte order mark put before the first line is a break, not read past', async (t) => {
  const { dir, file } = await writtenLog(t);
  await writeFile(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), await readFile(file)]));
  const b = broken(await verify(dir));
  assert.deepEqual([b.file, b.seq], ['audit-1.log', 1]);
  assert.match(b.reason, /^line 1 is not valid JSON/);
});

/** A closed log of 40 events over several files, a checkpoint every 3 records, and its replicated checkpoints. */
async function writtenFiles(t: Parameters<typeof tempDir>[0]): Promise<{ dir: string; files: string[]; checkpoints: SignedCheckpoint[] }> {
  const dir = await tempDir(t);
  const checkpoints: SignedCheckpoint[] = [];
  const { log } = await openLog(t, dir, { checkpointEveryRecords: 3, fileBytesTarget: 4000, onCheckpoint: (cp) => { checkpoints.push(cp); } });
  for (let i = 0; i < 40; i++) await log.record(input({ auditID: `event-${i}`, user: { username: `user-${i}`, groups: ['dev'] } }));
  await log.close();
  const files = (await readdir(dir)).filter((f) => /^audit-\d+\.log$/.test(f)).sort((a, b) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0]));
  assert.ok(files.length >= 3, `several files: ${files.join(', ')}`);
  return { dir, files, checkpoints };
}

/** Every break verification reported, as [file, reason]. */
function breaksOf(result: VerifyAuditResult): [string, string][] {
  assert.ok(!result.ok, 'verification should have failed');
  assert.ok(Array.isArray(result.breaks), `every break is reported, not only the first: ${JSON.stringify(result)}`);
  return result.breaks.map((b) => [b.file, b.reason]);
}

test('after a flipped byte in an old file, verify goes on from the next file the member signed: a line deleted in the newest file is reported too', async (t) => {
  const { dir, files } = await writtenFiles(t);
  const oldest = path.join(dir, files[0]!);
  const newest = path.join(dir, files.at(-1)!);
  const old = await lines(oldest);
  old[1] = old[1]!.replace('"user-1"', '"user-X"');
  await writeLines(oldest, old);
  const alone = breaksOf(await verify(dir));
  assert.equal(alone.length, 1, JSON.stringify(alone));
  const fresh = await lines(newest);
  assert.ok(fresh.length >= 4, `the newest file holds a few records: ${fresh.length}`);
  fresh.splice(2, 1);
  await writeLines(newest, fresh);
  const result = await verify(dir);
  const b = broken(result);
  assert.deepEqual([b.file, b.seq], [files[0], 2], 'the first break stays the one the report leads with');
  const found = breaksOf(result);
  assert.equal(found.length, 2, JSON.stringify(found));
  assert.equal(found[0]![0], files[0]);
  assert.match(found[0]![1], /^line 2: the record's hash does not match its content/);
  assert.equal(found[1]![0], files.at(-1));
  assert.match(found[1]![1], /^line 3: seq jumps from \d+ to \d+ \(lines deleted\)/);
});

test('after a break, a tail cut from the newest file still shows against the replicated checkpoints', async (t) => {
  const { dir, files, checkpoints } = await writtenFiles(t);
  const oldest = path.join(dir, files[0]!);
  const old = await lines(oldest);
  old[1] = old[1]!.replace('"user-1"', '"user-X"');
  await writeLines(oldest, old);
  const newest = path.join(dir, files.at(-1)!);
  await writeLines(newest, (await lines(newest)).slice(0, -1)); // the final checkpoint line dropped
  const found = breaksOf(await verify(dir, checkpoints));
  assert.equal(found.length, 2, JSON.stringify(found));
  assert.match(found[1]![1], /cut tail: the log ends before the checkpoint record the cluster holds/);
});

test('after a break, a later file the member\'s signature does not anchor is itself a break: its start is not trusted', async (t) => {
  const { dir, files } = await writtenFiles(t);
  const oldest = path.join(dir, files[0]!);
  const old = await lines(oldest);
  old[1] = old[1]!.replace('"user-1"', '"user-X"');
  await writeLines(oldest, old);
  // The second file rewritten whole from a continuation stripped of its signature, every hash recomputed.
  const second = path.join(dir, files[1]!);
  const records = (await lines(second)).map((l) => JSON.parse(l) as Record<string, unknown>);
  delete records[0]!.signature;
  (records[1]!.user as { username: string }).username = 'nobody';
  let prev = records[0]!.prevHash as string;
  for (const r of records) {
    r.prevHash = prev;
    delete r.hash;
    r.hash = hashOf(r);
    prev = r.hash as string;
  }
  await writeLines(second, records.map((r) => canonicalJson(r)));
  const found = breaksOf(await verify(dir));
  assert.ok(found.some(([file, reason]) => file === files[1] && /^line 1: .*unsigned continuation/.test(reason)), JSON.stringify(found));
});

test('files missing in the middle are reported, and verification goes on in the files after them', async (t) => {
  const { dir, files } = await writtenFiles(t);
  await rm(path.join(dir, files[1]!));
  const newest = path.join(dir, files.at(-1)!);
  const fresh = await lines(newest);
  fresh.splice(2, 1);
  await writeLines(newest, fresh);
  const found = breaksOf(await verify(dir));
  assert.deepEqual(found.map(([file]) => file), [files[2], files.at(-1)], JSON.stringify(found));
  assert.match(found[0]![1], /are missing/);
  assert.match(found[1]![1], /seq jumps/);
});

test('after a restart, verify follows the fresh segment: a line deleted in it is reported too', async (t) => {
  const { dir, file } = await writtenLog(t);
  const content = await lines(file);
  content.splice(6, 1);
  await writeLines(file, content);
  const { log } = await openLog(t, dir);
  for (let i = 0; i < 3; i++) await log.record(input());
  await log.close();
  const fresh = path.join(dir, 'audit-2.log');
  const segment = await lines(fresh);
  assert.deepEqual(segment.map((l) => (JSON.parse(l) as { kind: string }).kind), ['Restart', 'Event', 'Event', 'Event', 'Checkpoint']);
  segment.splice(2, 1);
  await writeLines(fresh, segment);
  const found = breaksOf(await verify(dir));
  assert.deepEqual(found.map(([f]) => f), ['audit-1.log', 'audit-2.log', 'audit-2.log'], JSON.stringify(found));
  assert.match(found[1]![1], /restarted here/);
  assert.match(found[2]![1], /^line 3: seq jumps/);
});
