// Shared set-up for the WAL tests: a keyring in a temp dir and deterministic entries.
import path from 'node:path';
import type { Keyring } from '../../../src/crypto/index.ts';
import { CompactedError, type Entry, UnavailableError } from '../../../src/raft/index.ts';
import { Wal, type WalOptions } from '../../../src/storage/wal/index.ts';
import { keyFileKeyring, tempDir } from '../crypto/helpers.ts';

export { tempDir };

export const raftErrors = {
  compacted: (index: number, first: number) => new CompactedError(index, first),
  unavailable: (index: number, last: number) => new UnavailableError(index, last),
};

export interface WalFixture {
  dir: string;
  walDir: string;
  keyring: Keyring;
  open(extra?: Partial<WalOptions>): Promise<Wal>;
}

export async function walFixture(t: { after(fn: () => Promise<void>): void }): Promise<WalFixture> {
  const dir = await tempDir(t, 'coffer-wal-');
  const { keyring } = await keyFileKeyring(dir);
  t.after(() => keyring.close().catch(() => {}));
  const walDir = path.join(dir, 'data', 'wal');
  return {
    dir,
    walDir,
    keyring,
    open: (extra = {}) => Wal.open({ dir: walDir, sealer: keyring, storeId: 'm1/raft', raftErrors, ...extra }),
  };
}

/** The deterministic payload of entry `index` in term `term`. */
export function payload(index: number, term = 1, bytes = 64): Uint8Array {
  const text = `entry ${index} term ${term} `;
  return new TextEncoder().encode(text.padEnd(bytes, '.'));
}

export function entry(index: number, term = 1, bytes = 64): Entry {
  return { index, term, type: 'normal', data: payload(index, term, bytes) };
}

export function range(from: number, to: number, term = 1, bytes = 64): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term, bytes));
  return out;
}

export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
