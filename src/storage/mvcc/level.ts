/**
 * The LevelDB engine under the store, as a seam: classic-level (LevelDB) in production; any
 * abstract-level database with Uint8Array keys and values fits, and the simulator passes memory-level
 * over its power-loss file system (test/sim), so the store it drives is this store.
 */
import type { AbstractLevel } from 'abstract-level';
import { ClassicLevel } from 'classic-level';
import { storeOpenFilesMax } from '../../config/index.ts';

export type Level = AbstractLevel<string | Buffer | Uint8Array, Uint8Array, Uint8Array>;
/** An explicit LevelDB snapshot of a Level. */
export type Snapshot = ReturnType<Level['snapshot']>;

// LevelDB's own options, which abstract-level passes through to the engine (other engines ignore them).
// Merged declarations must repeat abstract-level's type parameters, used or not.
/* eslint-disable @typescript-eslint/no-unused-vars */
declare module 'abstract-level' {
  interface AbstractPutOptions<K, V> {
    /** fsync LevelDB's log before the write resolves (this and every earlier write become durable). */
    sync?: boolean;
  }
  interface AbstractBatchOptions<K, V> {
    /** As for put. */
    sync?: boolean;
  }
  interface AbstractIteratorOptions<K, V> {
    /** Whether the blocks read go into LevelDB's block cache. */
    fillCache?: boolean;
  }
  interface AbstractValueIteratorOptions<K, V> {
    /** As for iterator. */
    fillCache?: boolean;
  }
}
/* eslint-enable @typescript-eslint/no-unused-vars */

/** Creates (not yet opened) the database in `dir`; open() creates the dir if missing. */
export type OpenLevel = (dir: string) => Level;

/** classic-level, holding at most storeOpenFilesMax table files open (what the member's connection limits keep for it). */
export const classicLevel: OpenLevel = (dir) => new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view', maxOpenFiles: storeOpenFilesMax });

/** One operation of an atomic batch. */
export type BatchOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

/**
 * Writes `ops` as one atomic batch. Through abstract-level's chained batch, not `db.batch(array)`: the
 * array form copies and re-encodes each operation on the event loop at two to four times the chained
 * form's cost (docs/performance.md, "The store's batch, chained").
 */
export async function writeBatch(db: Level, ops: readonly BatchOp[], options?: { sync?: boolean }): Promise<void> {
  const batch = db.batch();
  try {
    for (const op of ops) {
      if (op.type === 'put') batch.put(op.key, op.value);
      else batch.del(op.key);
    }
  } catch (error) {
    await batch.close();
    throw error;
  }
  await batch.write(options ?? {});
}

/** True if the database holds no record at all. */
export async function isEmpty(db: Level): Promise<boolean> {
  const keys = await db.keys({ limit: 1 }).all();
  return keys.length === 0;
}

/**
 * LevelDB's CompactRange over every key (each record key starts with a byte below 0xff): the memtable
 * is written to a table and its journal deleted, then each level is compacted into the next down to
 * the deepest level holding tables, dropping what deletes and physical compaction left behind where
 * no snapshot reads it — so the files shrink to about what the store holds (etcd's Defragment). The
 * deepest level's tables are rewritten only where a table above overlaps them (purge.ts, which needs
 * every one rewritten, sees to that). Engines without compaction (memory-level) have nothing to reclaim.
 */
export async function compactWholeDatabase(db: Level): Promise<void> {
  if (db instanceof ClassicLevel) await db.compactRange(Uint8Array.of(0x00), Uint8Array.of(0xff));
}

/** A LevelDB table file: its number (LevelDB never reuses one), its level, and the smallest key it holds a version of. */
export interface TableFile {
  number: number;
  level: number;
  firstKey: Uint8Array;
}

/**
 * The table files of the database now, from LevelDB's 'leveldb.sstables' property: a heading
 * `--- level <n> ---` per level, then a line per table,
 * ` <number>:<bytes>['<first key>' @ <sequence> : <type> .. '<last key>' @ <sequence> : <type>]`, with
 * each key byte outside ' '..'~' written as \xNN and the others as themselves (so a raw "\x" and two
 * hex digits, which only a lease id chosen so holds, read as an escape: purge.ts notices the table it
 * then fails to rewrite). Engines without tables hold none.
 */
export function tableFiles(db: Level): TableFile[] {
  if (!(db instanceof ClassicLevel)) return [];
  const tables: TableFile[] = [];
  let level: number | undefined;
  for (const line of db.getProperty('leveldb.sstables').split('\n')) {
    if (line === '') continue;
    const heading = /^--- level (\d+) ---$/.exec(line);
    const table = /^ (\d+):\d+\['(.*?)' @ \d+ : \d+ \.\. '.*' @ \d+ : \d+\]$/.exec(line);
    if (heading !== null) level = Number(heading[1]);
    else if (table !== null && level !== undefined) tables.push({ number: Number(table[1]), level, firstKey: unescapeKey(table[2]!) });
    // A listing this does not read would leave tables out: fail, so a purge promises nothing it did not do.
    else throw new Error(`LevelDB's table listing has a line of an unknown form (${line.length} characters)`);
  }
  return tables;
}

/** The deepest level holding a table (-1: none). */
export function deepestLevel(tables: readonly TableFile[]): number {
  return tables.reduce((deepest, table) => Math.max(deepest, table.level), -1);
}

function unescapeKey(escaped: string): Uint8Array {
  return Buffer.from(escaped.replace(/\\x([0-9a-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
}
