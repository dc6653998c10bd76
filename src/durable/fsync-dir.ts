import { promises as fs } from 'node:fs';

/** Makes the names in `dir` durable (a created, renamed or removed entry survives a power cut). */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
