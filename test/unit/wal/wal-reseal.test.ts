// Wal.resealToActiveDek(): after a DEK rotation every record and the snapshot file move onto the active
// DEK in place, with a real keyring and real files; the old DEK can then be retired and the WAL still
// reads and reopens the same log. Crash states (files wholly old or wholly new, leftover temporaries)
// reopen to the same log.
import assert from 'node:assert/strict';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { seededRandom } from '../../../src/base/index.ts';
import { type Keyring, keyContentKek, openKeyring } from '../../../src/crypto/index.ts';
import { Wal, walDekUsage, WalUnusableError } from '../../../src/storage/wal/index.ts';
import { PowerLossDisk, type SimFs, processOn } from '../../support/power-loss/index.ts';
import { raftErrors, range, walFixture } from './helpers.ts';

const confState = { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
const snapshotData = new TextEncoder().encode('state machine image '.repeat(3000));
// Small segments (many files) and a small cache (entries are re-read from the segment files).
const options = { segmentBytesTarget: 4096, cacheBytesMax: 2048, initialConfState: confState };

async function usage(dir: string, keyring: Keyring): Promise<number[]> {
  return [...(await walDekUsage(dir, (sealed) => keyring.dekIdOf(sealed))).keys()].sort();
}

/** A WAL of several segments with a snapshot file, hard state and entries 101..last after the snapshot. */
async function fill(wal: Wal, last: number): Promise<void> {
  await wal.append(range(1, 200));
  await wal.setHardState({ term: 1, vote: 1, commit: 180 });
  await wal.saveSnapshot({ metadata: { index: 100, term: 1, confState }, data: snapshotData });
  await wal.append(range(201, last));
}

function assertLog(wal: Wal, last: number): void {
  assert.equal(wal.firstIndex(), 101);
  assert.equal(wal.lastIndex(), last);
  assert.deepEqual(wal.entries(101, last + 1, Infinity), range(101, last));
  assert.deepEqual(wal.initialState().hardState, { term: 1, vote: 1, commit: 180 });
  const snap = wal.snapshot();
  assert.deepEqual(snap.metadata, { index: 100, term: 1, confState });
  assert.deepEqual(snap.data, snapshotData);
}

test('reseal moves every segment and the snapshot file onto the active DEK; with the old DEK retired the same log reads and reopens', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open(options);
  await fill(wal, 260);
  // Reads before the reseal open read fds on the files about to be replaced.
  assert.deepEqual(wal.entries(101, 261, Infinity), range(101, 260));
  const segmentsBefore = wal.stats().segments;
  assert.ok(segmentsBefore >= 5, `${segmentsBefore} segments`);
  assert.deepEqual(await usage(fx.walDir, fx.keyring), [1]);

  assert.equal(await fx.keyring.rotateDek(), 2);
  const result = await wal.resealToActiveDek();
  assert.equal(result.rolled, true, 'the tail held records on DEK 1');
  assert.equal(wal.stats().segments, segmentsBefore + 1);
  assert.equal(result.segmentsRewritten, segmentsBefore, 'every segment before the new tail was rewritten');
  assert.equal(result.snapshotFilesRewritten, 1);
  assert.ok(result.recordsResealed > 100, `${result.recordsResealed} records`);
  assert.deepEqual(await usage(fx.walDir, fx.keyring), [2], 'no WAL file names DEK 1');
  assert.deepEqual((await readdir(fx.walDir)).filter((n) => n.endsWith('.tmp')), [], 'no temporary left');

  // Nothing left to do: no roll, no rewrite.
  assert.deepEqual(await wal.resealToActiveDek(), { rolled: false, segmentsRewritten: 0, snapshotFilesRewritten: 0, recordsResealed: 0 });

  // DEK 1 gone from the keyring: re-reads must come from the new files (an old fd would need DEK 1).
  await fx.keyring.retireDek(1);
  assertLog(wal, 260);
  await wal.append(range(261, 270));
  await wal.close();

  const again = await fx.open(options);
  assertLog(again, 270);
  await again.close();
});

test('appends and hard state writes issued while the reseal runs are all durable and read back after a restart', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open(options);
  await fill(wal, 260);
  await fx.keyring.rotateDek();

  let resealed = false;
  const resealing = wal.resealToActiveDek().finally(() => {
    resealed = true;
  });
  let next = 261;
  let acknowledgedDuring = 0;
  // Interleaved: each append is issued while the reseal promise is still pending.
  while (!resealed) {
    const batch = range(next, next + 4);
    next += 5;
    await Promise.all([wal.append(batch), wal.setHardState({ term: 1, vote: 1, commit: 180 })]);
    if (!resealed) acknowledgedDuring++;
  }
  const result = await resealing;
  assert.ok(acknowledgedDuring > 0, 'some appends were acknowledged before the reseal finished');
  assert.ok(result.segmentsRewritten > 0);
  const last = next - 1;
  assert.deepEqual(await usage(fx.walDir, fx.keyring), [2]);
  await fx.keyring.retireDek(1);
  assertLog(wal, last);
  await wal.close();

  const again = await fx.open(options);
  assertLog(again, last);
  await again.close();
});

test('a reseal and a snapshot save that compacts the log run one after the other, in either order', async (t) => {
  for (const snapshotFirst of [false, true]) await resealWithSnapshot(t, snapshotFirst);
});

async function resealWithSnapshot(t: { after(fn: () => Promise<void>): void }, snapshotFirst: boolean): Promise<void> {
  const fx = await walFixture(t);
  const wal = await fx.open(options);
  await fill(wal, 400);
  await fx.keyring.rotateDek();
  const save = () => wal.saveSnapshot({ metadata: { index: 300, term: 1, confState }, data: snapshotData });
  // The append may roll the tail itself (then the reseal need not): either way the result is the same.
  await Promise.all(snapshotFirst
    ? [save(), wal.resealToActiveDek(), wal.append(range(401, 420))]
    : [wal.resealToActiveDek(), save(), wal.append(range(401, 420))]);
  // Whatever the snapshot dropped was skipped, the rest re-sealed: nothing names DEK 1.
  assert.deepEqual(await usage(fx.walDir, fx.keyring), [2]);
  await wal.close();
  await fx.keyring.retireDek(1);
  const again = await fx.open(options);
  assert.equal(again.firstIndex(), 301);
  assert.deepEqual(again.entries(301, 421, Infinity), range(301, 420));
  assert.deepEqual(again.snapshot().data, snapshotData);
  await again.close();
}

test('a crash at any point of a reseal (files wholly old or wholly new, a partial temporary) reopens to the same log', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open(options);
  await fill(wal, 260);
  await wal.close();
  const oldCopy = path.join(fx.dir, 'old-wal');
  await cp(fx.walDir, oldCopy, { recursive: true });
  await fx.keyring.rotateDek();
  const resealing = await fx.open(options);
  await resealing.resealToActiveDek();
  await resealing.close();
  const newCopy = path.join(fx.dir, 'new-wal');
  await cp(fx.walDir, newCopy, { recursive: true });

  const oldNames = new Set(await readdir(oldCopy));
  const newNames = (await readdir(newCopy)).sort();
  // The reseal rolled first: the new tail exists only in the new copy and is present in every crash state.
  const rewritten = newNames.filter((n) => oldNames.has(n) && n.endsWith('.log'));
  rewritten.push(...newNames.filter((n) => n.endsWith('.snap')));
  assert.ok(rewritten.length >= 6, `${rewritten.length} files rewritten`);
  // Crash after the first k files were replaced (segments in order, then the snapshot file), with the
  // temporary of file k half written.
  for (let k = 0; k <= rewritten.length; k++) {
    await rm(fx.walDir, { recursive: true, force: true });
    await mkdir(fx.walDir, { recursive: true });
    for (const name of newNames) {
      const replaced = !oldNames.has(name) || rewritten.indexOf(name) < k;
      await cp(path.join(replaced ? newCopy : oldCopy, name), path.join(fx.walDir, name));
    }
    const pending = rewritten[k];
    if (pending !== undefined) {
      const whole = await readFile(path.join(newCopy, pending));
      await writeFile(path.join(fx.walDir, `${pending}.tmp`), whole.subarray(0, Math.floor(whole.length / 2)));
    }
    const reopened = await fx.open(options);
    assertLog(reopened, 260);
    await reopened.close();
    assert.deepEqual((await readdir(fx.walDir)).filter((n) => n.endsWith('.tmp')), [], `crash state ${k}: the temporary was removed at open`);
  }
});

test('a reseal after close is refused with WalUnusableError', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open(options);
  await wal.append(range(1, 10));
  await wal.close();
  await assert.rejects(wal.resealToActiveDek(), WalUnusableError);
});

test('a segment holding more than walResealYieldBytes of records is re-sealed whole, in steps, and reopens the same', async (t) => {
  const fx = await walFixture(t);
  const big = { segmentBytesTarget: 8 * 1024 * 1024, initialConfState: confState };
  const wal = await fx.open(big);
  await wal.append(range(1, 300, 1, 10_000));
  assert.equal(wal.stats().segments, 1);
  await fx.keyring.rotateDek();
  const result = await wal.resealToActiveDek();
  assert.deepEqual(result, { rolled: true, segmentsRewritten: 1, snapshotFilesRewritten: 0, recordsResealed: 301 });
  await fx.keyring.retireDek(1);
  assert.deepEqual(await usage(fx.walDir, fx.keyring), [2]);
  await wal.close();
  const again = await fx.open(big);
  assert.deepEqual(again.entries(1, 301, Infinity), range(1, 300, 1, 10_000));
  await again.close();
});

// The names Wal.open read are the ones the member goes on from, so the open makes them durable: a
// re-seal killed after renaming a file over its original but before the directory fsync must not be
// undone by a power cut after the next start (once, that cut brought back a snapshot file sealed with a
// DEK the member had since retired: simulator seeds 569 and 766).
test('Wal.open makes the names it read durable: a power cut after it does not undo a killed re-seal\'s rename', async () => {
  const walDir = '/data/wal';
  const kek = keyContentKek(new Uint8Array(32).fill(5), 'test KEK');
  const openWal = async (fs: SimFs) => {
    const keyring = await openKeyring({ dir: '/data', kek, fs });
    return { keyring, wal: await Wal.open({ dir: walDir, sealer: keyring, storeId: 'm1/raft', raftErrors, fs, ...options }) };
  };
  let undone = 0;
  for (let seed = 1; seed <= 12; seed++) {
    const disk = new PowerLossDisk();
    let resealing = false;
    let renamed = false;
    let killed!: () => void;
    const cut = new Promise<void>((resolve) => { killed = resolve; });
    const first = processOn(disk, seed, undefined, (process, op, path, phase) => {
      if (resealing && op === 'rename' && phase === 'after' && path.includes('/data/wal/')) renamed = true;
      if (renamed && op === 'fsyncDir' && phase === 'before' && path === walDir) {
        process.kill();
        killed();
      }
    });
    const { keyring, wal } = await openWal(first.fs);
    await fill(wal, 260);
    await keyring.rotateDek();
    resealing = true;
    void wal.resealToActiveDek();
    await cut;

    const second = processOn(disk, seed);
    const reopened = await openWal(second.fs);
    const seen = await walDekUsage(walDir, (sealed) => reopened.keyring.dekIdOf(sealed), second.fs);
    assert.ok(seen.has(2), 'the killed re-seal had put a file on DEK 2');
    disk.powerLoss(seededRandom(seed));

    const third = processOn(disk, seed);
    const keyringAfter = await openKeyring({ dir: '/data', kek, fs: third.fs });
    const after = await walDekUsage(walDir, (sealed) => keyringAfter.dekIdOf(sealed), third.fs);
    if (JSON.stringify([...after]) !== JSON.stringify([...seen])) undone++;
  }
  assert.equal(undone, 0, 'power cuts after a start that undid a rename the start had read');
});
