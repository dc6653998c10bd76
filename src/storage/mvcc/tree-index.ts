/**
 * The in-memory ordered key index: key (latin1 string, see keys.ts) → KeyIndex, plus the keys in
 * bytewise order for range scans. It is the only place that knows which revision holds which key;
 * the disk knows revisions only. Rebuilt at start-up from the pages.
 *
 * Invariants: `order` holds exactly the keys of `byKey`; no KeyIndex in the tree is empty.
 * Pure: no I/O.
 */
import { assert } from '../../base/index.ts';
import { type KeyAt, KeyIndex } from './key-index.ts';
import type { KeySpan } from './keys.ts';
import type { Revision } from './revision.ts';
import { SortedKeys } from './sorted-keys.ts';

export class TreeIndex {
  private byKey = new Map<string, KeyIndex>();
  private order = new SortedKeys();
  /** While restoring, keys go to the map only and `order` is built once at the end. */
  private restoring = false;

  get keyCount(): number {
    return this.byKey.size;
  }

  /** The key at `atMain`, or undefined if it did not exist then. */
  get(key: string, atMain: number): KeyAt | undefined {
    return this.byKey.get(key)?.get(atMain);
  }

  /** The key's latest revision if it exists now. */
  latest(key: string): Revision | undefined {
    const ki = this.byKey.get(key);
    return ki?.exists() === true ? ki.latest() : undefined;
  }

  put(key: string, main: number, sub: number): KeyAt {
    return this.historyToWrite(key).put(main, sub);
  }

  tombstone(key: string, main: number, sub: number): void {
    const ki = this.byKey.get(key);
    assert(ki !== undefined, `tombstone at ${main}.${sub} for a key not in the index`);
    ki.tombstone(main, sub);
  }

  /** Takes back the latest put of `key` (a refused transaction); drops the key if nothing is left. */
  undoPut(key: string, main: number, sub: number): void {
    const ki = this.byKey.get(key);
    assert(ki !== undefined, `undo of put at ${main}.${sub} for a key not in the index`);
    ki.undoPut(main, sub);
    if (ki.isEmpty()) {
      this.byKey.delete(key);
      this.order.delete(key);
    }
  }

  /** Takes back the latest tombstone of `key`. */
  undoTombstone(key: string, main: number, sub: number): void {
    const ki = this.byKey.get(key);
    assert(ki !== undefined, `undo of tombstone at ${main}.${sub} for a key not in the index`);
    ki.undoTombstone(main, sub);
  }

  beginRestore(): void {
    assert(this.byKey.size === 0, 'restore into a non-empty index');
    this.restoring = true;
  }

  /**
   * Reads a stored put page back into the index (load.ts): during a restore, or after one from the
   * index checkpoint, for the pages written after it.
   */
  restorePut(key: string, main: number, sub: number, createRevision: number, version: number): void {
    this.historyToWrite(key).restorePut(main, sub, createRevision, version);
  }

  restoreTombstone(key: string, main: number, sub: number): void {
    this.historyToWrite(key).restoreTombstone(main, sub);
  }

  /** The key's history, a new empty one if the key is not in the index yet. */
  private historyToWrite(key: string): KeyIndex {
    let ki = this.byKey.get(key);
    if (ki === undefined) {
      ki = new KeyIndex();
      this.byKey.set(key, ki);
      if (!this.restoring) this.order.insert(key);
    }
    return ki;
  }

  finishRestore(): void {
    assert(this.restoring, 'finishRestore outside a restore');
    this.restoring = false;
    const keys = [...this.byKey.keys()].sort();
    this.order = SortedKeys.fromSorted(keys);
  }

  /** Every key in key order, and a look-up of its history (the index checkpoint writes them). */
  sortedKeys(): string[] {
    return this.order.all();
  }

  history(key: string): KeyIndex | undefined {
    return this.byKey.get(key);
  }

  /** Fills an empty index from its keys, in order and as an ordered set, and their histories. */
  restoreSorted(keys: readonly string[], order: SortedKeys, histories: readonly KeyIndex[]): void {
    assert(this.byKey.size === 0 && !this.restoring, 'restore into an empty index');
    assert(keys.length === histories.length && order.size === keys.length, 'one history per key');
    const byKey = new Map<string, KeyIndex>();
    keys.forEach((key, i) => byKey.set(key, histories[i]!));
    this.order = order;
    this.byKey = byKey;
  }

  /**
   * Visits the keys of `span` that exist at `atMain`, in key order, until `visit` returns false.
   */
  range(span: KeySpan, atMain: number, visit: (key: string, at: KeyAt) => boolean): void {
    if (span.end === undefined) {
      const at = this.get(span.start, atMain);
      if (at !== undefined) visit(span.start, at);
      return;
    }
    for (const key of this.order.from(span.start)) {
      if (span.end !== null && key >= span.end) return;
      const at = this.byKey.get(key)!.get(atMain);
      if (at !== undefined && !visit(key, at)) return;
    }
  }

  /**
   * Compacts every key at `atMain` (see KeyIndex.compact) and drops keys left empty. Returns the removed
   * revisions packed [main, sub, ...] in ascending revision order, for physical deletion.
   */
  compact(atMain: number): number[] {
    const removed: number[] = [];
    const emptied: string[] = [];
    for (const [key, ki] of this.byKey) {
      ki.compact(atMain, removed);
      if (ki.isEmpty()) emptied.push(key);
    }
    for (const key of emptied) {
      this.byKey.delete(key);
      this.order.delete(key);
    }
    return sortPacked(removed);
  }

  /** True if `key` still holds revision main.sub (false once a compaction removed it). */
  holds(key: string, main: number, sub: number): boolean {
    return this.byKey.get(key)?.holds(main, sub) ?? false;
  }

  /** Every revision with main <= atMain still in the index, packed [main, sub, ...] in ascending order. */
  revisionsUpTo(atMain: number): number[] {
    const packed: number[] = [];
    for (const ki of this.byKey.values()) ki.forEachRevision(atMain, (main, sub) => packed.push(main, sub));
    return sortPacked(packed);
  }
}

/** Sorts packed [main, sub, ...] revisions into ascending order (sorting pair indices, not pair objects). */
export function sortPacked(packed: readonly number[]): number[] {
  const order = Array.from({ length: packed.length / 2 }, (_, i) => 2 * i);
  order.sort((a, b) => packed[a]! - packed[b]! || packed[a + 1]! - packed[b + 1]!);
  const out = new Array<number>(packed.length);
  order.forEach((from, i) => {
    out[2 * i] = packed[from]!;
    out[2 * i + 1] = packed[from + 1]!;
  });
  return out;
}
