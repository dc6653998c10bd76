// The backup file: round trip, and every damaged or wrongly opened file refused with its one error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackup, writeBackup } from '../../../src/storage/backup/index.ts';
import type { SnapshotRecord } from '../../../src/storage/mvcc/index.ts';
import { collect, copyRecords, fastArgon2, iterate, marker, refusal, sampleRecords } from './helpers.ts';

const passphrase = new TextEncoder().encode('correct horse battery staple');

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-backup-unit-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function save(file: string, records: readonly SnapshotRecord[]) {
  return writeBackup({ file, passphrase, records: iterate(copyRecords(records)), sourceClusterId: 'cafe0123', argon2: fastArgon2 });
}

async function readAll(file: string, pass = passphrase) {
  const backup = await openBackup(file, pass);
  try {
    const records = await collect(backup.records());
    return { header: backup.header, records, hash: backup.integrityHash() };
  } finally {
    backup.close();
  }
}

test('a backup reads back the same records, header and integrity hash, in a 0600 file', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'b.cbk');
    const records = sampleRecords(50);
    const summary = await save(file, records);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const back = await readAll(file);
    assert.deepEqual(back.records, records);
    assert.equal(back.hash, summary.integrityHash);
    assert.equal(back.header.records, 52, 'the header, 50 pages and a lease');
    assert.equal(back.header.revision, 51);
    assert.equal(back.header.appliedIndex, 90);
    assert.equal(back.header.sourceClusterId, 'cafe0123');
    assert.deepEqual(await readdir(dir), ['b.cbk'], 'no temporary is left behind');
  });
});

test('records larger than one chunk span several chunks and read back intact', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'big.cbk');
    const records = sampleRecords(5, 700 * 1024);
    await save(file, records);
    assert.ok((await stat(file)).size > 5 * 700 * 1024, "the values are all in the file");
    assert.deepEqual((await readAll(file)).records, records);
  });
});

test('the file holds no key or value in the clear, nor in base64 or hex', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'b.cbk');
    await save(file, sampleRecords(20));
    const raw = await readFile(file);
    for (const form of [marker, Buffer.from(marker).toString('base64').slice(0, 24), Buffer.from(marker).toString('hex'), 'key-1']) {
      assert.equal(raw.includes(Buffer.from(form)), false, `found ${form}`);
    }
  });
});

test('a wrong passphrase is refused as such before any chunk is read', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'b.cbk');
    await save(file, sampleRecords(3));
    const error = await refusal(() => openBackup(file, new TextEncoder().encode('wrong')));
    assert.equal(error.code, 'E_BACKUP_PASSPHRASE');
    assert.match(error.message, /wrong backup passphrase/);
  });
});

test('a backup cut anywhere is refused as truncated', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'b.cbk');
    await save(file, sampleRecords(5, 400 * 1024));
    const whole = await readFile(file);
    const cuts = [whole.length - 1, whole.length - 20, Math.floor(whole.length / 2), 14 + 4096 + 2, 14 + 4096, 14 + 100, 5];
    for (const cut of cuts) {
      const damaged = join(dir, `cut-${cut}.cbk`);
      await writeFile(damaged, whole.subarray(0, cut));
      const error = await refusal(() => readAll(damaged));
      assert.equal(error.code, 'E_BACKUP_TRUNCATED', `cut at ${cut}: ${error.message}`);
    }
  });
});

test('a backup cut exactly before its final chunk is refused as truncated', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'b.cbk');
    await save(file, sampleRecords(3));
    const whole = await readFile(file);
    // Walk the chunk frames to the start of the FINAL one.
    let at = 14 + 4096;
    for (;;) {
      const word = whole.readUInt32BE(at);
      if ((word & 0x8000_0000) !== 0) break;
      at += 4 + word;
    }
    const damaged = join(dir, 'nofinal.cbk');
    await writeFile(damaged, whole.subarray(0, at));
    const error = await refusal(() => readAll(damaged));
    assert.equal(error.code, 'E_BACKUP_TRUNCATED');
    assert.match(error.message, /before its final chunk/);
  });
});

test('a flipped byte in any chunk, or an edited header, is refused as corrupted', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'b.cbk');
    await save(file, sampleRecords(5, 400 * 1024));
    const whole = await readFile(file);
    const start = 14 + 4096;
    for (const at of [start + 10, start + 300_000, Math.floor((start + whole.length) / 2), whole.length - 5]) {
      const damaged = join(dir, `flip-${at}.cbk`);
      const copy = Buffer.from(whole);
      copy[at] = copy[at]! ^ 0x01;
      await writeFile(damaged, copy);
      const error = await refusal(() => readAll(damaged));
      assert.equal(error.code, 'E_BACKUP_CORRUPT', `flip at ${at}: ${error.message}`);
    }
    const edited = Buffer.from(whole);
    const headerText = edited.subarray(14, 14 + 4096).toString('utf8');
    const changed = headerText.replace(/"revision":(\d+)/, (_m, n: string) => `"revision":${Number(n) + 1}`);
    assert.notEqual(changed, headerText);
    edited.write(changed, 14, 'utf8');
    await writeFile(join(dir, 'edited.cbk'), edited);
    const error = await refusal(() => readAll(join(dir, 'edited.cbk')));
    assert.equal(error.code, 'E_BACKUP_CORRUPT');
  });
});

test('appended bytes after the final chunk are refused', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'b.cbk');
    await save(file, sampleRecords(2));
    await writeFile(join(dir, 'long.cbk'), Buffer.concat([await readFile(file), Buffer.from([1, 2, 3])]));
    assert.equal((await refusal(() => readAll(join(dir, 'long.cbk')))).code, 'E_BACKUP_CORRUPT');
  });
});

test('a file that is not a backup is refused as such', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'notes.txt');
    await writeFile(file, 'hello, this is not a backup\n');
    assert.equal((await refusal(() => openBackup(file, passphrase))).code, 'E_BACKUP_FORMAT');
  });
});

test('an existing file is never overwritten, and a failed save leaves no file behind', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'b.cbk');
    await writeFile(file, 'precious');
    assert.equal((await refusal(() => save(file, sampleRecords(1)))).code, 'E_BACKUP_EXISTS');
    assert.equal(await readFile(file, 'utf8'), 'precious');

    const target = join(dir, 'failed.cbk');
    async function* broken(): AsyncGenerator<SnapshotRecord> {
      yield* iterate(copyRecords(sampleRecords(3)));
      throw new Error('the member went away');
    }
    await assert.rejects(writeBackup({ file: target, passphrase, records: broken(), sourceClusterId: 'x', argon2: fastArgon2 }), /went away/);
    assert.deepEqual(await readdir(dir), ['b.cbk']);
  });
});
