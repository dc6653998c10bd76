/**
 * The "no plaintext on disk" scan: a marker must not appear in a file, raw, as base64 at any of the
 * three alignments, or as hex in either case. Used by the WAL, MVCC and key-rotation tests.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/** Each way a marker could appear: raw, base64 at all three alignments, hex in both cases. */
function forms(marker: string): Buffer[] {
  const out = [Buffer.from(marker)];
  for (const prefix of ['', 'x', 'xy']) {
    const b64 = Buffer.from(prefix + marker).toString('base64');
    // Drop the characters that mix in the prefix or the padding: the stable middle must not appear.
    const skip = prefix.length === 0 ? 0 : prefix.length + 1;
    out.push(Buffer.from(b64.slice(skip, b64.length - 4)));
  }
  const hex = Buffer.from(marker).toString('hex');
  out.push(Buffer.from(hex), Buffer.from(hex.toUpperCase()));
  return out;
}

/** Every file below `dir`, recursively. */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...await filesUnder(full));
    else out.push(full);
  }
  return out;
}

/** Each marker found in `content`, with the form it was found in. */
export function markersIn(content: Buffer, markers: readonly string[]): string[] {
  const found: string[] = [];
  for (const marker of markers) {
    for (const form of forms(marker)) if (content.includes(form)) found.push(`${marker} as ${form.toString().slice(0, 20)}…`);
  }
  return found;
}

/** Every (file, marker) where a form of the marker appears; empty when the dir is clean. */
export async function plaintextFindings(dir: string, markers: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const file of await filesUnder(dir)) {
    for (const hit of markersIn(await readFile(file), markers)) found.push(`${hit} in ${file}`);
  }
  return found;
}
