/**
 * Replace a file atomically: write a temporary sibling, fsync it, rename it over the target, fsync the
 * directory. A crash at any point leaves either the complete old file or the complete new one (plus,
 * possibly, a stray temporary that the next successful open removes).
 * `step` is a deliberate seam for crash tests: it is called after each step with the step's name.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fsyncDir } from '../durable/index.ts';

export type AtomicWriteStep = 'temp-written' | 'temp-synced' | 'renamed' | 'dir-synced';

export function tempPathOf(file: string): string {
  return `${file}.tmp`;
}

export async function writeFileAtomic(
  file: string,
  content: Uint8Array,
  step: (name: AtomicWriteStep) => void = () => {},
): Promise<void> {
  const temp = tempPathOf(file);
  const handle = await fs.open(temp, 'w', 0o600);
  try {
    await handle.writeFile(content);
    step('temp-written');
    await handle.sync();
    step('temp-synced');
  } finally {
    await handle.close();
  }
  await fs.rename(temp, file);
  step('renamed');
  await fsyncDir(path.dirname(file));
  step('dir-synced');
}
