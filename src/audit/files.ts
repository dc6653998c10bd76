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
  /** Complete lines (each was terminated by '\n'), without the terminator, up to the torn tail. */
  lines: string[];
  /**
   * Indexes in `lines` of the lines whose bytes are not UTF-8. Their text there is a lenient decoding
   * (U+FFFD for each bad sequence), which other bytes decode to as well: never check a hash on it.
   */
  notUtf8: ReadonlySet<number>;
  /** Bytes of the torn tail: records whose write a crash tore (never acknowledged). */
  partialBytes: number;
  /** Bytes before the torn tail. */
  completeBytes: number;
}

/**
 * Where the complete, sound lines of `bytes` end (just past their last '\n') and whether a zero byte
 * cut them. A power cut may zero whole sectors of data that was never fdatasynced and keep a later
 * sector, so a torn write can end in a complete line; a record never holds a zero byte (JSON escapes
 * it), so the first line with one is where the torn writes begin and nothing after it is a record.
 */
export function soundLinesEnd(bytes: Uint8Array): { end: number; zeroSeen: boolean } {
  const zero = bytes.indexOf(0);
  const sound = zero === -1 ? bytes.length : zero;
  return { end: sound === 0 ? 0 : bytes.lastIndexOf(0x0a, sound - 1) + 1, zeroSeen: zero !== -1 };
}

/**
 * Strict: a lenient decoder reads an invalid byte as U+FFFD, so bytes a record never had would pass its
 * hash, computed on the text. A byte order mark is kept, so a line beginning with one is not JSON.
 */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The file's lines and its torn tail: the bytes after the sound lines (soundLinesEnd). */
export async function readLines(file: string, fs: DurableFs = nodeFs): Promise<FileLines> {
  const bytes = await fs.readFile(file);
  const { end } = soundLinesEnd(bytes);
  const sound = bytes.subarray(0, end);
  const notUtf8 = new Set<number>();
  let lines: string[];
  try {
    const text = utf8.decode(sound);
    lines = text.length === 0 ? [] : text.slice(0, -1).split('\n');
  } catch {
    // Line by line, to name the lines that are not UTF-8 ('\n' is never part of a multi-byte sequence).
    lines = [];
    for (let start = 0; start < end;) {
      const stop = sound.indexOf(0x0a, start);
      const line = sound.subarray(start, stop);
      try {
        lines.push(utf8.decode(line));
      } catch {
        notUtf8.add(lines.length);
        lines.push(line.toString('utf8'));
      }
      start = stop + 1;
    }
  }
  return { lines, notUtf8, partialBytes: bytes.length - end, completeBytes: end };
}

/** Cuts `file` to `bytes` and makes the new length durable. A missing file is left missing. */
export async function truncateDurably(file: string, bytes: number, fs: DurableFs = nodeFs): Promise<void> {
  try {
    await fs.truncateDurably(file, bytes);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
