/**
 * Measures this machine's raw fdatasync rate: append a small record to a file and fdatasync it, in a
 * loop, for a fixed duration. This is the ceiling for WAL batches per second (each batch costs one).
 *
 *   node --import tsx scripts/fsync-rate.ts [--dir DIR] [--seconds 5] [--bytes 256]
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { dir: { type: 'string' }, seconds: { type: 'string', default: '5' }, bytes: { type: 'string', default: '256' } },
});
const seconds = Number(values.seconds);
const bytes = Number(values.bytes);
const dir = mkdtempSync(path.join(values.dir ?? tmpdir(), 'coffer-fsync-'));
const file = path.join(dir, 'probe');
const fd = openSync(file, 'a', 0o600);
const record = Buffer.alloc(bytes, 0x5a);
const latencies: number[] = [];
const started = process.hrtime.bigint();
const deadline = started + BigInt(Math.round(seconds * 1e9));
let now = started;
while (now < deadline) {
  writeSync(fd, record);
  fdatasyncSync(fd);
  const after = process.hrtime.bigint();
  latencies.push(Number(after - now) / 1e6);
  now = after;
}
closeSync(fd);
rmSync(dir, { recursive: true, force: true });
latencies.sort((a, b) => a - b);
const elapsed = Number(now - started) / 1e9;
const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
process.stdout.write(JSON.stringify({
  what: 'fdatasync', dir: values.dir ?? tmpdir(), recordBytes: bytes, syncs: latencies.length,
  syncsPerSec: Math.round(latencies.length / elapsed), p50Ms: +pct(0.5).toFixed(3), p99Ms: +pct(0.99).toFixed(3),
}) + '\n');
