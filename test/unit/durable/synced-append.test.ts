// Synced appends: the group appender's files are opened O_DSYNC, so a batch becomes durable in one write
// (its data and the file's size on stable storage when the write returns), not a write and an fdatasync.
import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { type DurableFs, GroupAppender, nodeFs, type SyncedAppendHandle } from '../../../src/durable/index.ts';

/** The flags an open file descriptor of this process carries, as the kernel reports them. */
async function openFlags(fd: number): Promise<number> {
  const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8');
  const flags = /^flags:\s+([0-7]+)$/m.exec(info)?.[1];
  assert.ok(flags !== undefined, `no flags in /proc/self/fdinfo/${fd}: ${info}`);
  return parseInt(flags, 8);
}

/** The access mode bits of open(2)'s flags (O_ACCMODE, which node does not export). */
const accessModeMask = 0o3;

const fdOf = (handle: SyncedAppendHandle): number => (handle as unknown as { fd: number }).fd;

/** The descriptor this process has open on `file` (one expected). */
async function fdOn(file: string): Promise<number> {
  const fds: number[] = [];
  for (const name of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${name}`).catch(() => '');
    if (target === file) fds.push(Number(name));
  }
  assert.equal(fds.length, 1, `descriptors open on ${file}: ${fds.join(', ')}`);
  return fds[0]!;
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-synced-append-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('nodeFs opens a synced append O_DSYNC | O_APPEND, write-only, mode 0600, and says whether it made the file', async (t) => {
  const file = join(await tempDir(t), 'records.log');
  const first = await nodeFs.openSyncedAppend(file);
  assert.equal(first.created, true);
  const flags = await openFlags(fdOf(first.handle));
  assert.equal(flags & constants.O_DSYNC, constants.O_DSYNC, `flags ${flags.toString(8)} lack O_DSYNC`);
  assert.equal(flags & constants.O_APPEND, constants.O_APPEND);
  assert.equal(flags & accessModeMask, constants.O_WRONLY);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  await first.handle.write(Buffer.from('one\n'), 0, 4);
  await first.handle.close();

  const again = await nodeFs.openSyncedAppend(file);
  assert.equal(again.created, false);
  assert.equal((await openFlags(fdOf(again.handle))) & constants.O_DSYNC, constants.O_DSYNC);
  await again.handle.write(Buffer.from('two\n'), 0, 4);
  await again.handle.close();
  assert.equal(await readFile(file, 'utf8'), 'one\ntwo\n', 'appends, never overwrites');
});

test('the group appender writes each batch through a synced append: one write per batch, no fdatasync of its own', async (t) => {
  const file = join(await tempDir(t), 'records.log');
  const writes: number[] = [];
  const flags: number[] = [];
  const fs: DurableFs = {
    ...nodeFs,
    async openSyncedAppend(path) {
      const opened = await nodeFs.openSyncedAppend(path);
      flags.push(await openFlags(fdOf(opened.handle)));
      const counted: SyncedAppendHandle = {
        write: (buffer, offset, length) => {
          writes.push(length);
          return opened.handle.write(buffer, offset, length);
        },
        close: () => opened.handle.close(),
      };
      return { handle: counted, created: opened.created };
    },
  };
  const appender = new GroupAppender({ startSeq: 0, batchRecordsMax: 16, failure: (e) => e, closed: () => new Error('closed'), fs });
  t.after(() => appender.close());
  for (let seq = 1; seq <= 3; seq++) appender.enqueue({ seq, file, bytes: Buffer.from(`r${seq}\n`) });
  await appender.waitFor(3);
  assert.equal(flags.length, 1, 'one file opened');
  assert.equal(flags[0]! & constants.O_DSYNC, constants.O_DSYNC);
  assert.deepEqual(writes, [9], 'the three records queued in one turn went down in one write');
  assert.equal(appender.stats().fsyncs, 1);
  assert.equal(await readFile(file, 'utf8'), 'r1\nr2\nr3\n');
});

test('a preallocated synced append writes at the end of the data, O_DSYNC without O_APPEND, keeps the file a step longer and cuts it back at close', async (t) => {
  const file = join(await tempDir(t), 'segment.log');
  const step = 4096;
  const first = await nodeFs.openSyncedAppend(file, step);
  assert.equal(first.created, true);
  const flags = await openFlags(await fdOn(file));
  assert.equal(flags & constants.O_DSYNC, constants.O_DSYNC);
  assert.equal(flags & constants.O_APPEND, 0, 'O_APPEND would write past the zeros');
  await first.handle.write(Buffer.from('one\n'), 0, 4);
  assert.equal((await stat(file)).size, 4 + step, 'extended a step past the first write');
  await first.handle.write(Buffer.alloc(2 * step, 0x61), 0, 2 * step);
  assert.equal((await stat(file)).size, 4 + 2 * step + step, 'a write longer than the step extends past itself');
  await first.handle.close();
  assert.equal((await stat(file)).size, 4 + 2 * step, 'closed: the data, nothing after it');

  const again = await nodeFs.openSyncedAppend(file, step);
  assert.equal(again.created, false);
  await again.handle.write(Buffer.from('two\n'), 0, 4);
  const open = await readFile(file);
  assert.equal(open.length, 4 + 2 * step + 4 + step);
  assert.equal(open.subarray(4 + 2 * step, 4 + 2 * step + 4).toString(), 'two\n', 'after the data, not after the zeros');
  assert.ok(open.subarray(4 + 2 * step + 4).every((b) => b === 0));
  await again.handle.close();
  assert.equal(await readFile(file, 'utf8'), `one\n${'a'.repeat(2 * step)}two\n`);
});
