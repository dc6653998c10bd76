/**
 * Benchmarks of the encrypted MVCC store alone (no Raft, no network): puts per second (one put per
 * batch, and 100 puts per applyBatch as the apply loop does), point and prefix ranges per second, and
 * for stores of 100k and 1M keys the start-up time and resident memory, each measured in a fresh
 * process, twice: after a clean close (the open reads the index checkpoint) and without the checkpoint
 * (as after a crash: the open reads and opens every page), with the close that writes the checkpoint
 * timed too. 256-byte values. One JSON line per measurement.
 *
 *   node --import tsx scripts/bench-mvcc.ts [--dir DIR] [--seconds 5] [--value-bytes 256] [--sizes 100000,1000000]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createKeyFile, keyFileKek, openKeyring } from '../src/crypto/index.ts';
import { MvccStore, type WriteOp, prefixEnd } from '../src/storage/mvcc/index.ts';
import { dirBytes, mib, residentMemory } from './bench-footprint.ts';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    seconds: { type: 'string', default: '5' },
    'value-bytes': { type: 'string', default: '256' },
    sizes: { type: 'string', default: '100000,1000000' },
    // Internal: the fresh-process start-up measurement.
    'open-only': { type: 'string' },
    'key-file': { type: 'string' },
    'keyring-dir': { type: 'string' },
  },
});
const print = (line: object): void => void process.stdout.write(JSON.stringify(line) + '\n');
const encoder = new TextEncoder();
const keyOf = (i: number): Uint8Array => encoder.encode(`/registry/secrets/ns${i % 100}/name-${String(i).padStart(8, '0')}`);

if (values['open-only'] !== undefined) {
  // Child: open a prepared store and report time and memory.
  const keyring = await openKeyring({ dir: values['keyring-dir']!, kek: await keyFileKek(values['key-file']!), createIfMissing: false });
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const store = await MvccStore.open({ dir: values['open-only'], sealer: keyring, storeId: 'bench' });
  const openMs = performance.now() - t0;
  global.gc?.();
  const memory = process.memoryUsage();
  // LevelDB maps its table files; touched pages count in RSS as file-backed (reclaimable) memory, so
  // report the anonymous part separately (Linux only).
  const { rssAnonMiB, rssFileMiB } = await residentMemory('self');
  const t1 = performance.now();
  await store.close();
  const closeMs = performance.now() - t1;
  print({
    from: store.openedFrom().from, openMs: Math.round(openMs), closeMs: Math.round(closeMs), keys: store.indexedKeys(), rssBeforeMiB: mib(rssBefore), rssAfterMiB: mib(memory.rss), rssAnonMiB, rssFileMiB,
    heapUsedMiB: mib(memory.heapUsed), heapTotalMiB: mib(memory.heapTotal), externalMiB: mib(memory.external), arrayBuffersMiB: mib(memory.arrayBuffers),
  });
  await keyring.close();
  process.exit(0);
}

const seconds = Number(values.seconds);
const valueBytes = Number(values['value-bytes']);
const sizes = values.sizes.split(',').filter((x) => x !== '').map(Number);
const root = mkdtempSync(path.join(values.dir ?? tmpdir(), 'coffer-bench-mvcc-'));

try {
  const keyFile = path.join(root, 'unseal.key');
  await createKeyFile(keyFile);
  const keyringDir = path.join(root, 'keyring');
  const keyring = await openKeyring({ dir: keyringDir, kek: await keyFileKek(keyFile) });
  const value = new Uint8Array(valueBytes).fill(0x76);
  const keySpace = 10_000;

  {
    const store = await MvccStore.open({ dir: path.join(root, 'ops'), sealer: keyring, storeId: 'bench' });
    // Every key exists before the timed runs, so reads always find them.
    for (let i = 0; i < keySpace; i += 1000) {
      await store.applyBatch(0, Array.from({ length: 1000 }, (_, j): WriteOp => ({ type: 'put', key: keyOf(i + j), value })));
    }
    // Puts, one per batch (each an atomic LevelDB write with the meta record).
    let puts = 0;
    let start = performance.now();
    let end = start + seconds * 1000;
    while (performance.now() < end) await store.put(keyOf(puts++ % keySpace), value);
    print({ what: 'put', perBatch: 1, valueBytes, ops: puts, opsPerSec: Math.round(puts / ((performance.now() - start) / 1000)) });

    // Puts, 100 per applyBatch, as the apply loop hands over committed entries.
    puts = 0;
    let applied = store.appliedIndex();
    start = performance.now();
    end = start + seconds * 1000;
    while (performance.now() < end) {
      const ops: WriteOp[] = [];
      for (let i = 0; i < 100; i++) ops.push({ type: 'put', key: keyOf(puts++ % keySpace), value });
      await store.applyBatch(++applied, ops);
    }
    print({ what: 'put', perBatch: 100, valueBytes, ops: puts, opsPerSec: Math.round(puts / ((performance.now() - start) / 1000)) });

    // Point reads of random keys, 1 and 16 readers at once.
    for (const readers of [1, 16]) {
      let reads = 0;
      start = performance.now();
      end = start + seconds * 1000;
      let seed = 12345;
      const loop = async (): Promise<void> => {
        while (performance.now() < end) {
          seed = (seed * 1103515245 + 12345) % 2 ** 31;
          const r = await store.range(keyOf(seed % keySpace));
          if (r.kvs.length !== 1) throw new Error('a written key is missing');
          reads++;
        }
      };
      await Promise.all(Array.from({ length: readers }, loop));
      print({ what: 'range', kind: 'point', readers, ops: reads, opsPerSec: Math.round(reads / ((performance.now() - start) / 1000)) });
    }

    // Prefix ranges: one namespace (100 keys of 10k).
    let ranges = 0;
    start = performance.now();
    end = start + seconds * 1000;
    while (performance.now() < end) {
      const prefix = encoder.encode(`/registry/secrets/ns${ranges % 100}/`);
      const r = await store.range(prefix, prefixEnd(prefix));
      if (r.count !== keySpace / 100) throw new Error(`prefix range returned ${r.count}`);
      ranges++;
    }
    print({ what: 'range', kind: 'prefix', keysPerRange: keySpace / 100, ops: ranges, opsPerSec: Math.round(ranges / ((performance.now() - start) / 1000)) });
    await store.close();
  }

  // Start-up time and memory for stores of each size, measured in a fresh process.
  const script = fileURLToPath(import.meta.url);
  for (const size of sizes) {
    const dir = path.join(root, `size-${size}`);
    const store = await MvccStore.open({ dir, sealer: keyring, storeId: 'bench' });
    const t0 = performance.now();
    for (let i = 0; i < size; i += 1000) {
      const ops: WriteOp[] = [];
      for (let j = i; j < Math.min(size, i + 1000); j++) ops.push({ type: 'put', key: keyOf(j), value });
      await store.applyBatch(i / 1000 + 1, ops);
    }
    const loadSec = (performance.now() - t0) / 1000;
    await store.close();
    for (const crashed of [false, true]) {
      if (crashed) await MvccStore.discardIndexCheckpoint({ dir, sealer: keyring, storeId: 'bench' });
      const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script, '--open-only', dir, '--key-file', keyFile, '--keyring-dir', keyringDir], { encoding: 'utf8' });
      if (child.status !== 0) throw new Error(`start-up measurement failed: ${child.stderr}`);
      const measured = JSON.parse(child.stdout.trim().split('\n').pop()!) as Record<string, number>;
      print({ what: 'startup', keys: size, valueBytes, loadPutsPerSec: Math.round(size / loadSec), diskMiB: mib(await dirBytes(dir)), ...measured });
    }
  }
  await keyring.close();
} finally {
  rmSync(root, { recursive: true, force: true });
}
