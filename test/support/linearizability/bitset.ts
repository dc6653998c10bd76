/**
 * A fixed-size bitset with an incrementally maintained Zobrist hash, so the checker's cache of visited
 * (linearized set, state) configurations costs O(1) per step to hash instead of O(n).
 */
export class Bitset {
  readonly words: Uint32Array;
  /** XOR of zobrist(i) over every set bit i. */
  hash = 0;

  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
  }

  has(i: number): boolean {
    return ((this.words[i >>> 5] ?? 0) & (1 << (i & 31))) !== 0;
  }

  set(i: number): void {
    if (this.has(i)) return;
    this.words[i >>> 5] = (this.words[i >>> 5] ?? 0) | (1 << (i & 31));
    this.hash = (this.hash ^ zobrist(i)) >>> 0;
  }

  clear(i: number): void {
    if (!this.has(i)) return;
    this.words[i >>> 5] = (this.words[i >>> 5] ?? 0) & ~(1 << (i & 31));
    this.hash = (this.hash ^ zobrist(i)) >>> 0;
  }

  clone(): Bitset {
    const copy = new Bitset(0);
    (copy as { words: Uint32Array }).words = this.words.slice();
    copy.hash = this.hash;
    return copy;
  }

  equals(other: Bitset): boolean {
    if (other.hash !== this.hash || other.words.length !== this.words.length) return false;
    for (let w = 0; w < this.words.length; w++) if (this.words[w] !== other.words[w]) return false;
    return true;
  }
}

/** A fixed pseudo-random 32-bit value per bit position (a murmur3 finalizer over the index). */
function zobrist(i: number): number {
  let h = (i + 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
