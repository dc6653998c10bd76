/**
 * `coffer render --dir DIR`: each key of each source as the file DIR/KEY, as a Kubernetes Secret
 * volume shows them: mode 0600, in DIR (made 0700 if missing), each replaced atomically (a new
 * temporary file no other local user can plant, fsync, rename, fsync of the directory), so a reader
 * sees the old value or the new, never part of one. A key that disappears from
 * the sources has its file removed — only files this run wrote; other files in DIR are left alone.
 * Keys are the file names: a key that is not one ("..", a "/"), or two sources with the same key, is refused.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeFs } from '../../durable/index.ts';
import { privateFileMode, writeFileAtomic } from '../../pki/index.ts';
import { CliError } from '../errors.ts';
import { describeSource, type SourceValues } from './sources.ts';

export class DirectoryWriter {
  private readonly written = new Set<string>();

  constructor(private readonly dir: string) {}

  /** Writes every value; resolves with the number of files written. */
  async write(snapshot: readonly SourceValues[]): Promise<number> {
    const files = new Map<string, Buffer>();
    const owner = new Map<string, string>();
    for (const { source, values } of snapshot) {
      for (const [key, value] of values) {
        if (!/^[-._a-zA-Z0-9]+$/.test(key) || key === '.' || key === '..') {
          throw new CliError(`key ${JSON.stringify(key)} of ${describeSource(source)} cannot be a file name in ${this.dir}`);
        }
        const earlier = owner.get(key);
        if (earlier !== undefined) throw new CliError(`key ${JSON.stringify(key)} is in both ${earlier} and ${describeSource(source)}: render them to different --dir`);
        owner.set(key, describeSource(source));
        files.set(key, value);
      }
    }
    await nodeFs.mkdir(this.dir, { recursive: true, mode: 0o700 }); // exactly 0700, whatever the umask
    for (const [key, value] of files) await writeFileAtomic(join(this.dir, key), value, privateFileMode);
    for (const key of this.written) {
      if (!files.has(key)) await rm(join(this.dir, key), { force: true });
    }
    this.written.clear();
    for (const key of files.keys()) this.written.add(key);
    return files.size;
  }
}
