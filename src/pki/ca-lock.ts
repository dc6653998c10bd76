/**
 * The CA directory's lock, ca.lock: every read-modify-write of issued.json and crl.pem (initCa, issuing,
 * revoking) runs holding it, whichever process it runs in. Without it two writers each wrote back the
 * registry they had read, dropping the other's change: an issued certificate missing from the registry
 * could not be revoked, and a revocation could be undone, and left off the next CRL.
 *
 * The lock file holds its holder's process id and is never seen without it: the id is written to a
 * temporary (durable/temp-file.ts), which is then hard-linked to the lock's name — link fails if the name
 * exists, as O_EXCL does. A command finding the lock
 * - held by a running process waits, looking again every caLockPollMs, at most caLockWaitMs, then fails
 *   with CA_LOCKED naming the holder;
 * - held by a process no longer running (killed, crashed, the machine restarted) takes it over, with a
 *   warning naming that process (a process 'warning', which node prints on stderr).
 * Taking over removes a lock someone else made, so only the holder of ca.lock.takeover (made the same
 * way) does it, after reading the holder again: two commands finding the same dead holder cannot both
 * remove the lock, the later one removing the lock the earlier one had just made. A takeover file whose
 * maker is gone (it died within those few system calls) is not guessed about: CA_LOCKED says to remove it.
 * Process ids are this host's: a CA directory shared between hosts over a network file system is not
 * locked across them.
 */
import { link, rm } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { caLockPollMs, caLockWaitMs } from '../config/index.ts';
import { nodeFs } from '../durable/index.ts';
import { isPkiError, PkiError } from './errors.ts';
import { makePrivateDir, privateFileMode, readPkiText } from './files.ts';
import type { CaLayout } from './layout.ts';

/** A process id as Coffer writes it; Linux's pid_max is at most 2^22, seven digits. */
const pidLine = /^([1-9][0-9]{0,6})\n$/;

/** Runs `action` holding the CA directory's lock; `waitMs` bounds the wait while a running process holds it. */
export async function withCaLock<T>(layout: CaLayout, action: () => Promise<T>, waitMs = caLockWaitMs): Promise<T> {
  await acquire(layout, waitMs);
  try {
    return await action();
  } finally {
    await rm(layout.lock, { force: true });
  }
}

async function acquire(layout: CaLayout, waitMs: number): Promise<void> {
  await makePrivateDir(layout.dir);
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (await createHolding(layout.lock)) return;
    const holder = await holderOf(layout.lock);
    if (holder === undefined) continue; // released in between: try again at once
    if (!isRunning(holder) && (await takeOver(layout))) continue;
    if (Date.now() >= deadline) {
      throw new PkiError('CA_LOCKED', `${layout.lock} is still held by process ${holder} after ${waitMs} ms: another coffer ca command is writing this CA; try again when it has finished (if process ${holder} is not one, remove the file)`);
    }
    await delay(caLockPollMs);
  }
}

/** Removes ca.lock if its holder is not running; false if another command is taking it over meanwhile. */
async function takeOver(layout: CaLayout): Promise<boolean> {
  if (!(await createHolding(layout.lockTakeover))) {
    const taker = await holderOf(layout.lockTakeover);
    if (taker !== undefined && !isRunning(taker)) {
      throw new PkiError('CA_LOCKED', `${layout.lockTakeover} was left by process ${taker}, which ended while taking over ${layout.lock}: if no coffer ca command is running, remove both files`);
    }
    return taker === undefined;
  }
  try {
    // ca.lock is still the file just read: its holder is gone, so only a takeover removes it, and this is the one.
    const holder = await holderOf(layout.lock);
    if (holder !== undefined && !isRunning(holder)) {
      await rm(layout.lock, { force: true });
      process.emitWarning(`${layout.lock} was held by process ${holder}, which is no longer running; taken over`, { code: 'COFFER_CA_LOCK_TAKEN_OVER' });
    }
    return true;
  } finally {
    await rm(layout.lockTakeover, { force: true });
  }
}

/** Makes `path` hold this process's id, unless it exists (then false). */
async function createHolding(path: string): Promise<boolean> {
  const temp = await nodeFs.createTemp(path, privateFileMode);
  try {
    try {
      const pid = Buffer.from(`${process.pid}\n`);
      for (let written = 0; written < pid.length;) written += (await temp.handle.write(pid, written, pid.length - written)).bytesWritten;
    } finally {
      await temp.handle.close();
    }
    await link(temp.path, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await rm(temp.path, { force: true });
  }
}

/** The process id in `path`; undefined if there is no such file. */
async function holderOf(path: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readPkiText(path);
  } catch (error) {
    if (isPkiError(error, 'FILE_MISSING')) return undefined;
    throw error;
  }
  const pid = pidLine.exec(text)?.[1];
  if (pid === undefined) {
    throw new PkiError('CA_LOCKED', `${path} does not hold a process id, so no coffer command made it: if no coffer ca command is running, remove it`);
  }
  return Number(pid);
}

/** Whether process `pid` exists on this host (EPERM: it does, and is another user's). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
