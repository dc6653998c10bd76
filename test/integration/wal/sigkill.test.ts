import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, truncate } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { seededRandom } from '../../../src/base/index.ts';
import { createKeyFile, keyFileKek, openKeyring } from '../../../src/crypto/index.ts';
import { Wal } from '../../../src/storage/wal/index.ts';
import { payload, tempDir, text } from '../../unit/wal/helpers.ts';

const seed = Number(process.env.COFFER_TEST_SEED ?? Date.now() % 1_000_000);
const rounds = 6;

/** Runs the child until it has reported `target` durable entries, then SIGKILLs it; returns what it reported. */
async function runAndKill(dir: string, keyFile: string, term: number, appenders: number, target: number): Promise<{ start: number; durable: number[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'append-child.ts'), dir, keyFile, String(term), String(appenders)],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  let buffered = '';
  let start = -1;
  const durable: number[] = [];
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!; // an incomplete last line is not a report
      for (const line of lines) {
        const [word, value] = line.split(' ');
        if (word === 'ready') start = Number(value);
        if (word === 'durable') durable.push(Number(value));
      }
      if (durable.length >= target) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.once('exit', (code, signal) => reject(new Error(`child exited early (${code ?? signal})`)));
  });
  const [, signal] = await exited as [number | null, NodeJS.Signals | null];
  assert.equal(signal, 'SIGKILL');
  return { start, durable };
}

/**
 * Simulates a power cut on top of the kill: cuts the last segment at a random byte after the end of the
 * last record the child reported durable (possibly mid-record, possibly in the preallocated zeros after
 * the records). Returns the cut and the file size.
 */
async function tearTail(walDir: string, durableMax: number, random: ReturnType<typeof seededRandom>): Promise<[number, number]> {
  const last = (await readdir(walDir)).filter((n) => n.endsWith('.log')).sort().at(-1)!;
  const file = path.join(walDir, last);
  const bytes = await readFile(file);
  let minCut = 0;
  // Where the records end: the zeros after them (the segment was preallocated and never closed), or the file's end.
  let recordsEnd = bytes.length;
  // Frame: u32 length | u32 ~length | u32 crc | u8 type | u64 index | sealed (type 1 = entry).
  for (let at = 0; at + 12 <= bytes.length;) {
    const length = bytes.readUInt32BE(at);
    if (length === 0) {
      recordsEnd = at;
      break;
    }
    const end = at + 12 + length;
    if (end > bytes.length) break;
    const index = bytes.readUInt32BE(at + 13) * 2 ** 32 + bytes.readUInt32BE(at + 17);
    if (bytes[at + 12] === 1 && index <= durableMax) minCut = end;
    at = end;
  }
  // One round in three keeps the file as the kill left it, zeros and all.
  if (recordsEnd < bytes.length && random.int(0, 2) === 0) return [bytes.length, bytes.length];
  const cut = random.int(minCut, recordsEnd);
  await truncate(file, cut);
  return [cut, bytes.length];
}

test(`a WAL appender killed with SIGKILL at random moments, its tail then torn, loses no entry it reported durable and invents none (seed ${seed})`, async (t) => {
  const random = seededRandom(seed);
  const dir = await tempDir(t, 'coffer-wal-kill-');
  const keyFile = path.join(dir, 'unseal.key');
  await createKeyFile(keyFile);
  const data = path.join(dir, 'data');
  await (await openKeyring({ dir: data, kek: await keyFileKek(keyFile) })).close();
  let reportedMax = 0;
  const termOf = new Map<number, number>();

  for (let round = 1; round <= rounds; round++) {
    const appenders = [1, 16, 64][round % 3]!;
    const target = random.int(20, 1500);
    const { start, durable } = await runAndKill(dir, keyFile, round, appenders, target);
    assert.ok(start >= reportedMax, `round ${round}: the child started at ${start}, below the durable ${reportedMax}`);
    for (const index of durable) termOf.set(index, round);
    reportedMax = Math.max(reportedMax, ...durable);
    const [cut, size] = await tearTail(path.join(data, 'wal'), reportedMax, random);

    const keyring = await openKeyring({ dir: data, kek: await keyFileKek(keyFile), createIfMissing: false });
    const wal = await Wal.open({ dir: path.join(data, 'wal'), sealer: keyring, storeId: 'm1/raft', segmentBytesTarget: 64 * 1024 });
    const last = wal.lastIndex();
    assert.ok(last >= reportedMax, `round ${round} (seed ${seed}): last index ${last} < reported durable ${reportedMax}`);
    const entries = wal.entries(1, last + 1, Number.MAX_SAFE_INTEGER);
    assert.equal(entries.length, last);
    let previousTerm = 0;
    for (const e of entries) {
      // Every entry present is one the child wrote, byte for byte: nothing invented, nothing mangled.
      assert.ok(e.term >= previousTerm && e.term <= round, `entry ${e.index} has term ${e.term}`);
      previousTerm = e.term;
      const expectedTerm = termOf.get(e.index) ?? e.term;
      assert.equal(e.term, expectedTerm, `entry ${e.index} reported durable in term ${expectedTerm}`);
      assert.equal(text(e.data), text(payload(e.index, e.term, 32 + (e.index % 200))), `entry ${e.index}`);
    }
    const { hardState } = wal.initialState();
    assert.ok(hardState.commit <= last, `commit ${hardState.commit} beyond last index ${last}`);
    // Entries beyond what was reported durable may survive; they are kept as the child's own from now on.
    for (const e of entries) termOf.set(e.index, e.term);
    reportedMax = Math.max(reportedMax, last);
    await wal.close();
    await keyring.close();
    t.diagnostic(`round ${round}: ${appenders} appenders, killed after ${durable.length} durable reports, last segment cut at ${cut}/${size}, log ends at ${last}`);
  }
});
