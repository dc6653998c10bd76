// The bench's profile attribution (scripts/bench-profile.ts): a sample counts for the nearest frame on
// its stack that has an owner, only inside the run's window, idle left out; a member's counters.
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { countersSince, type CpuProfile, ownerOf, processCounters, sharesOf } from '../../../scripts/bench-profile.ts';

const repo = 'file:///work/coffer';

test('frames are owned by their src folder or a known library; others pass to their caller', () => {
  assert.equal(ownerOf(`${repo}/src/raft/raft.ts`), 'Raft');
  assert.equal(ownerOf(`${repo}/src/storage/wal/wal.ts`), 'WAL');
  assert.equal(ownerOf(`${repo}/src/durable/group-appender.ts`), 'durable');
  assert.equal(ownerOf(`${repo}/src/storage/mvcc/store.ts`), 'store');
  assert.equal(ownerOf(`${repo}/src/audit/chain.ts`), 'audit');
  assert.equal(ownerOf(`${repo}/src/crypto/keyring.ts`), 'seal');
  assert.equal(ownerOf(`${repo}/src/registry/registry.ts`), 'API');
  assert.equal(ownerOf(`${repo}/src/base/msgpack.ts`), 'other');
  assert.equal(ownerOf(`${repo}/node_modules/libsodium/dist/modules/libsodium.js`), 'seal');
  assert.equal(ownerOf(`${repo}/node_modules/fastify/lib/route.js`), 'HTTP');
  assert.equal(ownerOf('node:_tls_wrap'), 'TLS');
  assert.equal(ownerOf('node:_http_server'), 'HTTP');
  assert.equal(ownerOf(`${repo}/node_modules/@msgpack/msgpack/dist/index.js`), undefined);
  assert.equal(ownerOf('node:internal/crypto/hash'), undefined);
  assert.equal(ownerOf(''), undefined);
});

test('samples are attributed to the nearest owner, inside the window only, without idle time', () => {
  const frame = (id: number, functionName: string, url: string, children: number[] = []) => ({ id, callFrame: { functionName, url }, children });
  const profile: CpuProfile = {
    nodes: [
      frame(1, '(root)', '', [2, 3, 6, 7]),
      frame(2, 'apply', `${repo}/src/storage/mvcc/apply.ts`, [4]),
      frame(3, 'append', `${repo}/src/audit/audit-log.ts`, [5]),
      frame(4, 'encode', `${repo}/node_modules/@msgpack/msgpack/dist/index.js`),
      frame(5, 'digest', 'node:internal/crypto/hash'),
      frame(6, '(idle)', ''),
      frame(7, '(garbage collector)', ''),
    ],
    // Samples at 1000, 2000, …, 8000 µs; each stands for the 1000 µs until the next.
    startTime: 0,
    endTime: 9000,
    samples: [4, 4, 5, 6, 6, 7, 3, 4, 4],
    timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
  };
  const all = sharesOf(profile, 0, 9000);
  // Busy: 4,4 (store), 5 (audit), 7 (GC), 3 (audit), 4 (store) — the last sample has no successor.
  assert.equal(all.busyMs, 6);
  assert.deepEqual([all.shares.store, all.shares.audit, all.shares.GC], [3 / 6, 2 / 6, 1 / 6]);
  const window = sharesOf(profile, 2500, 5500);
  // Only the samples at 3000 (audit), 4000 and 5000 (idle).
  assert.equal(window.busyMs, 1);
  assert.equal(window.shares.audit, 1);
});

test("a process's counters count the system calls it makes (Linux: /proc)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-counters-'));
  const fd = openSync(join(dir, 'f'), 'w');
  try {
    const before = processCounters(process.pid);
    const writes = 200;
    for (let i = 0; i < writes; i++) writeSync(fd, 'x');
    const used = countersSince(before, processCounters(process.pid));
    assert.ok(used !== undefined);
    assert.ok(used.writeCalls >= writes && used.writeCalls < writes + 50, `${used.writeCalls} write calls for ${writes} writes`);
    assert.ok(used.cpuMs >= 0);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(processCounters(undefined), undefined);
});
