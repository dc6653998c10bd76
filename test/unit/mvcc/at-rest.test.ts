/**
 * At rest: no key name or value appears on disk in any encoding (after close, and after compaction),
 * and any tampering with stored records — a flipped byte, swapped pages, a page from another store, a
 * deleted page, an altered meta record — makes the open (when it scans every page) or the read that
 * needs the record (when it opens from the index checkpoint) fail with E_INTEGRITY naming the revision.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { type MvccStore, isMvccError, prefixEnd } from '../../../src/storage/mvcc/index.ts';
import { type Fixture, b, fixture } from './helpers.ts';

let f: Fixture;
before(async () => {
  f = await fixture();
});
after(async () => {
  await f.cleanup();
});

/** The marker as raw bytes, hex, and base64 at each of the three alignments (inner, stable part). */
function needles(marker: string): Buffer[] {
  const raw = Buffer.from(marker);
  const out = [raw, Buffer.from(raw.toString('hex')), Buffer.from(raw.toString('hex').toUpperCase())];
  for (let pad = 0; pad < 3; pad++) {
    const encoded = Buffer.concat([Buffer.alloc(pad, 0x41), raw]).toString('base64');
    out.push(Buffer.from(encoded.slice(4, -4)));
  }
  return out;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(full)));
    else out.push(full);
  }
  return out;
}

/** Every (file, marker) pair where some encoding of the marker occurs in the file. */
async function findMarkers(dir: string, markers: string[]): Promise<string[]> {
  const hits: string[] = [];
  for (const file of await filesUnder(dir)) {
    const content = await readFile(file);
    for (const marker of markers) {
      if (needles(marker).some((n) => content.includes(n))) hits.push(`${path.basename(file)}: ${marker}`);
    }
  }
  return hits;
}

function makeMarkers(): { keys: string[]; values: string[] } {
  const tag = randomBytes(6).toString('hex');
  return {
    keys: Array.from({ length: 20 }, (_, i) => `/registry/secrets/ns/KEYMARK${tag}${i}`),
    values: Array.from({ length: 20 }, (_, i) => `VALMARK${tag}${i}-password-hunter2`),
  };
}

test('the marker scan finds markers in an unsealed LevelDB written the same way (control)', async () => {
  const dir = f.newDir();
  const { keys, values } = makeMarkers();
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  for (let i = 0; i < keys.length; i++) await db.put(b(keys[i]!), b(values[i]!));
  await db.close();
  const hits = await findMarkers(dir, [...keys, ...values]);
  assert.equal(hits.length, keys.length + values.length, 'every marker is found when not sealed');
});

test('no key or value appears on disk in raw, hex or base64 form, after close and after compaction', async () => {
  const dir = f.newDir();
  const { keys, values } = makeMarkers();
  let store: MvccStore = await f.open(dir);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < keys.length; i++) await store.put(b(keys[i]!), b(`${values[i]!}-${round}`));
  }
  await store.deleteRange(b(keys[0]!), b(keys[5]!));
  await store.txn({
    compare: [{ key: b(keys[6]!), target: 'version', result: 'equal', value: 3 }],
    success: [{ type: 'put', key: b(keys[7]!), value: b(values[7]!) }], failure: [],
  });
  await store.close();
  const markers = [...keys, ...values];
  assert.deepEqual(await findMarkers(dir, markers), [], 'after close');
  store = await f.open(dir);
  await store.compact(store.currentRevision());
  await store.whenCompacted();
  await store.close();
  assert.deepEqual(await findMarkers(dir, markers), [], 'after compaction');
  // The store still answers from what is on disk.
  store = await f.open(dir);
  try {
    const all = await store.range(b('/registry/'), prefixEnd(b('/registry/')));
    assert.equal(all.count, keys.filter((k) => !(k >= keys[0]! && k < keys[5]!)).length);
  } finally {
    await store.close();
  }
});

/** Writes a small store of 6 revisions, then lets `tamper` change its raw LevelDB. */
async function tampered(tamper: (db: ClassicLevel<Uint8Array, Uint8Array>) => Promise<void>, dir = f.newDir()): Promise<string> {
  const store = await f.open(dir);
  for (let i = 1; i <= 6; i++) await store.put(b(`key${i % 3}`), b(`value${i}`));
  await store.close();
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    await tamper(db);
  } finally {
    await db.close();
  }
  return dir;
}

function pageKey(main: number, sub = 0): Uint8Array {
  const key = new Uint8Array(13);
  key[0] = 0x72;
  const view = new DataView(key.buffer);
  view.setBigUint64(1, BigInt(main));
  view.setUint32(9, sub);
  return key;
}

/**
 * Tampering is found on both ways a store opens. Without the index checkpoint (the store was not closed
 * cleanly, or the attacker removed it) the open scans every page and fails, naming `atOpen`. With it,
 * the open trusts its sealed index, and the first read that needs the tampered record fails, naming
 * `atRead`: the full range at that revision.
 */
async function assertIntegrityFailure(dir: string, revisions: { atOpen: number; atRead: number }): Promise<void> {
  const matches = (revision: number) => (e: unknown) => {
    assert.ok(isMvccError(e, 'E_INTEGRITY'), `E_INTEGRITY expected, got ${String(e)}`);
    assert.equal(e.revision, revision);
    assert.match(e.message, new RegExp(`revision ${revision}\\b|meta record`));
    return true;
  };
  const scanned = f.newDir();
  await cp(dir, scanned, { recursive: true });
  await f.forgetIndexCheckpoint(scanned);
  // The copy is the same store: its records are bound to the original's id.
  await assert.rejects(f.open(scanned, { storeId: `test/${path.basename(dir)}` }), matches(revisions.atOpen));
  if (revisions.atRead === 0) {
    await assert.rejects(f.open(dir), matches(0));
    return;
  }
  const store = await f.open(dir);
  try {
    assert.equal(store.openedFrom().from, 'checkpoint');
    await assert.rejects(store.range(b('\u0000'), b('\u0000'), { revision: revisions.atRead }), matches(revisions.atRead));
  } finally {
    await store.close();
  }
}

test('a flipped byte in a stored page fails with E_INTEGRITY naming its revision', async () => {
  for (const offset of [0, 10, 40, -1]) {
    const dir = await tampered(async (db) => {
      const sealed = Uint8Array.from((await db.get(pageKey(4)))!);
      const at = offset < 0 ? sealed.length + offset : offset;
      sealed[at]! ^= 0x01;
      await db.put(pageKey(4), sealed);
    });
    await assertIntegrityFailure(dir, { atOpen: 4, atRead: 4 });
  }
});

test('two swapped pages fail with E_INTEGRITY naming the first revision read', async () => {
  const dir = await tampered(async (db) => {
    const a = (await db.get(pageKey(2)))!;
    const c = (await db.get(pageKey(5)))!;
    await db.batch([{ type: 'put', key: pageKey(2), value: c }, { type: 'put', key: pageKey(5), value: a }]);
  });
  await assertIntegrityFailure(dir, { atOpen: 2, atRead: 2 });
});

test('a page copied from another store at the same revision fails with E_INTEGRITY', async () => {
  const other = f.newDir();
  await tampered(() => Promise.resolve(), other);
  const source = new ClassicLevel<Uint8Array, Uint8Array>(other, { keyEncoding: 'view', valueEncoding: 'view' });
  await source.open();
  const foreign = (await source.get(pageKey(3)))!;
  await source.close();
  const dir = await tampered((db) => db.put(pageKey(3), foreign));
  await assertIntegrityFailure(dir, { atOpen: 3, atRead: 3 });
});

test('a deleted page is detected by the next page of the same key, or by the read that needs it', async () => {
  // key1 is written at revisions 1 and 4; deleting page 1 leaves page 4 pointing at a missing predecessor.
  const dir = await tampered((db) => db.del(pageKey(1)));
  await assertIntegrityFailure(dir, { atOpen: 4, atRead: 1 });
});

test('an altered meta record fails with E_INTEGRITY for revision 0 (the meta record)', async () => {
  const dir = await tampered(async (db) => {
    const meta = Uint8Array.from((await db.get(Uint8Array.of(0x6d)))!);
    meta[meta.length - 3]! ^= 0x80;
    await db.put(Uint8Array.of(0x6d), meta);
  });
  await assertIntegrityFailure(dir, { atOpen: 0, atRead: 0 });
});

/** Flips a bit of revision `main`'s page through the store's own database handle (LevelDB's lock keeps other processes out). */
async function alterPageUnder(store: MvccStore, main: number): Promise<void> {
  const db = (store as unknown as { db: ClassicLevel<Uint8Array, Uint8Array> }).db;
  const sealed = Uint8Array.from((await db.get(pageKey(main)))!);
  sealed[sealed.length - 5]! ^= 0x10;
  await db.put(pageKey(main), sealed);
}

test('a range read of a page altered under a running store fails instead of returning data', async () => {
  // Reached only by this test: the page is altered through the store's own database handle.
  const dir = f.newDir();
  const writer = await f.open(dir);
  await writer.put(b('k'), b('v1'));
  await writer.put(b('k'), b('v2'));
  await writer.close();
  // Reopened, the store has no page in memory: the reads below go to disk.
  const store = await f.open(dir);
  try {
    await alterPageUnder(store, 1);
    assert.equal((await store.range(b('k'))).kvs.length, 1, 'the untouched latest page still reads');
    await assert.rejects(store.range(b('k'), undefined, { revision: 1 }), (e) => isMvccError(e, 'E_INTEGRITY') && e.revision === 1);
  } finally {
    await store.close();
  }
});

test('a page altered on disk while its copy is in the page cache: a read gets the page as written, HashKV reads the disk and fails', async () => {
  const store = await f.open(f.newDir());
  try {
    await store.put(b('k'), b('v1'));
    await store.put(b('k'), b('v2'));
    await alterPageUnder(store, 1);
    // The cache holds the bytes the store wrote, never the altered ones.
    assert.deepEqual((await store.range(b('k'), undefined, { revision: 1 })).kvs.map((kv) => Buffer.from(kv.value).toString()), ['v1']);
    await assert.rejects(store.hash(), (e) => isMvccError(e, 'E_INTEGRITY') && e.revision === 1);
  } finally {
    await store.close();
  }
});
