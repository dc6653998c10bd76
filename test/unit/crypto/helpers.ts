// Shared set-up for the crypto tests: a temporary dir and a fast keyring.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createKeyFile, keyFileKek, type Keyring, openKeyring } from '../../../src/crypto/index.ts';

/** Cheap argon2id parameters so tests stay fast; production uses the defaults (>= 64 MiB). */
export const fastArgon2 = { memoryKiB: 1024, timeCost: 1, parallelism: 1 };

export async function tempDir(t: { after(fn: () => Promise<void>): void }, prefix = 'coffer-crypto-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function keyFileKeyring(dir: string, name = 'unseal.key'): Promise<{ keyring: Keyring; keyFile: string }> {
  const keyFile = path.join(dir, name);
  await createKeyFile(keyFile);
  const keyring = await openKeyring({ dir: path.join(dir, 'data'), kek: await keyFileKek(keyFile) });
  return { keyring, keyFile };
}
