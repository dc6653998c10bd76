// A WAL killed with SIGKILL while it rotates DEKs and re-seals its files back to back (appending all the
// while) reopens with every entry it reported durable, byte for byte, and no leftover temporary; a final
// re-seal then leaves only the active DEK named, and the WAL opens without the older DEKs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { seededRandom } from '../../../src/base/index.ts';
import { createKeyFile, keyFileKek, openKeyring } from '../../../src/crypto/index.ts';
import { Wal, walDekUsage } from '../../../src/storage/wal/index.ts';
import { payload, tempDir, text } from '../../unit/wal/helpers.ts';

const seed = Number(process.env.COFFER_TEST_SEED ?? Date.now() % 1_000_000);
const rounds = 4;
const walOptions = { storeId: 'm1/raft', segmentBytesTarget: 16 * 1024 };

/** Runs the child until it reported `target` durable entries and at least one re-seal started, then SIGKILLs it. */
async function runAndKill(dir: string, keyFile: string, term: number, target: number): Promise<{ durable: number[]; reseals: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'reseal-child.ts'), dir, keyFile, String(term)],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  let buffered = '';
  const durable: number[] = [];
  let reseals = 0;
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const [word, value] = line.split(' ');
        if (word === 'durable') durable.push(Number(value));
        if (word === 'resealing') reseals++;
      }
      if (durable.length >= target && reseals > 0) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.once('exit', (code, signal) => reject(new Error(`child exited early (${code ?? signal})`)));
  });
  const [, signal] = await exited as [number | null, NodeJS.Signals | null];
  assert.equal(signal, 'SIGKILL');
  return { durable, reseals };
}

test(`a WAL killed with SIGKILL while re-sealing loses no durable entry, keeps no temporary, and a final re-seal frees every older DEK (seed ${seed})`, { timeout: 120_000 }, async (t) => {
  const random = seededRandom(seed);
  const dir = await tempDir(t, 'coffer-wal-reseal-kill-');
  const keyFile = path.join(dir, 'unseal.key');
  await createKeyFile(keyFile);
  const data = path.join(dir, 'data');
  const walDir = path.join(data, 'wal');
  await (await openKeyring({ dir: data, kek: await keyFileKek(keyFile) })).close();
  const termOf = new Map<number, number>();
  let last = 0;

  const check = (wal: Wal, label: string): number => {
    const lastIndex = wal.lastIndex();
    const entries = wal.entries(1, lastIndex + 1, Number.MAX_SAFE_INTEGER);
    assert.equal(entries.length, lastIndex, label);
    for (const e of entries) {
      const expectedTerm = termOf.get(e.index) ?? e.term;
      assert.equal(e.term, expectedTerm, `${label}: entry ${e.index} reported durable in term ${expectedTerm}`);
      assert.equal(text(e.data), text(payload(e.index, e.term, 32 + (e.index % 200))), `${label}: entry ${e.index}`);
    }
    return lastIndex;
  };

  for (let round = 1; round <= rounds; round++) {
    const target = random.int(200, 2000);
    const { durable, reseals } = await runAndKill(dir, keyFile, round, target);
    for (const index of durable) termOf.set(index, round);
    const reportedMax = Math.max(last, ...durable);
    const leftovers = (await readdir(walDir)).filter((n) => n.endsWith('.tmp')).length;
    const keyring = await openKeyring({ dir: data, kek: await keyFileKek(keyFile), createIfMissing: false });
    const wal = await Wal.open({ dir: walDir, sealer: keyring, ...walOptions });
    assert.deepEqual((await readdir(walDir)).filter((n) => n.endsWith('.tmp')), [], `round ${round}: temporaries removed at open`);
    last = check(wal, `round ${round} (seed ${seed})`);
    assert.ok(last >= reportedMax, `round ${round} (seed ${seed}): last index ${last} < reported durable ${reportedMax}`);
    // Entries beyond what was reported durable may survive; they are the child's own from now on.
    for (const e of wal.entries(1, last + 1, Number.MAX_SAFE_INTEGER)) termOf.set(e.index, e.term);
    await wal.close();
    t.diagnostic(`round ${round}: killed after ${durable.length} durable reports and ${reseals} re-seals started, ${leftovers} temporaries left; log ends at ${last}; ${keyring.status().deks.length} DEKs`);
    await keyring.close();
  }

  // Finish the job: one more rotation and re-seal, then every older DEK can go.
  const keyring = await openKeyring({ dir: data, kek: await keyFileKek(keyFile), createIfMissing: false });
  try {
    const wal = await Wal.open({ dir: walDir, sealer: keyring, ...walOptions });
    const active = await keyring.rotateDek();
    await wal.resealToActiveDek();
    assert.deepEqual([...(await walDekUsage(walDir, (sealed) => keyring.dekIdOf(sealed))).keys()], [active]);
    for (const d of keyring.status().deks) if (!d.active) await keyring.retireDek(d.id);
    assert.equal(check(wal, 'after the final re-seal'), last);
    await wal.close();
    const reopened = await Wal.open({ dir: walDir, sealer: keyring, ...walOptions });
    assert.equal(check(reopened, 'reopened with only the active DEK'), last);
    await reopened.close();
  } finally {
    await keyring.close();
  }
});
