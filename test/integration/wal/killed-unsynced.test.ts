// The WAL on the power-loss disk (test/support/power-loss): entries a killed process appended but never
// synced are readable by the next open, which may go on in a new segment; they must be made durable
// then, or a power cut tears a segment that is not the last and the member cannot start again.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { seededRandom } from '../../../src/base/index.ts';
import { mkdirDurably } from '../../../src/durable/index.ts';
import { Wal } from '../../../src/storage/wal/index.ts';
import { PowerLossDisk, processKilledBeforeSync, processOn } from '../../support/power-loss/index.ts';
import { waitUntil } from '../../support/wait.ts';
import { keyFileKeyring, tempDir } from '../../unit/crypto/helpers.ts';
import { raftErrors, range, text } from '../../unit/wal/helpers.ts';

const walDir = '/m1/data/wal';

test('entries a killed process appended but never synced are made durable by the next open before the log rolls on', async (t) => {
  const { keyring } = await keyFileKeyring(await tempDir(t, 'coffer-wal-killed-'));
  const open = (process: ReturnType<typeof processOn>, segmentBytesTarget?: number) => Wal.open({
    dir: walDir, sealer: keyring, storeId: 'm1/raft', raftErrors, fs: process.fs, clock: process.clock,
    ...(segmentBytesTarget !== undefined ? { segmentBytesTarget } : {}),
  });
  try {
    for (let seed = 1; seed <= 10; seed++) await killedThenRolled(seed);
  } finally {
    await keyring.close();
  }

  async function killedThenRolled(seed: number): Promise<void> {
    const disk = new PowerLossDisk();
    const first = processOn(disk, seed);
    await mkdirDurably(path.dirname(walDir), { fs: first.fs });
    const wal = await open(first);
    await wal.append(range(1, 3));
    first.kill();
    // The next process appends two entries and dies before its fdatasync: readable, not durable.
    const killed = processKilledBeforeSync(disk, seed, (file) => path.dirname(file) === walDir && path.basename(file).startsWith('wal-'));
    const second = await open(killed);
    void second.append(range(4, 5)).catch(() => undefined);
    await waitUntil(() => !killed.alive(), 5_000, 'the process to die before its fdatasync', { pollMs: 1 });
    // The third finds entries 1–5, and with a tiny segment target rolls to a new segment at once.
    const third = processOn(disk, seed);
    const reopened = await open(third, 1);
    assert.equal(reopened.lastIndex(), 5, `seed ${seed}: the killed process's entries are read`);
    await reopened.append(range(6, 8));
    third.kill();
    disk.powerLoss(seededRandom(seed));
    const after = await open(processOn(disk, seed));
    assert.equal(after.lastIndex(), 8, `seed ${seed}: every entry the third process built on is there`);
    assert.deepEqual(after.entries(1, 9, Number.MAX_SAFE_INTEGER).map((e) => text(e.data).split(' ')[1]), ['1', '2', '3', '4', '5', '6', '7', '8']);
  }
});
