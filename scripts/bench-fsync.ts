/**
 * The raw fdatasync rate of a directory's file system: append a small record to a file and fdatasync
 * it, in a loop, for a fixed time. It is the ceiling of a durable single writer (each WAL batch costs one),
 * and what the one-member put target is measured against (docs/performance.md). Synchronous on purpose:
 * nothing else runs in the measuring process while it measures.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { quantile, rounded } from './bench-stats.ts';

export interface FsyncRate {
  what: 'fdatasync';
  dir: string;
  recordBytes: number;
  syncs: number;
  syncsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

export function measureFsyncRate(dir: string, seconds: number, recordBytes: number): FsyncRate {
  const probeDir = mkdtempSync(path.join(dir, 'coffer-fsync-'));
  const fd = openSync(path.join(probeDir, 'probe'), 'a', 0o600);
  const record = Buffer.alloc(recordBytes, 0x5a);
  const latencies: number[] = [];
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(seconds * 1e9));
  let now = started;
  try {
    while (now < deadline) {
      writeSync(fd, record);
      fdatasyncSync(fd);
      const after = process.hrtime.bigint();
      latencies.push(Number(after - now) / 1e6);
      now = after;
    }
  } finally {
    closeSync(fd);
    rmSync(probeDir, { recursive: true, force: true });
  }
  latencies.sort((a, b) => a - b);
  const elapsed = Number(now - started) / 1e9;
  return {
    what: 'fdatasync', dir, recordBytes, syncs: latencies.length,
    syncsPerSec: Math.round(latencies.length / elapsed), p50Ms: rounded(quantile(latencies, 0.5)), p99Ms: rounded(quantile(latencies, 0.99)),
  };
}
