/**
 * The history of one key as etcd's key index: a list of generations. A generation is one life of the
 * key — from the put that created it to the tombstone that deleted it. The last generation is the
 * current one and may be empty (the key is deleted or was never written).
 *
 * Layout: the KeyIndex *is* its current generation (fields version, created, revs) and keeps closed
 * generations in `past`, which most keys never need — a million keys cost a million small objects
 * fewer. Generation i of n is past[i] for i < n - 1, and the KeyIndex itself for i = n - 1.
 *
 * Invariants:
 * - revisions are strictly ascending across and within generations;
 * - every generation but the last is non-empty and ends with its tombstone;
 * - `version` counts the puts (and the closing tombstone) of the generation since its creation, and
 *   survives compaction of the generation's earlier revisions.
 * Pure: no I/O; the store feeds it revisions and asks it questions.
 */
import { assert } from '../../base/index.ts';
import type { Revision } from './revision.ts';

export interface Generation {
  /** Changes (puts, and the closing tombstone) since the generation was created. */
  version: number;
  /** The main revision of the put that created the generation. */
  created: number;
  /** Revisions, ascending, packed as [main0, sub0, main1, sub1, ...] to keep a million keys small. */
  revs: number[];
}

/** What a key looked like at some revision. */
export interface KeyAt {
  mod: Revision;
  createRevision: number;
  version: number;
}

/** The shared empty revision list; frozen, so an append to it instead of replacing it throws. */
const noRevisions: number[] = Object.freeze([]) as unknown as number[];

/**
 * Appends a revision. The first one makes an exact two-element array: a pushed-to empty array reserves
 * room for 17 elements, and most keys only ever have one revision held.
 */
function append(g: Generation, main: number, sub: number): void {
  if (g.revs.length === 0) g.revs = [main, sub];
  else g.revs.push(main, sub);
}

function lastRevision(g: Generation): Revision | undefined {
  const n = g.revs.length;
  return n === 0 ? undefined : { main: g.revs[n - 2]!, sub: g.revs[n - 1]! };
}

function isAfter(g: Generation, main: number, sub: number): boolean {
  const last = lastRevision(g);
  return last === undefined || main > last.main || (main === last.main && sub > last.sub);
}

/** Drops the last revision of `g`; it must be (main, sub). */
function dropLast(g: Generation, main: number, sub: number, what: string): void {
  const last = lastRevision(g);
  assert(last?.main === main && last.sub === sub, `undo of ${what} at ${main}.${sub}, which is not the latest change`);
  g.revs = g.revs.length === 2 ? noRevisions : g.revs.slice(0, -2);
  g.version--;
}

export class KeyIndex implements Generation {
  version = 0;
  created = 0;
  revs: number[] = noRevisions;
  /** Closed generations, oldest first; undefined while there are none. */
  private past: Generation[] | undefined = undefined;

  private get count(): number {
    return (this.past?.length ?? 0) + 1;
  }

  private generation(i: number): Generation {
    return i < this.count - 1 ? this.past![i]! : this;
  }

  /** True if the key currently exists (its last generation is live). */
  exists(): boolean {
    return this.revs.length > 0;
  }

  /** The latest revision of the live generation: a put's predecessor, or what a tombstone closes. */
  latest(): Revision | undefined {
    return lastRevision(this);
  }

  /** Records a put at (main, sub); returns what the key looks like after it. */
  put(main: number, sub: number): KeyAt {
    assert(isAfter(this, main, sub), `put at ${main}.${sub} is not after the key's latest revision`);
    if (this.revs.length === 0) this.created = main;
    append(this, main, sub);
    this.version++;
    return { mod: { main, sub }, createRevision: this.created, version: this.version };
  }

  /** Records a delete at (main, sub) and opens a new, empty generation. The key must exist. */
  tombstone(main: number, sub: number): void {
    assert(this.revs.length > 0, `tombstone at ${main}.${sub} for a key that does not exist`);
    assert(isAfter(this, main, sub), `tombstone at ${main}.${sub} is not after the key's latest revision`);
    this.close(main, sub);
  }

  /** Takes back put(main, sub), which must be the latest change. */
  undoPut(main: number, sub: number): void {
    dropLast(this, main, sub, 'put');
  }

  /** Takes back tombstone(main, sub), which must be the latest change. */
  undoTombstone(main: number, sub: number): void {
    assert(this.past !== undefined && this.revs.length === 0, `undo of tombstone at ${main}.${sub} with no closed generation`);
    const closed = this.past.pop()!;
    if (this.past.length === 0) this.past = undefined;
    this.version = closed.version;
    this.created = closed.created;
    this.revs = closed.revs;
    dropLast(this, main, sub, 'tombstone');
  }

  /**
   * Replays a stored put page at start-up. Unlike put(), creation revision and version come from the
   * page, because compaction may have removed the generation's earlier pages.
   */
  restorePut(main: number, sub: number, createRevision: number, version: number): void {
    assert(isAfter(this, main, sub), `restored put at ${main}.${sub} is out of order`);
    assert(version > this.version, `restored put at ${main}.${sub} has version ${version} <= ${this.version}`);
    if (this.revs.length === 0) this.created = createRevision;
    append(this, main, sub);
    this.version = version;
  }

  /**
   * Replays a stored tombstone page. The generation may be empty here: an interrupted physical
   * compaction deletes a generation's puts before its tombstone (pages go in revision order), and the
   * compaction that resumes at start-up removes the orphan tombstone again.
   */
  restoreTombstone(main: number, sub: number): void {
    assert(isAfter(this, main, sub), `restored tombstone at ${main}.${sub} is out of order`);
    this.close(main, sub);
  }

  /**
   * Appends the key's generations as of main revision `atMain` to `out` (the index checkpoint's form):
   * their count, then the version, creation revision and revisions of each, oldest first, the current
   * one last — every change after `atMain` left out, as if it had not happened yet. Returns false, and
   * appends nothing, if the key held no revision at or before `atMain`.
   */
  writeGenerations(out: unknown[], atMain: number): boolean {
    const gens: Generation[] = [];
    let live = false;
    for (let gi = 0; gi < this.count && !live; gi++) {
      const g = this.generation(gi);
      let held = g.revs.length;
      while (held > 0 && g.revs[held - 2]! > atMain) held -= 2;
      if (held === 0) break;
      // Part of a generation after atMain: it was the live one then, one version fewer per later change.
      live = held < g.revs.length || g === this;
      gens.push(held === g.revs.length ? g : { version: g.version - (g.revs.length - held) / 2, created: g.created, revs: g.revs.slice(0, held) });
    }
    if (gens.length === 0) return false;
    // The last generation written closed at or before atMain: the key was deleted then, its current generation empty.
    if (!live) gens.push({ version: 0, created: 0, revs: noRevisions });
    out.push(gens.length);
    for (const g of gens) out.push(g.version, g.created, g.revs);
    return true;
  }

  /**
   * A key's history from what writeGenerations wrote at `flat[from]` (the entry then takes
   * 1 + 3 × count items), checked against the invariants above.
   */
  static readGenerations(flat: readonly unknown[], from: number): KeyIndex {
    const count = flat[from] as number;
    assert(Number.isSafeInteger(count) && count >= 1 && from + 1 + 3 * count <= flat.length, 'a key has whole generations');
    const ki = new KeyIndex();
    let main = -1;
    let sub = -1;
    for (let gi = 0, at = from + 1; gi < count; gi++, at += 3) {
      const g: Generation = { version: flat[at] as number, created: flat[at + 1] as number, revs: flat[at + 2] as number[] };
      const closed = gi < count - 1;
      assert(Number.isSafeInteger(g.version) && Number.isSafeInteger(g.created) && Array.isArray(g.revs) && g.revs.length % 2 === 0,
        'a generation holds a version, a creation revision and revision pairs');
      assert(!closed || g.revs.length > 0, 'a closed generation is not empty');
      for (let r = 0; r < g.revs.length; r += 2) {
        const [m, s] = [g.revs[r]!, g.revs[r + 1]!];
        assert(Number.isSafeInteger(m) && Number.isSafeInteger(s) && (m > main || (m === main && s > sub)), 'revisions ascend across generations');
        main = m;
        sub = s;
      }
      if (closed) (ki.past ??= []).push(g);
      else {
        ki.version = g.version;
        ki.created = g.created;
        ki.revs = g.revs.length === 0 ? noRevisions : g.revs;
      }
    }
    assert(!ki.isEmpty(), 'a key in the index holds a revision');
    return ki;
  }

  /** The key as of main revision `atMain` (the latest change with main <= atMain), or undefined if absent then. */
  get(atMain: number): KeyAt | undefined {
    const last = this.count - 1;
    for (let gi = last; gi >= 0; gi--) {
      const g = this.generation(gi);
      const n = g.revs.length;
      if (n === 0) continue;
      // A closed generation whose tombstone is at or before atMain: the key was deleted then.
      if (gi !== last && g.revs[n - 2]! <= atMain) return undefined;
      if (g.revs[0]! > atMain) continue;
      for (let i = n - 2; i >= 0; i -= 2) {
        if (g.revs[i]! <= atMain) {
          const after = (n - 2 - i) / 2;
          return { mod: { main: g.revs[i]!, sub: g.revs[i + 1]! }, createRevision: g.created, version: g.version - after };
        }
      }
      assert(false, 'a generation starting at or before atMain has a revision at or before it');
    }
    return undefined;
  }

  /**
   * Forgets history before `atMain`: generations deleted at or before it vanish with their tombstone;
   * in the first remaining generation only the latest revision at or before atMain (and everything
   * after) stays. Removed revisions are appended, packed, to `removed`.
   */
  compact(atMain: number, removed: number[]): void {
    let gi = 0;
    while (gi < this.count - 1) {
      const g = this.generation(gi);
      if (g.revs[g.revs.length - 2]! > atMain) break;
      for (const r of g.revs) removed.push(r);
      gi++;
    }
    const g = this.generation(gi);
    for (let i = g.revs.length - 2; i > 0; i -= 2) {
      if (g.revs[i]! <= atMain) {
        for (let j = 0; j < i; j++) removed.push(g.revs[j]!);
        g.revs = g.revs.slice(i);
        break;
      }
    }
    if (gi > 0 && this.past !== undefined) {
      this.past = gi >= this.past.length ? undefined : this.past.slice(gi);
    }
  }

  /** True if revision main.sub is still held (not removed by a compaction). */
  holds(main: number, sub: number): boolean {
    for (let gi = 0; gi < this.count; gi++) {
      const revs = this.generation(gi).revs;
      for (let i = 0; i < revs.length; i += 2) {
        if (revs[i] === main && revs[i + 1] === sub) return true;
      }
    }
    return false;
  }

  /** True if nothing is left: one empty generation. Such a key is dropped from the tree. */
  isEmpty(): boolean {
    return this.past === undefined && this.revs.length === 0;
  }

  /** Calls `visit` for every revision with main <= atMain still held, in ascending order. */
  forEachRevision(atMain: number, visit: (main: number, sub: number) => void): void {
    for (let gi = 0; gi < this.count; gi++) {
      const g = this.generation(gi);
      for (let i = 0; i < g.revs.length; i += 2) {
        if (g.revs[i]! > atMain) return;
        visit(g.revs[i]!, g.revs[i + 1]!);
      }
    }
  }

  /** Appends the closing revision to the current generation, moves it to `past`, starts an empty one. */
  private close(main: number, sub: number): void {
    append(this, main, sub);
    this.version++;
    (this.past ??= []).push({ version: this.version, created: this.created, revs: this.revs });
    this.version = 0;
    this.created = 0;
    this.revs = noRevisions;
  }
}
