/**
 * What a store costs the machine, as the benches report it: a process's resident memory split as
 * Linux's /proc/<pid>/status does (anonymous — heaps and caches — and file-backed — mapped files the
 * kernel can drop), and the bytes a directory holds on disk. Sizes are whole MiB.
 *
 * Linux only: elsewhere the memory figures are null.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

export const mib = (bytes: number): number => Math.round(bytes / 2 ** 20);

export interface ResidentMemory {
  rssMiB: number | null;
  rssAnonMiB: number | null;
  rssFileMiB: number | null;
}

/** VmRSS, RssAnon and RssFile of process `pid` (or this process) now. */
export async function residentMemory(pid: number | 'self'): Promise<ResidentMemory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const field = (name: string): number | null => {
    const kib = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1];
    return kib === undefined ? null : mib(Number(kib) * 1024);
  };
  return { rssMiB: field('VmRSS'), rssAnonMiB: field('RssAnon'), rssFileMiB: field('RssFile') };
}

/** The bytes of every file under `dir`. */
export async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    total += entry.isDirectory() ? await dirBytes(full) : (await stat(full)).size;
  }
  return total;
}
