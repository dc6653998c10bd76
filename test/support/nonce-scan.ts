/**
 * Finding sealed records in raw files by their nonces: whatever file format holds them (LevelDB's
 * journal and compressed tables, WAL segments, atomic-write leftovers), a record sealed once is
 * recognised by the 24 random bytes of its nonce. Each nonce is kept as two 12-byte halves, and a file
 * holds the record if it holds either: LevelDB's journal may split a record at a block boundary (a
 * 7-byte block header between its bytes) and a table's compression may fold a byte next to the header
 * into a copy, but ciphertext does not otherwise repeat 12 bytes.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pageHeaderBytes, type Sealer } from '../../src/crypto/index.ts';
import { filesUnder } from './plaintext-scan.ts';

/** Where a sealed page's nonce lies: after the format byte and the DEK id (src/crypto/page.ts). */
const nonceOffset = 5;
const nonceHalfBytes = 12;

/** Nonce halves (latin1 strings) of the records a recordingSealer kept. */
export type NonceHalves = Set<string>;

/** `inner` as a Sealer that keeps, in `halves`, the nonce halves of every page it seals that `keep` picks. */
export function recordingSealer(inner: Sealer, halves: NonceHalves, keep: (sealed: Uint8Array) => boolean): Sealer {
  return {
    seal(plaintext, position) {
      const sealed = inner.seal(plaintext, position);
      if (keep(sealed)) {
        const nonce = Buffer.from(sealed.subarray(nonceOffset, pageHeaderBytes));
        halves.add(nonce.subarray(0, nonceHalfBytes).toString('latin1'));
        halves.add(nonce.subarray(nonceHalfBytes).toString('latin1'));
      }
      return sealed;
    },
    open: (sealed, position) => inner.open(sealed, position),
    activeDekId: () => inner.activeDekId(),
    dekIdOf: (sealed) => inner.dekIdOf(sealed),
  };
}

/** Each file under `dir` holding a kept record, as "<path relative to dir>: <places found>". */
export async function filesHoldingRecords(dir: string, halves: NonceHalves): Promise<string[]> {
  const found: string[] = [];
  for (const file of await filesUnder(dir)) {
    const text = (await readFile(file)).toString('latin1');
    let places = 0;
    for (let i = 0; i + nonceHalfBytes <= text.length; i++) if (halves.has(text.slice(i, i + nonceHalfBytes))) places++;
    if (places > 0) found.push(`${path.relative(dir, file)}: ${places}`);
  }
  return found;
}
