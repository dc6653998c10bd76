/**
 * Sealed revision pages kept in memory after the store wrote them, so that reading a recently written
 * key opens its page without a trip through LevelDB and libuv's thread pool (a LevelDB
 * snapshot, a getMany, the wake-up of the event loop). It holds ciphertext only — exactly the bytes
 * LevelDB holds under the same revision key — and every read still opens (authenticates) the page
 * against its position, as a page read from disk is.
 *
 * Invariants: a page enters only once the batch that wrote it to LevelDB succeeded (reads never fill
 * the cache, so none can put back a copy older than the disk's); a page about to be re-sealed or
 * deleted on disk is dropped here first by the code that does it (reencrypt.ts, compaction.ts); the cache holds at most its byte budget, the least recently used
 * page going first. Pages are immutable under their revision key otherwise, so a hit is the disk's page.
 */
/** What a cached page costs beyond its bytes: the map entry and its key (an estimate, for the budget). */
const entryOverheadBytes = 96;

export class PageCache {
  /** By revision key ("main.sub"), in order of last use: the first entry is the next to go. */
  private readonly pages = new Map<string, Uint8Array>();
  private bytes = 0;

  constructor(private readonly bytesMax: number) {}

  /** The sealed page of revision main.sub, if cached (it becomes the most recently used). */
  get(main: number, sub: number): Uint8Array | undefined {
    const key = cacheKey(main, sub);
    const sealed = this.pages.get(key);
    if (sealed !== undefined) {
      this.pages.delete(key);
      this.pages.set(key, sealed);
    }
    return sealed;
  }

  /** Keeps the sealed page of revision main.sub, which LevelDB now holds. */
  set(main: number, sub: number, sealed: Uint8Array): void {
    const cost = sealed.length + entryOverheadBytes;
    if (cost > this.bytesMax) return;
    this.delete(main, sub);
    this.pages.set(cacheKey(main, sub), sealed);
    this.bytes += cost;
    for (const [key, oldest] of this.pages) {
      if (this.bytes <= this.bytesMax) break;
      this.pages.delete(key);
      this.bytes -= oldest.length + entryOverheadBytes;
    }
  }

  /** Drops the page of revision main.sub (it was re-sealed or deleted on disk). */
  delete(main: number, sub: number): void {
    const key = cacheKey(main, sub);
    const sealed = this.pages.get(key);
    if (sealed === undefined) return;
    this.pages.delete(key);
    this.bytes -= sealed.length + entryOverheadBytes;
  }

  /** Pages held. */
  get size(): number {
    return this.pages.size;
  }

  /** Bytes held, as the budget counts them. */
  get heldBytes(): number {
    return this.bytes;
  }
}

function cacheKey(main: number, sub: number): string {
  return `${main}.${sub}`;
}
