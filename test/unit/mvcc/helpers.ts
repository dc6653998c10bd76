/**
 * Shared set-up for MVCC tests: a temporary directory, a real keyring unsealed by a key-file KEK, and
 * small byte helpers. The keyring is the production Sealer — no fake sealer.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createKeyFile, keyFileKek, openKeyring, type Keyring } from '../../../src/crypto/index.ts';
import { MvccStore, type MvccStoreOptions } from '../../../src/storage/mvcc/index.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const b = (text: string): Uint8Array => encoder.encode(text);
export const s = (bytes: Uint8Array): string => decoder.decode(bytes);

export interface Fixture {
  root: string;
  keyring: Keyring;
  /** A fresh store directory under root. */
  newDir(): string;
  open(dir: string, options?: Partial<MvccStoreOptions>): Promise<MvccStore>;
  /** Deletes the index checkpoint of the closed store in `dir`: its next open scans every page. */
  forgetIndexCheckpoint(dir: string): Promise<void>;
  cleanup(): Promise<void>;
}

export async function fixture(prefix = 'coffer-mvcc-'): Promise<Fixture> {
  const root = await mkdtemp(path.join(tmpdir(), prefix));
  const keyFile = path.join(root, 'kek.key');
  await createKeyFile(keyFile);
  const keyring = await openKeyring({ dir: path.join(root, 'keyring'), kek: await keyFileKek(keyFile) });
  let n = 0;
  return {
    root,
    keyring,
    newDir: () => path.join(root, `store-${++n}`),
    open: (dir, options = {}) => MvccStore.open({ dir, sealer: keyring, storeId: `test/${path.basename(dir)}`, ...options }),
    forgetIndexCheckpoint: (dir) => MvccStore.discardIndexCheckpoint({ dir, sealer: keyring, storeId: `test/${path.basename(dir)}` }),
    async cleanup() {
      await keyring.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

