/**
 * Crash: a child process applies batches to the store and is killed with SIGKILL at an arbitrary moment,
 * several times over. After each kill the store reopens with an applied index at least as far as the
 * child reported, and contents that are exactly those of that applied index — never half a batch.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createKeyFile, keyFileKek, openKeyring } from '../../../src/crypto/index.ts';
import { MvccStore, prefixEnd } from '../../../src/storage/mvcc/index.ts';

const child = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const keysPerBatch = 25;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Runs the child until it has reported `batches` more batches (plus a random few), then SIGKILLs it. */
async function runAndKill(args: string[], batches: number): Promise<number> {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on('exit', (_code, signal) => resolve(signal)));
  let opened = -1;
  let lastReported = -1;
  // Kill after a random number of further reports, at whatever point of a batch the child is then in.
  const target = batches + Math.floor(Math.random() * 5);
  for await (const line of createInterface({ input: proc.stdout })) {
    const [word, value] = line.split(' ');
    if (word === 'opened') opened = Number(value);
    if (word === 'applied') lastReported = Number(value);
    if (lastReported - opened >= target) {
      proc.kill('SIGKILL');
      break;
    }
  }
  const signal = await exited;
  assert.equal(signal, 'SIGKILL', `the child died by SIGKILL, not by itself: ${stderr}`);
  return lastReported;
}

test('after SIGKILL mid-batch the applied index and the contents agree', { timeout: 120_000 }, async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'coffer-mvcc-crash-'));
  try {
    const keyFile = path.join(root, 'kek.key');
    await createKeyFile(keyFile);
    const keyringDir = path.join(root, 'keyring');
    const keyring = await openKeyring({ dir: keyringDir, kek: await keyFileKek(keyFile) });
    const storeDir = path.join(root, 'store');
    const args = [storeDir, keyringDir, keyFile, String(keysPerBatch)];
    try {
      for (let round = 0; round < 4; round++) {
        const lastReported = await runAndKill(args, 15);
        const store = await MvccStore.open({ dir: storeDir, sealer: keyring, storeId: 'crash-test' });
        try {
          const applied = store.appliedIndex();
          assert.ok(applied >= lastReported, `applied index ${applied} is not behind the last reported batch ${lastReported}`);
          // Each batch is keysPerBatch + 1 puts and one delete of the previous marker (nothing to delete in batch 1).
          assert.equal(store.currentRevision(), applied * (keysPerBatch + 2) - 1, 'revision matches the applied index');
          const values = await store.range(encoder.encode('key/'), prefixEnd(encoder.encode('key/')));
          assert.equal(values.count, keysPerBatch);
          for (const kv of values.kvs) {
            assert.equal(decoder.decode(kv.value).split('-')[1], String(applied), 'every key holds the applied batch value');
            assert.equal(kv.version, applied);
          }
          const markers = await store.range(encoder.encode('marker/'), prefixEnd(encoder.encode('marker/')));
          assert.deepEqual(markers.kvs.map((kv) => decoder.decode(kv.key)), [`marker/${applied}`]);
        } finally {
          await store.close();
        }
      }
    } finally {
      await keyring.close();
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
