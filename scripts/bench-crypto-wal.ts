/**
 * Benchmarks of the storage floor: seal+open throughput of sealed pages (256 B and 4 KiB), and WAL
 * appends per second with group commit at 1, 16 and 256 concurrent appenders (each appender appends
 * one entry and waits until it is durable before appending the next). One JSON line per measurement.
 *
 *   node --import tsx scripts/bench-crypto-wal.ts [--dir DIR] [--seconds 5] [--value-bytes 256]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createKeyFile, keyFileKek, openKeyring, RecordKind } from '../src/crypto/index.ts';
import { Wal } from '../src/storage/wal/index.ts';
import { quantile, rounded } from './bench-stats.ts';

const { values } = parseArgs({
  options: { dir: { type: 'string' }, seconds: { type: 'string', default: '5' }, 'value-bytes': { type: 'string', default: '256' } },
});
const seconds = Number(values.seconds);
const valueBytes = Number(values['value-bytes']);
const root = mkdtempSync(path.join(values.dir ?? tmpdir(), 'coffer-bench-'));
const print = (line: object): void => void process.stdout.write(JSON.stringify(line) + '\n');

try {
  const keyFile = path.join(root, 'unseal.key');
  await createKeyFile(keyFile);
  const keyring = await openKeyring({ dir: path.join(root, 'data'), kek: await keyFileKek(keyFile) });

  for (const size of [256, 4096]) {
    const page = new Uint8Array(size).fill(0x41);
    let pages = 0;
    const start = performance.now();
    const end = start + seconds * 1000;
    while (performance.now() < end) {
      for (let i = 0; i < 256; i++, pages++) {
        const position = { storeId: 'bench', kind: RecordKind.mvccRevision, index: pages, sub: 0 };
        keyring.open(keyring.seal(page, position), position);
      }
    }
    const elapsed = (performance.now() - start) / 1000;
    print({ what: 'seal+open', pageBytes: size, pages, pagesPerSec: Math.round(pages / elapsed), mibPerSec: +((pages * size) / elapsed / 2 ** 20).toFixed(1) });
  }

  for (const appenders of [1, 16, 256]) {
    const walDir = path.join(root, 'data', `wal-${appenders}`);
    const wal = await Wal.open({ dir: walDir, sealer: keyring, storeId: 'bench' });
    const data = new Uint8Array(valueBytes).fill(0x42);
    let next = 1;
    let appended = 0;
    const latencies: number[] = [];
    const start = performance.now();
    const end = start + seconds * 1000;
    const before = wal.stats();
    const loop = async (): Promise<void> => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const index = next++;
        await wal.append([{ index, term: 1, type: 'normal', data }]);
        latencies.push(performance.now() - t0);
        appended++;
      }
    };
    await Promise.all(Array.from({ length: appenders }, loop));
    const elapsed = (performance.now() - start) / 1000;
    const after = wal.stats();
    await wal.close();
    latencies.sort((a, b) => a - b);
    const fsyncs = after.fsyncs - before.fsyncs;
    print({
      what: 'wal-append', appenders, valueBytes, appends: appended, appendsPerSec: Math.round(appended / elapsed),
      fsyncs, fsyncsPerSec: Math.round(fsyncs / elapsed), meanBatch: +(appended / Math.max(1, fsyncs)).toFixed(1),
      p50Ms: rounded(quantile(latencies, 0.5), 2), p99Ms: rounded(quantile(latencies, 0.99), 2),
    });
  }
  await keyring.close();
} finally {
  rmSync(root, { recursive: true, force: true });
}
