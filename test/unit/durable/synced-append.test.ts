// Synced appends: the group appender's files are opened O_DSYNC, so a batch becomes durable in one write
// (its data and the file's size on stable storage when the write returns), not a write and an fdatasync.
import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
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
