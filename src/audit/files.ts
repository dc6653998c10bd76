/**
 * The audit directory: `<dataDir>/audit/audit-<n>.log`, n = 1, 2, 3, … (decimal). Files are plain JSON
 * lines, one record per line ending in '\n'. Other names in the directory are ignored.
 * Every access goes through a DurableFs (nodeFs in production; the simulator passes its power-loss disk).
 */
import path from 'node:path';
import { type DurableFs, nodeFs } from '../durable/index.ts';

export interface AuditFile {
  number: number;
  name: string;
  path: string;
}

export function auditDirOf(dataDir: string): string {
  return path.join(dataDir, 'audit');
}

export function auditFileName(number: number): string {
  return `audit-${number}.log`;
}

const namePattern = /^audit-([1-9][0-9]{0,14})\.log$/;

/** The audit files in `dir`, oldest first; [] if the directory does not exist. */
export async function listAuditFiles(dir: string, fs: DurableFs = nodeFs): Promise<AuditFile[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const files: AuditFile[] = [];
  for (const name of names) {
    const m = namePattern.exec(name);
    if (m) files.push({ number: Number(m[1]), name, path: path.join(dir, name) });
  }
  return files.sort((a, b) => a.number - b.number);
}

export interface FileLines {
  /** Complete lines (each was terminated by '\n'), without the terminator. */
  lines: string[];
  /** Bytes after the last '\n': a record whose write was torn by a crash (never acknowledged). */
  partialBytes: number;
  /** Bytes up to and including the last '\n'. */
  completeBytes: number;
}

export async function readLines(file: string, fs: DurableFs = nodeFs): Promise<FileLines> {
  const bytes = await fs.readFile(file);
  const end = bytes.lastIndexOf(0x0a) + 1;
  const text = bytes.subarray(0, end).toString('utf8');
  const lines = text.length === 0 ? [] : text.slice(0, -1).split('\n');
  return { lines, partialBytes: bytes.length - end, completeBytes: end };
}

/** Cuts `file` to `bytes` and makes the new length durable. A missing file is left missing. */
export async function truncateDurably(file: string, bytes: number, fs: DurableFs = nodeFs): Promise<void> {
  try {
    await fs.truncateDurably(file, bytes);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
