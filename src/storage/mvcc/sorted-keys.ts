/**
 * An ordered set of strings as a list of sorted chunks (each at most `chunkMax` long). Insert and
 * delete cost a binary search plus a splice inside one chunk, so the set stays cheap at a million
 * keys where one flat sorted array would move megabytes per insert.
 *
 * Invariants: every chunk is non-empty and strictly ascending; the last string of chunk i is less
 * than the first string of chunk i+1.
 */
import { assert } from '../../base/index.ts';

const chunkMax = 1024;

/** The first index in the ascending `items` whose value is >= `key` (items.length if none). */
function lowerBound(items: readonly string[], key: string): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (items[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class SortedKeys {
  private chunks: string[][] = [];
  private count = 0;

  /** Builds the set from strings that are already strictly ascending. */
  static fromSorted(keys: readonly string[]): SortedKeys {
    const set = new SortedKeys();
    const half = chunkMax / 2;
    for (let i = 0; i < keys.length; i += half) set.chunks.push(keys.slice(i, i + half));
    set.count = keys.length;
    for (let i = 1; i < keys.length; i++) assert(keys[i - 1]! < keys[i]!, 'fromSorted input is not strictly ascending');
    return set;
  }

  get size(): number {
    return this.count;
  }

  /** Adds `key`; false if it was already present. */
  insert(key: string): boolean {
    if (this.chunks.length === 0) {
      this.chunks.push([key]);
      this.count = 1;
      return true;
    }
    const ci = Math.min(this.chunkFor(key), this.chunks.length - 1);
    const chunk = this.chunks[ci]!;
    const at = lowerBound(chunk, key);
    if (chunk[at] === key) return false;
    chunk.splice(at, 0, key);
    this.count++;
    if (chunk.length > chunkMax) this.chunks.splice(ci + 1, 0, chunk.splice(chunk.length >>> 1));
    return true;
  }

  /** Removes `key`; false if it was absent. */
  delete(key: string): boolean {
    const ci = this.chunkFor(key);
    const chunk = this.chunks[ci];
    if (chunk === undefined) return false;
    const at = lowerBound(chunk, key);
    if (chunk[at] !== key) return false;
    chunk.splice(at, 1);
    this.count--;
    if (chunk.length === 0) this.chunks.splice(ci, 1);
    return true;
  }

  /** Keys >= `start` in ascending order. The set must not change while the iterator is in use. */
  *from(start: string): Generator<string> {
    let ci = this.chunkFor(start);
    if (ci >= this.chunks.length) return;
    let at = lowerBound(this.chunks[ci]!, start);
    for (; ci < this.chunks.length; ci++, at = 0) {
      const chunk = this.chunks[ci]!;
      for (; at < chunk.length; at++) yield chunk[at]!;
    }
  }

  /** Every key, ascending, in one array. */
  all(): string[] {
    return this.chunks.flat();
  }

  /** The index of the first chunk whose last key is >= `key` (chunks.length if none). */
  private chunkFor(key: string): number {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = this.chunks[mid]!;
      if (chunk[chunk.length - 1]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
