/**
 * A member's data dir around a start that fails. A first start (the dir absent or empty) that fails
 * leaves the dir as it found it: what the attempt wrote (keyring, identity, WAL, store, audit log) is
 * removed, so the next attempt does not meet a half-made dir sealed with keys it may not have. A dir
 * that already holds data is left alone: its files are crash-safe and the next start takes them as they
 * are, while removing what a failed start wrote there (a new LevelDB manifest, say) could lose data.
 */
import { readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Whether `dir` exists and holds anything. */
export async function holdsData(dir: string): Promise<boolean> {
  return ((await entriesOf(dir))?.length ?? 0) > 0;
}

/** Records the dir's state now; `undo()` after a failed start returns a fresh dir to that state. */
export async function recordFirstStart(dir: string): Promise<{ undo(): Promise<void> }> {
  const entries = await entriesOf(dir);
  const existed = entries !== undefined;
  if (existed && entries.length > 0) return { undo: () => Promise.resolve() };
  return {
    undo: async () => {
      for (const entry of (await entriesOf(dir)) ?? []) await rm(join(dir, entry), { recursive: true, force: true });
      if (!existed) await rmdir(dir).catch(() => undefined);
    },
  };
}

async function entriesOf(dir: string): Promise<string[] | undefined> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
