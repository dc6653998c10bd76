/**
 * The LevelDB seam on real LevelDB: the store's batch write is all of a batch or nothing, and a refused
 * batch leaves the database usable; the table listing a purge touches from names each table's first key
 * byte for byte, whatever bytes it holds.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type BatchOp, classicLevel, compactWholeDatabase, deepestLevel, tableFiles, writeBatch } from '../../../src/storage/mvcc/level.ts';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined): string | undefined => (value === undefined ? undefined : new TextDecoder().decode(value));

async function withDb(run: (db: ReturnType<typeof classicLevel>) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-level-'));
  const db = classicLevel(dir);
  await db.open();
  try {
    await run(db);
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('writeBatch applies puts and deletes in order, in one batch', async () => {
  await withDb(async (db) => {
    await writeBatch(db, [{ type: 'put', key: bytes('gone'), value: bytes('1') }]);
    await writeBatch(db, [
      { type: 'put', key: bytes('a'), value: bytes('first') },
      { type: 'del', key: bytes('gone') },
      { type: 'put', key: bytes('a'), value: bytes('second') },
      { type: 'put', key: bytes('b'), value: bytes('kept') },
    ], { sync: true });
    assert.deepEqual((await db.getMany([bytes('a'), bytes('b'), bytes('gone')])).map(text), ['second', 'kept', undefined]);
  });
});

test('a batch with an operation LevelDB cannot take writes nothing, and the database stays usable', async () => {
  await withDb(async (db) => {
    const ops = [
      { type: 'put', key: bytes('before'), value: bytes('x') },
      { type: 'put', key: undefined, value: bytes('y') },
    ] as unknown as BatchOp[];
    await assert.rejects(writeBatch(db, ops), /key/i);
    assert.equal(await db.get(bytes('before')), undefined);
    await writeBatch(db, [{ type: 'put', key: bytes('after'), value: bytes('z') }]);
    assert.equal(text(await db.get(bytes('after'))), 'z');
  });
});

test('tableFiles names each table\'s level and first key, bytes LevelDB escapes or quotes included', async () => {
  await withDb(async (db) => {
    assert.deepEqual(tableFiles(db), [], 'a new database has no table');
    // Bytes LevelDB's listing writes as \xNN, and the quote, backslash, " @ " and " .. " it writes as they are.
    const first = Uint8Array.of(0x00, 0x27, 0x5c, 0x20, 0x40, 0x20, 0x2e, 0x2e, 0x20, 0xff, 0x0a, 0x7f);
    await writeBatch(db, [{ type: 'put', key: first, value: bytes('a') }, { type: 'put', key: bytes('z'), value: bytes('b') }]);
    await compactWholeDatabase(db);
    const tables = tableFiles(db);
    assert.equal(tables.length, 1);
    assert.deepEqual([...tables[0]!.firstKey], [...first]);
    assert.equal(deepestLevel(tables), tables[0]!.level);
    assert.ok(tables[0]!.level >= 1, 'CompactRange moved the table out of level 0');
  });
});
