/**
 * src/durable's write-then-rename on the power-loss disk: once writeFileDurably, renameDurably or
 * mkdirDurably resolved, a power cut keeps what it did; a power cut at any step before that leaves
 * the old file or the new one, complete, never a torn or empty one. The disk's own rules are shown to
 * bite first: an unsynced write and an unsynced rename can both be lost.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../../src/base/index.ts';
import { type DurableWriteStep, mkdirDurably, renameDurably, writeFileDurably } from '../../../src/durable/index.ts';
import { PowerLossDisk, processOn } from '../../support/power-loss/index.ts';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

test('the power-loss disk loses an unsynced write and an unsynced rename (control)', async () => {
  let writeLost = false;
  let renameLost = false;
  for (let seed = 1; seed <= 40; seed++) {
    const disk = new PowerLossDisk();
    const { fs } = processOn(disk, seed);
    await mkdirDurably('/d', { fs });
    await writeFileDurably('/d/a', 'old', { fs });
    const handle = (await fs.openAppend('/d/a')).handle;
    await handle.write(Buffer.from('+more'), 0, 5);
    await fs.rename('/d/a', '/d/b');
    disk.powerLoss(seededRandom(seed));
    const after = processOn(disk, seed).fs;
    if (disk.exists('/d/a')) {
      renameLost = true;
      if (text(await after.readFile('/d/a')) === 'old') writeLost = true;
    }
  }
  assert.ok(writeLost && renameLost, 'some power cut lost the unsynced write, and some the rename');
});

test('once writeFileDurably resolved, a power cut keeps the new content', async () => {
  for (let seed = 1; seed <= 20; seed++) {
    const disk = new PowerLossDisk();
    const { fs } = processOn(disk, seed);
    await mkdirDurably('/etc/coffer', { fs, mode: 0o700 });
    await writeFileDurably('/etc/coffer/file', 'first', { fs });
    await writeFileDurably('/etc/coffer/file', 'second', { fs });
    disk.powerLoss(seededRandom(seed));
    assert.equal(text(await processOn(disk).fs.readFile('/etc/coffer/file')), 'second');
  }
});

test('a power cut at any step of writeFileDurably leaves the old or the new file, complete', async () => {
  const steps: DurableWriteStep[] = ['temp-written', 'temp-synced', 'renamed', 'dir-synced'];
  const seen = new Set<string>();
  for (const cutAt of steps) {
    for (let seed = 1; seed <= 15; seed++) {
      const disk = new PowerLossDisk();
      const first = processOn(disk, seed);
      await mkdirDurably('/d', { fs: first.fs });
      await writeFileDurably('/d/f', 'old content', { fs: first.fs });
      // The killed process never finishes its write: wait for the cut, not for the write.
      await new Promise<void>((cut) => {
        void writeFileDurably('/d/f', 'new content', {
          fs: first.fs,
          onStep: (step) => {
            if (step !== cutAt) return;
            first.kill();
            disk.powerLoss(seededRandom(seed));
            cut();
          },
        });
      });
      const content = text(await processOn(disk).fs.readFile('/d/f'));
      assert.ok(content === 'old content' || content === 'new content', `cut after ${cutAt} (seed ${seed}): ${JSON.stringify(content)}`);
      if (cutAt === 'dir-synced') assert.equal(content, 'new content');
      seen.add(content);
    }
  }
  assert.equal(seen.size, 2, 'both outcomes happen');
});

test('renameDurably and mkdirDurably survive a power cut once resolved', async () => {
  for (let seed = 1; seed <= 20; seed++) {
    const disk = new PowerLossDisk();
    const { fs } = processOn(disk, seed);
    await mkdirDurably('/data/member/mvcc.incoming', { fs });
    await renameDurably('/data/member/mvcc.incoming', '/data/member/mvcc', fs);
    disk.powerLoss(seededRandom(seed));
    assert.ok(disk.exists('/data/member/mvcc'), `seed ${seed}`);
    assert.ok(!disk.exists('/data/member/mvcc.incoming'), `seed ${seed}`);
  }
});
