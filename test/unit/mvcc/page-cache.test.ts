// The page cache (src/storage/mvcc/page-cache.ts): sealed pages by revision within a byte budget, least
// recently used out first; and a store serving the pages it wrote from it, without a LevelDB read.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { classicLevel } from '../../../src/storage/mvcc/level.ts';
import { PageCache } from '../../../src/storage/mvcc/page-cache.ts';
import { type Fixture, b, fixture, s } from './helpers.ts';

/** What the cache charges for one entry beyond its bytes (page-cache.ts). */
const overhead = 96;
const page = (bytes: number, fill: number) => new Uint8Array(bytes).fill(fill);

test('a page is kept and dropped by revision', () => {
  const cache = new PageCache(1024 * 1024);
  cache.set(5, 0, page(10, 1));
  cache.set(5, 1, page(10, 2));
  assert.deepEqual(cache.get(5, 0), page(10, 1));
  assert.deepEqual(cache.get(5, 1), page(10, 2));
  assert.equal(cache.get(6, 0), undefined);
  cache.delete(5, 0);
  assert.equal(cache.get(5, 0), undefined);
  cache.delete(5, 1);
  assert.equal(cache.get(5, 1), undefined);
  assert.equal(cache.size, 0);
  assert.equal(cache.heldBytes, 0);
});

test('the budget holds: the least recently used page goes first, and a page larger than the budget is not kept', () => {
  const cache = new PageCache(3 * (100 + overhead));
  cache.set(1, 0, page(100, 1));
  cache.set(2, 0, page(100, 2));
  cache.set(3, 0, page(100, 3));
  assert.ok(cache.get(1, 0) !== undefined); // 1 is now the most recently used
  cache.set(4, 0, page(100, 4));
  assert.equal(cache.get(2, 0), undefined, 'the least recently used page went');
  assert.deepEqual([1, 3, 4].map((main) => cache.get(main, 0)?.[0]), [1, 3, 4]);
  assert.equal(cache.heldBytes, 3 * (100 + overhead));
  cache.set(3, 0, page(50, 9));
  assert.equal(cache.heldBytes, 2 * (100 + overhead) + 50 + overhead, 'a page set again replaces the old one in the count');
  cache.set(9, 0, page(6 * 100, 9));
  assert.equal(cache.get(9, 0), undefined);
  assert.equal(cache.size, 3);
});

let f: Fixture;
before(async () => {
  f = await fixture();
});
after(async () => {
  await f.cleanup();
});

test('a store reads the pages it wrote from memory (no LevelDB read, no snapshot), and from disk after a reopen', async () => {
  const counts = { getMany: 0, snapshot: 0 };
  const openLevel: typeof classicLevel = (dir) => {
    const db = classicLevel(dir);
    const getMany = db.getMany.bind(db);
    const snapshot = db.snapshot.bind(db);
    db.getMany = ((...args: Parameters<typeof getMany>) => {
      counts.getMany++;
      return getMany(...args);
    }) as typeof db.getMany;
    db.snapshot = ((...args: Parameters<typeof snapshot>) => {
      counts.snapshot++;
      return snapshot(...args);
    }) as typeof db.snapshot;
    return db;
  };
  const dir = f.newDir();
  const writer = await f.open(dir, { openLevel });
  try {
    await writer.put(b('a'), b('1'));
    await writer.put(b('b'), b('2'));
    counts.getMany = 0;
    counts.snapshot = 0;
    const read = await writer.range(b('a'), b('c'));
    assert.deepEqual(read.kvs.map((kv) => s(kv.value)), ['1', '2']);
    assert.deepEqual(counts, { getMany: 0, snapshot: 0 });
  } finally {
    await writer.close();
  }
  const reader = await f.open(dir, { openLevel });
  try {
    counts.getMany = 0;
    const read = await reader.range(b('a'), b('c'));
    assert.deepEqual(read.kvs.map((kv) => s(kv.value)), ['1', '2']);
    assert.equal(counts.getMany, 1, 'a reopened store has nothing cached: the pages come from disk');
  } finally {
    await reader.close();
  }
});

test('pages that physical compaction deletes leave the cache with them', async () => {
  const store = await f.open(f.newDir());
  try {
    await store.put(b('k'), b('v1'));
    await store.put(b('k'), b('v2'));
    const pages = (store as unknown as { state: { pages: PageCache } }).state.pages;
    assert.ok(pages.get(1, 0) !== undefined && pages.get(2, 0) !== undefined);
    await store.compact(2);
    await store.whenCompacted();
    assert.equal(pages.get(1, 0), undefined, 'the superseded page went from disk and from memory');
    assert.ok(pages.get(2, 0) !== undefined);
    assert.equal(s((await store.range(b('k'))).kvs[0]!.value), 'v2');
  } finally {
    await store.close();
  }
});
