import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { createKeyFile, keyFileKek, type KeyringStep, openKeyring, RecordKind } from '../../../src/crypto/index.ts';
import { tempDir } from '../../unit/crypto/helpers.ts';

const position = { storeId: 's', kind: RecordKind.walEntry, index: 3, sub: 0 };

// Killed before the rename, the old wrapping must be the usable one; from the rename on, the new one.
const cases: [KeyringStep | 'never', 'old' | 'new'][] = [
  ['rewrapped', 'old'],
  ['temp-written', 'old'],
  ['temp-synced', 'old'],
  ['renamed', 'new'],
  ['dir-synced', 'new'],
  ['never', 'new'],
];

for (const [step, usable] of cases) {
  test(`a KEK rotation killed ${step === 'never' ? 'never' : `after step ${step}`} leaves the ${usable} KEK usable`, async (t) => {
    const dir = await tempDir(t);
    const data = path.join(dir, 'data');
    const oldKey = path.join(dir, 'old.key');
    const newKey = path.join(dir, 'new.key');
    await createKeyFile(oldKey);
    await createKeyFile(newKey);
    const keyring = await openKeyring({ dir: data, kek: await keyFileKek(oldKey) });
    await keyring.rotateDek();
    const page = keyring.seal(new TextEncoder().encode('survives'), position);
    await keyring.close();

    const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'rotate-kek-child.ts'), data, oldKey, newKey, step],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    const [code, signal] = await once(child, 'exit') as [number | null, NodeJS.Signals | null];
    if (step === 'never') {
      assert.equal(code, 0);
      assert.equal(out, 'rotated\n');
    } else {
      assert.equal(signal, 'SIGKILL');
      assert.equal(out, '');
    }

    const [goodKey, badKey] = usable === 'old' ? [oldKey, newKey] : [newKey, oldKey];
    await assert.rejects(openKeyring({ dir: data, kek: await keyFileKek(badKey) }), /cannot unseal/);
    const reopened = await openKeyring({ dir: data, kek: await keyFileKek(goodKey) });
    assert.equal(new TextDecoder().decode(reopened.open(page, position)), 'survives');
    assert.equal(reopened.activeDekId(), 2);
    await reopened.close();
    // A successful open removed any temporary the crash left behind.
    assert.deepEqual(await readdir(data), ['keyring.json']);
  });
}
