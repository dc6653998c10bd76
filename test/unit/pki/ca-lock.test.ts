// The CA directory's lock (src/pki/ca-lock.ts) against real processes: one holder at a time; a running
// holder is waited for, within a bound, then named in one CA_LOCKED error; a holder no longer running is
// taken over, once, with a warning naming it; a file coffer did not write is not guessed about.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { watch } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { withCaLock } from '../../../src/pki/ca-lock.ts';
import { caLayout, type CaLayout } from '../../../src/pki/index.ts';

async function tempLayout(t: TestContext): Promise<CaLayout> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-ca-lock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return caLayout(dir);
}

/** A process that runs until the test ends. */
function runningProcess(t: TestContext): ChildProcess & { pid: number } {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
  t.after(() => { child.kill(); });
  assert.ok(child.pid !== undefined);
  return child as ChildProcess & { pid: number };
}

/** The id of a process that has ended (and been reaped). */
async function endedPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await once(child, 'exit');
  assert.ok(child.pid !== undefined);
  return child.pid;
}

const exists = (path: string) => stat(path).then(() => true, () => false);

/** Resolves once `count` attempts to take the lock were seen (each makes a temporary beside it, under a new name). */
function attemptsOn(layout: CaLayout, count: number): Promise<void> {
  return new Promise((resolve) => {
    const temporaries = new Set<string>();
    const watcher = watch(layout.dir, (_event, name) => {
      if (name === null || !/^ca\.lock\.[0-9a-f]{16}\.tmp$/.test(name)) return;
      temporaries.add(name);
      if (temporaries.size === count) {
        watcher.close();
        resolve();
      }
    });
  });
}

function warnings(t: TestContext): Error[] {
  const seen: Error[] = [];
  const listener = (warning: Error) => seen.push(warning);
  process.on('warning', listener);
  t.after(() => process.off('warning', listener));
  return seen;
}

test('actions under the lock run one at a time, and the lock is gone after them', async (t) => {
  const layout = await tempLayout(t);
  let active = 0;
  let most = 0;
  await Promise.all(Array.from({ length: 8 }, (_, i) => withCaLock(layout, async () => {
    most = Math.max(most, ++active);
    await writeFile(join(layout.dir, `step-${i}`), 'x');
    active--;
  })));
  assert.equal(most, 1);
  assert.equal(await exists(layout.lock), false);
});

test('a lock a running process holds is waited for, at most the given time, then one CA_LOCKED names the holder; the lock is left alone', async (t) => {
  const layout = await tempLayout(t);
  const holder = runningProcess(t);
  await writeFile(layout.lock, `${holder.pid}\n`);
  let ran = false;
  const started = Date.now();
  await assert.rejects(withCaLock(layout, () => { ran = true; return Promise.resolve(); }, 200), {
    code: 'CA_LOCKED',
    message: `${layout.lock} is still held by process ${holder.pid} after 200 ms: another coffer ca command is writing this CA; try again when it has finished (if process ${holder.pid} is not one, remove the file)`,
  });
  assert.ok(Date.now() - started >= 200);
  assert.equal(ran, false);
  assert.equal(await readFile(layout.lock, 'utf8'), `${holder.pid}\n`);
});

test('a waiting command goes on once the holder ends, taking over the lock it left, with a warning naming it', async (t) => {
  const layout = await tempLayout(t);
  const seen = warnings(t);
  const holder = runningProcess(t);
  await writeFile(layout.lock, `${holder.pid}\n`);
  let ran = false;
  const waited = attemptsOn(layout, 2);
  const locked = withCaLock(layout, () => { ran = true; return Promise.resolve(); });
  await waited;
  assert.equal(ran, false, 'nothing runs while the holder does');

  holder.kill();
  await once(holder, 'exit');
  await locked;
  assert.equal(ran, true);
  assert.deepEqual(seen.map((w) => [(w as NodeJS.ErrnoException).code, w.message]), [
    ['COFFER_CA_LOCK_TAKEN_OVER', `${layout.lock} was held by process ${holder.pid}, which is no longer running; taken over`],
  ]);
  assert.equal(await exists(layout.lock), false);
  assert.equal(await exists(layout.lockTakeover), false);
});

test('commands finding the same dead holder together: it is taken over once, and they still run one at a time', async (t) => {
  const layout = await tempLayout(t);
  const seen = warnings(t);
  const dead = await endedPid();
  await writeFile(layout.lock, `${dead}\n`);
  let active = 0;
  let most = 0;
  await Promise.all(Array.from({ length: 6 }, () => withCaLock(layout, async () => {
    most = Math.max(most, ++active);
    await writeFile(join(layout.dir, 'step'), 'x');
    active--;
  })));
  assert.equal(most, 1);
  assert.equal(seen.filter((w) => (w as NodeJS.ErrnoException).code === 'COFFER_CA_LOCK_TAKEN_OVER').length, 1);
});

test('a lock file holding no process id, and a takeover file its maker left, are reported, not removed', async (t) => {
  const layout = await tempLayout(t);
  await writeFile(layout.lock, 'not a pid\n');
  await assert.rejects(withCaLock(layout, async () => {}), {
    code: 'CA_LOCKED',
    message: `${layout.lock} does not hold a process id, so no coffer command made it: if no coffer ca command is running, remove it`,
  });
  assert.equal(await readFile(layout.lock, 'utf8'), 'not a pid\n');

  const [holder, taker] = [await endedPid(), await endedPid()];
  await writeFile(layout.lock, `${holder}\n`);
  await writeFile(layout.lockTakeover, `${taker}\n`);
  await assert.rejects(withCaLock(layout, async () => {}), {
    code: 'CA_LOCKED',
    message: `${layout.lockTakeover} was left by process ${taker}, which ended while taking over ${layout.lock}: if no coffer ca command is running, remove both files`,
  });
  assert.equal(await readFile(layout.lock, 'utf8'), `${holder}\n`);
});
