import assert from 'node:assert/strict';
import { appendFile, readdir, readFile, rename, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { walPreallocateBytes } from '../../../src/config/index.ts';
import { WalCorruptionError } from '../../../src/storage/wal/index.ts';
import { entry, payload, range, text, walFixture, type WalFixture } from './helpers.ts';

async function segments(fx: WalFixture): Promise<string[]> {
  return (await readdir(fx.walDir)).filter((n) => n.endsWith('.log')).sort().map((n) => path.join(fx.walDir, n));
}

/** Frame offsets in a segment (header: u32 length, u32 ~length, u32 crc). */
async function frameOffsets(file: string): Promise<number[]> {
  const bytes = await readFile(file);
  const offsets: number[] = [];
  for (let at = 0; at < bytes.length; at += 12 + bytes.readUInt32BE(at)) offsets.push(at);
  return offsets;
}

test('a torn tail is truncated at every cut inside the last record; nothing after it is invented', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open();
  await wal.append(range(1, 20));
  await wal.close();
  const [file] = await segments(fx);
  const original = await readFile(file!);
  const offsets = await frameOffsets(file!);
  const lastStart = offsets.at(-1)!;
  // Cut at every byte inside the last record: entry 20 is lost, 1..19 stay, and appending resumes.
  for (let cut = lastStart; cut < original.length; cut += 7) {
    await writeFile(file!, original.subarray(0, cut));
    const reopened = await fx.open();
    assert.equal(reopened.lastIndex(), 19, `cut at ${cut}`);
    assert.equal(text(reopened.entries(19, 20, Infinity)[0]!.data), text(payload(19)));
    await reopened.close();
    assert.equal((await stat(file!)).size, lastStart, 'the torn bytes were truncated');
  }
  const resumed = await fx.open();
  await resumed.append(range(20, 25, 2));
  await resumed.close();
  const final = await fx.open();
  assert.equal(final.lastIndex(), 25);
  assert.equal(final.term(20), 2);
  await final.close();
});

test('zeros after the last record (a file extended but never written) are a torn tail', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open();
  await wal.append(range(1, 5));
  await wal.close();
  const [file] = await segments(fx);
  const size = (await stat(file!)).size;
  await appendFile(file!, Buffer.alloc(4096));
  const reopened = await fx.open();
  assert.equal(reopened.lastIndex(), 5);
  assert.equal((await stat(file!)).size, size);
  await reopened.close();
});

/**
 * Zeros the 512-byte sector `sector` of `file` from `from` on (the part of the sector the disk never
 * wrote before a power cut; `from` is where its durable part ended).
 */
async function zeroSector(file: string, sector: number, from = sector * 512): Promise<void> {
  const bytes = await readFile(file);
  bytes.fill(0, from, Math.min(bytes.length, (sector + 1) * 512));
  await writeFile(file, bytes);
}

test('a lost sector in the end of the last segment, with later records on disk, is a torn tail: the log ends before it', async (t) => {
  // After a power cut the unsynced end of a file may keep later sectors and lose earlier ones (found by
  // the simulator's power-loss disk: the member then refused to start, "frame length 0 does not match
  // its guard"). Nothing after the hole was ever synced (an fdatasync covers the whole file).
  const fx = await walFixture(t);
  const wal = await fx.open();
  await wal.append(range(1, 40));
  await wal.close();
  const [file] = await segments(fx);
  const original = await readFile(file!);
  const offsets = await frameOffsets(file!);
  for (const sector of [Math.floor(offsets[25]! / 512), Math.floor(offsets[33]! / 512)]) {
    await writeFile(file!, original);
    await zeroSector(file!, sector);
    const firstHit = offsets.findIndex((at, i) => (offsets[i + 1] ?? original.length) > sector * 512);
    const reopened = await fx.open();
    // Frame k holds entry k (frame 0 is the segment's state record).
    assert.equal(reopened.lastIndex(), firstHit - 1, `sector ${sector}`);
    assert.equal(text(reopened.entries(firstHit - 1, firstHit, Infinity)[0]!.data), text(payload(firstHit - 1)));
    await reopened.close();
    assert.equal((await stat(file!)).size, offsets[firstHit], 'the log was cut at the damaged record');
  }
  // The durable part of a sector ended mid-sector, at a record; the rest of that sector was lost while
  // the next sector reached the disk (simulator seed 98, 5 nodes).
  const at = offsets.find((o) => o % 512 > 100 && o % 512 < 400 && o > offsets[20]!)!;
  await writeFile(file!, original);
  await zeroSector(file!, Math.floor(at / 512), at);
  const reopened = await fx.open();
  assert.equal(reopened.lastIndex(), offsets.indexOf(at) - 1);
  await reopened.close();
});

test('a zeroed sector in a segment that is not the last is corruption', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open({ segmentBytesTarget: 4096 });
  await wal.append(range(1, 80));
  await wal.close();
  const files = await segments(fx);
  assert.ok(files.length >= 2);
  await zeroSector(files[0]!, 3);
  await assert.rejects(fx.open(), WalCorruptionError);
});

test('a flipped byte mid-segment is reported with the file and the record offset', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open();
  await wal.append(range(1, 30));
  await wal.close();
  const [file] = await segments(fx);
  const original = await readFile(file!);
  const offsets = await frameOffsets(file!);
  const victim = offsets[10]!;
  const next = offsets[11]!;
  // A flip in the length, its guard, the checksum, the record header, the nonce and the ciphertext.
  for (const at of [victim, victim + 5, victim + 9, victim + 13, victim + 30, next - 3]) {
    const damaged = Buffer.from(original);
    damaged[at]! ^= 0x10;
    await writeFile(file!, damaged);
    await assert.rejects(fx.open(), (error: unknown) => {
      assert.ok(error instanceof WalCorruptionError, `flip at ${at}: ${String(error)}`);
      assert.equal(error.code, 'E_WAL_CORRUPT');
      assert.equal(error.file, file);
      assert.equal(error.offset, victim, `flip at ${at}`);
      assert.ok(error.message.includes(file!) && error.message.includes(`offset ${victim}`));
      return true;
    });
    // Refusing must not have repaired anything.
    assert.deepEqual(await readFile(file!), damaged);
  }
});

test('a damaged record at the end of a segment that is not the last is corruption, not a torn tail', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open({ segmentBytesTarget: 4096 });
  await wal.append(range(1, 100));
  await wal.close();
  const files = await segments(fx);
  assert.ok(files.length >= 3);
  const first = files[0]!;
  const bytes = await readFile(first);
  await writeFile(first, bytes.subarray(0, bytes.length - 5));
  await assert.rejects(fx.open({ segmentBytesTarget: 4096 }), (error: unknown) =>
    error instanceof WalCorruptionError && error.file === first && /not the last/.test(error.message));
});

test('a missing segment in the middle is refused, naming the segment after the gap', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open({ segmentBytesTarget: 4096 });
  await wal.append(range(1, 100));
  await wal.close();
  const files = await segments(fx);
  await rename(files[1]!, path.join(fx.dir, 'elsewhere'));
  await assert.rejects(fx.open(), (error: unknown) => error instanceof WalCorruptionError && error.file === files[2] && /segment 1 .*missing/.test(error.message));
});

test('two records swapped inside a segment fail to open (ordinal bound), reported at the first', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open();
  await wal.append(range(1, 10));
  await wal.close();
  const [file] = await segments(fx);
  const bytes = await readFile(file!);
  const offsets = await frameOffsets(file!);
  // Entries 3 and 4 (records 3 and 4 after the head state record) have the same length.
  const a = bytes.subarray(offsets[3], offsets[4]);
  const b = bytes.subarray(offsets[4], offsets[5]);
  assert.equal(a.length, b.length);
  const swapped = Buffer.concat([bytes.subarray(0, offsets[3]), b, a, bytes.subarray(offsets[5])]);
  await writeFile(file!, swapped);
  await assert.rejects(fx.open(), (error: unknown) => error instanceof WalCorruptionError && error.offset === offsets[3] && /failed to open/.test(error.message));
});

test('a record moved from one segment into another fails to open there', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open({ segmentBytesTarget: 2048 });
  await wal.append(range(1, 40, 1));
  await wal.append(range(1, 40, 2).slice(0, 1).map((e) => ({ ...e, index: 41 })));
  await wal.close();
  const files = await segments(fx);
  assert.ok(files.length >= 3);
  const first = await readFile(files[0]!);
  const second = await readFile(files[1]!);
  const firstOffsets = await frameOffsets(files[0]!);
  const secondOffsets = await frameOffsets(files[1]!);
  // Replace the second segment's first entry record with the first segment's first entry record.
  const moved = first.subarray(firstOffsets[1], firstOffsets[2]);
  const replaced = second.subarray(secondOffsets[1], secondOffsets[2]);
  assert.equal(moved.length, replaced.length);
  await writeFile(files[1]!, Buffer.concat([second.subarray(0, secondOffsets[1]), moved, second.subarray(secondOffsets[2])]));
  await assert.rejects(fx.open({ segmentBytesTarget: 2048 }), (error: unknown) => error instanceof WalCorruptionError && error.file === files[1]);
});

test('a truncated segment file that is the last loses only its torn tail, and the next open appends cleanly', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open({ segmentBytesTarget: 4096 });
  await wal.append(range(1, 60));
  await wal.close();
  const files = await segments(fx);
  const last = files.at(-1)!;
  const offsets = await frameOffsets(last);
  await truncate(last, offsets.at(-1)! + 3);
  const reopened = await fx.open({ segmentBytesTarget: 4096 });
  assert.equal(reopened.lastIndex(), 59);
  await reopened.append(range(60, 80, 3));
  await reopened.close();
  const final = await fx.open({ segmentBytesTarget: 4096 });
  assert.equal(final.lastIndex(), 80);
  assert.equal(final.entries(60, 61, Infinity)[0]!.term, 3);
  await final.close();
});

test('segments of different sizes, read at open through one buffer, give back every entry, large and small', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open({ segmentBytesTarget: 64 * 1024 });
  // Sizes alternate around the point where sealing moves from libsodium to OpenSSL, so segments differ
  // in length and a shorter one follows a longer one.
  const sizeOf = (index: number): number => [64, 9_000, 40_000, 8_191, 8_192, 200][index % 6]!;
  for (let index = 1; index <= 40; index++) await wal.append([entry(index, 1, sizeOf(index))]);
  await wal.append(range(41, 43, 1, 64));
  await wal.close();
  const sizes = await Promise.all((await segments(fx)).map(async (file) => (await stat(file)).size));
  assert.ok(sizes.length >= 4 && sizes.some((size, i) => i > 0 && size < sizes[i - 1]!), `segment sizes ${sizes.join(', ')}`);
  const reopened = await fx.open({ segmentBytesTarget: 64 * 1024, cacheBytesMax: 0 });
  assert.equal(reopened.lastIndex(), 43);
  for (let index = 1; index <= 43; index++) {
    const expected = index <= 40 ? payload(index, 1, sizeOf(index)) : payload(index);
    assert.deepEqual(reopened.entries(index, index + 1, Infinity)[0]!.data, expected, `entry ${index}`);
  }
  await reopened.close();
});

/** Five entries appended and the WAL closed; also the tail segment as a killed member would have left it (never closed). */
async function killedWithFiveEntries(fx: WalFixture): Promise<{ file: string; killed: Buffer }> {
  const wal = await fx.open();
  await wal.append(range(1, 5));
  const [file] = await segments(fx);
  const killed = await readFile(file!);
  await wal.close();
  // What the tests below recover from: a segment with zeros after its records, as only preallocation leaves.
  const records = (await stat(file!)).size;
  assert.ok(killed.length > records && killed.subarray(records).every((b) => b === 0), `killed ${killed.length} bytes, records ${records}`);
  return { file: file!, killed };
}

test('the tail segment is kept longer than its records while open (zeros past them), and ends with its last record once closed', async (t) => {
  const fx = await walFixture(t);
  const { file, killed: open } = await killedWithFiveEntries(fx);
  const closed = await readFile(file);
  // Extended by a step past the first record that needed room (the state record heading the segment).
  assert.ok(open.length > closed.length && open.length >= walPreallocateBytes, `open ${open.length} bytes, closed ${closed.length}`);
  assert.deepEqual(open.subarray(0, closed.length), closed, 'the records, byte for byte');
  assert.ok(open.subarray(closed.length).every((b) => b === 0), 'zeros past the records');
  assert.deepEqual((await frameOffsets(file)).length, 6, 'a state record and five entries, nothing after them');
});

test('a tail segment left preallocated by a kill is recovered whole, cut back to its records, and appended to after them', async (t) => {
  const fx = await walFixture(t);
  const { file, killed } = await killedWithFiveEntries(fx);
  const records = (await stat(file)).size;
  await writeFile(file, killed); // as a killed member left it: never closed, zeros past the records
  const reopened = await fx.open();
  assert.equal(reopened.lastIndex(), 5);
  assert.equal(text(reopened.entries(5, 6, Infinity)[0]!.data), text(payload(5)));
  await reopened.append(range(6, 8));
  await reopened.close();
  const final = await fx.open();
  assert.equal(final.lastIndex(), 8);
  assert.equal(text(final.entries(8, 9, Infinity)[0]!.data), text(payload(8)));
  await final.close();
  assert.ok((await stat(file)).size > records);
  assert.equal((await frameOffsets(file)).length, 9, 'a state record and eight entries, with no zeros between them');
});

test('a last record cut short inside the preallocated zeros, in its header or its body, is a torn tail, not corruption', async (t) => {
  const fx = await walFixture(t);
  const { file, killed } = await killedWithFiveEntries(fx);
  const lastStart = (await frameOffsets(file)).at(-1)!;
  // Power lost, or a write failed, mid-record: 6 bytes (its length and half its guard) or 40 reached the disk.
  for (const written of [6, 40]) {
    await writeFile(file, Buffer.from(killed).fill(0, lastStart + written));
    const reopened = await fx.open();
    assert.equal(reopened.lastIndex(), 4, `${written} bytes of the last record written`);
    await reopened.close();
    assert.equal((await stat(file)).size, lastStart, 'cut where the torn record began');
  }
});
