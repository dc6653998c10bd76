// The power-loss disk and LevelDB under the replica host, tested on their own: if they lose less than a
// real disk may, the sweep proves nothing; if they lose what a real disk keeps, it reports false bugs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../src/base/index.ts';
import { type InjectedError, PowerLossDisk, PowerLossLevel, processOn } from '../support/power-loss/index.ts';

const bytes = (text: string): Buffer => Buffer.from(text);
const encoder = new TextEncoder();

test('fdatasync makes a file durable; unsynced writes survive a power cut as a prefix, a torn write, or scattered sectors', async () => {
  const outcomes = new Set<string>();
  let reordered = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const disk = new PowerLossDisk();
    const { fs } = processOn(disk, seed);
    await fs.mkdir('/d', { recursive: true });
    await fs.fsyncDir('/');
    const { handle } = await fs.openAppend('/d/log');
    await fs.fsyncDir('/d');
    await handle.write(bytes('synced.'), 0, 7);
    await handle.datasync();
    const tail = Buffer.alloc(3 * 512, 'x');
    await handle.write(tail, 0, tail.length);
    await handle.write(bytes('last'), 0, 4);
    reordered += disk.powerLoss(seededRandom(seed)).filesReordered;
    const after = disk.file('/d/log', 'open').data.view();
    assert.equal(Buffer.from(after.subarray(0, 7)).toString(), 'synced.', `seed ${seed}: synced data kept`);
    outcomes.add(after.length === 7 ? 'all lost' : after.length === 7 + tail.length + 4 ? 'full size' : 'part');
  }
  assert.deepEqual([...outcomes].sort(), ['all lost', 'full size', 'part']);
  assert.ok(reordered > 0, 'some cut kept a later sector and lost an earlier one');
});

test('after a failed fdatasync the data stays visible but a power cut loses it, even after a later fdatasync succeeded', async () => {
  let failNext = true;
  const fault = (op: 'write' | 'datasync'): InjectedError | undefined => {
    if (op !== 'datasync' || !failNext) return undefined;
    failNext = false;
    return 'EIO';
  };
  const disk = new PowerLossDisk();
  const { fs } = processOn(disk, 1, fault);
  await fs.mkdir('/d', { recursive: true });
  await fs.fsyncDir('/');
  const { handle } = await fs.openAppend('/d/f');
  await fs.fsyncDir('/d');
  await handle.write(bytes('aaaa'), 0, 4);
  await assert.rejects(handle.datasync(), /EIO/);
  assert.equal((await fs.readFile('/d/f')).toString(), 'aaaa');
  await handle.write(bytes('bbbb'), 0, 4);
  await handle.datasync();
  disk.powerLoss(seededRandom(1));
  assert.equal(disk.file('/d/f', 'open').data.view().subarray(0, 4).every((b) => b === 0), true, 'the poisoned bytes never reached the disk');
});

test('a new name survives a power cut only once its directory was fsynced', async () => {
  let lost = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const disk = new PowerLossDisk();
    const { fs } = processOn(disk, seed);
    await fs.mkdir('/d', { recursive: true });
    await fs.fsyncDir('/');
    const kept = await fs.createFile('/d/kept');
    await kept.datasync();
    await fs.fsyncDir('/d');
    const maybe = await fs.createFile('/d/maybe');
    await maybe.datasync();
    disk.powerLoss(seededRandom(seed));
    assert.ok(disk.exists('/d/kept'), `seed ${seed}`);
    if (!disk.exists('/d/maybe')) lost++;
  }
  assert.ok(lost > 0 && lost < 30, `the unsynced name was lost in some cuts (${lost} of 30)`);
});

test('the simulated LevelDB keeps every write up to the last synced one and an intact prefix of the rest', async () => {
  for (let seed = 1; seed <= 30; seed++) {
    const disk = new PowerLossDisk();
    const first = processOn(disk, seed);
    const db = new PowerLossLevel(first.fs, '/db');
    await db.open();
    await first.fs.fsyncDir('/');
    for (let i = 1; i <= 5; i++) await db.put(encoder.encode(`k${i}`), encoder.encode(`v${i}`), { sync: i === 3 });
    first.kill();
    disk.powerLoss(seededRandom(seed));
    const reopened = new PowerLossLevel(processOn(disk, seed).fs, '/db');
    await reopened.open();
    const keys = (await reopened.keys().all()).map((k) => new TextDecoder().decode(k));
    assert.deepEqual(keys.slice(0, 3), ['k1', 'k2', 'k3'], `seed ${seed}`);
    assert.deepEqual(keys, ['k1', 'k2', 'k3', 'k4', 'k5'].slice(0, keys.length), `seed ${seed}: a prefix`);
    await reopened.close();
  }
});

test('a preallocated synced append keeps every acknowledged write and the zeros after it through a power cut, and its cut-back at close', async () => {
  for (let seed = 1; seed <= 20; seed++) {
    const disk = new PowerLossDisk();
    const { fs } = processOn(disk, seed);
    await fs.mkdir('/d', { recursive: true });
    await fs.fsyncDir('/');
    const { handle } = await fs.openSyncedAppend('/d/seg', 1024);
    await fs.fsyncDir('/d');
    await handle.write(bytes('first.'), 0, 6);
    await handle.write(Buffer.alloc(1500, 'y'), 0, 1500); // past the first step: extended again before it lands
    disk.powerLoss(seededRandom(seed));
    const after = Buffer.from(disk.file('/d/seg', 'open').data.view());
    assert.equal(after.length, 6 + 1500 + 1024, `seed ${seed}: the durable length is the last extension`);
    assert.equal(after.subarray(0, 6).toString(), 'first.', `seed ${seed}`);
    assert.ok(after.subarray(6, 1506).every((b) => b === 0x79), `seed ${seed}: the second write was acknowledged, so it is kept`);
    assert.ok(after.subarray(1506).every((b) => b === 0), `seed ${seed}: zeros after the data`);
  }
  const disk = new PowerLossDisk();
  const { fs } = processOn(disk, 1);
  await fs.mkdir('/d', { recursive: true });
  await fs.fsyncDir('/');
  const { handle } = await fs.openSyncedAppend('/d/seg', 1024);
  await fs.fsyncDir('/d');
  await handle.write(bytes('data'), 0, 4);
  await handle.close();
  disk.powerLoss(seededRandom(1));
  assert.equal(Buffer.from(disk.file('/d/seg', 'open').data.view()).toString(), 'data', 'closed: cut back to the data, durably');
});
