/**
 * One member's simulated disk with power-loss semantics (the LazyFS model):
 *
 * - a file's data reaches stable storage only through fdatasync (or truncateDurably); until then its
 *   writes are pending, and a power cut keeps a prefix of them with the next one torn, or, at sector
 *   granularity, any subset of the sectors they dirtied (unsynced data lost, reordered or torn);
 * - a name (a created, renamed or removed entry) reaches stable storage only when its directory is
 *   fsynced; until then it is pending, and a power cut keeps a prefix of the directory's pending
 *   operations, in order (a journaling file system commits metadata in order);
 * - after an fdatasync that failed (EIO), the kernel has marked the pages clean: their data stays
 *   visible to the running process but never reaches the disk ("fsyncgate");
 * - a process crash (kill -9) loses nothing that the file system accepted.
 *
 * This class holds the state and the synchronous operations; SimFs (sim-fs.ts) is the DurableFs a
 * process sees, whose operations take simulated time. Paths are absolute POSIX paths.
 *
 * Invariant: `durable` (of a file: bytes; of a directory: entries) is exactly what a power cut with no
 * luck at all would leave; `data`/`entries` is what the running processes see.
 */
import type { Random } from '../../../src/base/index.ts';

/** Bytes written together to the medium; a power cut tears writes at this granularity or finer. */
export const sectorBytes = 512;

type FileOp = { kind: 'write'; offset: number; bytes: Uint8Array } | { kind: 'truncate'; length: number };
/** A rename within one directory is one operation: a power cut keeps it whole or undoes it whole. */
type DirOp = { kind: 'set'; name: string; node: Node } | { kind: 'delete'; name: string } | { kind: 'rename'; from: string; to: string; node: Node };

/** A byte buffer that grows by doubling, so appends cost their own size. */
class Bytes {
  buf = new Uint8Array(0);
  size = 0;

  view(): Uint8Array {
    return this.buf.subarray(0, this.size);
  }

  copy(): Bytes {
    const out = new Bytes();
    out.buf = this.buf.slice(0, this.size);
    out.size = this.size;
    return out;
  }

  apply(op: FileOp): void {
    if (op.kind === 'truncate') {
      if (op.length < this.size) this.buf.fill(0, op.length, this.size);
      this.resize(op.length);
      return;
    }
    const end = op.offset + op.bytes.length;
    if (end > this.size) this.resize(end);
    this.buf.set(op.bytes, op.offset);
  }

  resize(size: number): void {
    if (size > this.buf.length) {
      const grown = new Uint8Array(Math.max(size, 2 * this.buf.length, 256));
      grown.set(this.buf.subarray(0, this.size));
      this.buf = grown;
    }
    this.size = size;
  }
}

export class FileNode {
  readonly kind = 'file';
  data = new Bytes();
  durable = new Bytes();
  pending: FileOp[] = [];

  constructor(readonly id: number) {}
}

export class DirNode {
  readonly kind = 'dir';
  entries = new Map<string, Node>();
  durable = new Map<string, Node>();
  pending: DirOp[] = [];

  constructor(readonly id: number) {}
}

export type Node = FileNode | DirNode;

export function fsError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });
}

function split(path: string): string[] {
  if (!path.startsWith('/')) throw new RangeError(`simulated paths are absolute: ${path}`);
  return path.split('/').filter((part) => part !== '' && part !== '.');
}

/** What a power cut did, for traces and counters. */
export interface PowerLossReport {
  /** Pending file writes and truncations that did not survive (torn ones count as lost). */
  fileOpsLost: number;
  /** Writes that survived only in part. */
  writesTorn: number;
  /** Files whose unsynced sectors survived out of order (some later ones kept, earlier ones lost). */
  filesReordered: number;
  /** Pending directory operations (creations, renames, removals) undone. */
  dirOpsLost: number;
}

export class PowerLossDisk {
  private readonly root: DirNode;
  private nextId = 1;

  constructor() {
    this.root = new DirNode(this.nextId++);
    this.root.durable = new Map();
  }

  // ── Lookup ─────────────────────────────────────────────────────────────────────────────────────

  lookup(path: string, syscall: string): Node {
    let node: Node = this.root;
    for (const part of split(path)) {
      if (node.kind !== 'dir') throw fsError('ENOTDIR', syscall, path);
      const next = node.entries.get(part);
      if (next === undefined) throw fsError('ENOENT', syscall, path);
      node = next;
    }
    return node;
  }

  file(path: string, syscall: string): FileNode {
    const node = this.lookup(path, syscall);
    if (node.kind !== 'file') throw fsError('EISDIR', syscall, path);
    return node;
  }

  /** The directory holding `path` and the name in it. */
  parentOf(path: string, syscall: string): { dir: DirNode; name: string } {
    const parts = split(path);
    const name = parts.pop();
    if (name === undefined) throw fsError('EBUSY', syscall, path);
    const dir = this.lookup(`/${parts.join('/')}`, syscall);
    if (dir.kind !== 'dir') throw fsError('ENOTDIR', syscall, path);
    return { dir, name };
  }

  exists(path: string): boolean {
    try {
      this.lookup(path, 'stat');
      return true;
    } catch {
      return false;
    }
  }

  // ── Mutations (the running view; durability follows the rules above) ──────────────────────────

  createFile(path: string, syscall: string): FileNode {
    const { dir, name } = this.parentOf(path, syscall);
    const existing = dir.entries.get(name);
    if (existing !== undefined) {
      if (existing.kind !== 'file') throw fsError('EISDIR', syscall, path);
      return existing;
    }
    const node = new FileNode(this.nextId++);
    this.setEntry(dir, name, node);
    return node;
  }

  writeAt(node: FileNode, offset: number, bytes: Uint8Array): void {
    const op: FileOp = { kind: 'write', offset, bytes: bytes.slice() };
    node.data.apply(op);
    node.pending.push(op);
  }

  truncate(node: FileNode, length: number): void {
    const op: FileOp = { kind: 'truncate', length };
    node.data.apply(op);
    node.pending.push(op);
  }

  datasync(node: FileNode): void {
    for (const op of node.pending) node.durable.apply(op);
    node.pending = [];
  }

  /** A failed fdatasync: the pending data is dropped from the way to the disk, but stays visible. */
  poison(node: FileNode): void {
    node.pending = [];
  }

  mkdir(path: string, recursive: boolean): void {
    const parts = split(path);
    let dir: DirNode = this.root;
    parts.forEach((part, i) => {
      const next = dir.entries.get(part);
      const last = i === parts.length - 1;
      if (next === undefined) {
        if (!last && !recursive) throw fsError('ENOENT', 'mkdir', path);
        const created = new DirNode(this.nextId++);
        this.setEntry(dir, part, created);
        dir = created;
      } else if (next.kind !== 'dir') {
        throw fsError(last ? 'EEXIST' : 'ENOTDIR', 'mkdir', path);
      } else {
        if (last && !recursive) throw fsError('EEXIST', 'mkdir', path);
        dir = next;
      }
    });
  }

  rename(from: string, to: string): void {
    const source = this.parentOf(from, 'rename');
    const node = source.dir.entries.get(source.name);
    if (node === undefined) throw fsError('ENOENT', 'rename', from);
    const target = this.parentOf(to, 'rename');
    const replaced = target.dir.entries.get(target.name);
    if (replaced === node) return;
    if (replaced !== undefined) {
      if (node.kind === 'file' && replaced.kind === 'dir') throw fsError('EISDIR', 'rename', to);
      if (node.kind === 'dir' && replaced.kind === 'file') throw fsError('ENOTDIR', 'rename', to);
      if (replaced.kind === 'dir' && replaced.entries.size > 0) throw fsError('ENOTEMPTY', 'rename', to);
    }
    if (source.dir === target.dir) {
      source.dir.entries.delete(source.name);
      source.dir.entries.set(target.name, node);
      source.dir.pending.push({ kind: 'rename', from: source.name, to: target.name, node });
      return;
    }
    this.deleteEntry(source.dir, source.name);
    this.setEntry(target.dir, target.name, node);
  }

  remove(path: string, options: { recursive?: boolean; force?: boolean }): void {
    let parent: { dir: DirNode; name: string };
    try {
      parent = this.parentOf(path, 'rm');
    } catch (error) {
      if (options.force === true && (error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const node = parent.dir.entries.get(parent.name);
    if (node === undefined) {
      if (options.force === true) return;
      throw fsError('ENOENT', 'rm', path);
    }
    if (node.kind === 'dir' && options.recursive !== true) throw fsError('EISDIR', 'rm', path);
    this.deleteEntry(parent.dir, parent.name);
  }

  fsyncDir(dir: DirNode): void {
    dir.durable = new Map(dir.entries);
    dir.pending = [];
  }

  private setEntry(dir: DirNode, name: string, node: Node): void {
    dir.entries.set(name, node);
    dir.pending.push({ kind: 'set', name, node });
  }

  private deleteEntry(dir: DirNode, name: string): void {
    dir.entries.delete(name);
    dir.pending.push({ kind: 'delete', name });
  }

  // ── Power loss ─────────────────────────────────────────────────────────────────────────────────

  /**
   * A power cut: every directory keeps a random prefix of its pending operations; every file keeps its
   * durable bytes plus, at random, either a prefix of its pending operations with the next write torn,
   * or (less often) any subset of the sectors they dirtied, at the old or the new size.
   */
  powerLoss(random: Random): PowerLossReport {
    const report: PowerLossReport = { fileOpsLost: 0, writesTorn: 0, filesReordered: 0, dirOpsLost: 0 };
    const seen = new Set<Node>();
    const visit = (node: Node): void => {
      if (seen.has(node)) return;
      seen.add(node);
      if (node.kind === 'file') {
        this.cutFile(node, random, report);
        return;
      }
      // A child any surviving prefix could name may survive: visit them all before deciding.
      const named = node.pending.flatMap((op) => (op.kind === 'delete' ? [] : [op.node]));
      for (const child of [...node.durable.values(), ...node.entries.values(), ...named]) visit(child);
      const kept = random.int(0, node.pending.length);
      report.dirOpsLost += node.pending.length - kept;
      const entries = new Map(node.durable);
      for (const op of node.pending.slice(0, kept)) {
        if (op.kind === 'set') entries.set(op.name, op.node);
        else if (op.kind === 'delete') entries.delete(op.name);
        else {
          entries.delete(op.from);
          entries.set(op.to, op.node);
        }
      }
      node.entries = entries;
      node.durable = new Map(entries);
      node.pending = [];
    };
    visit(this.root);
    return report;
  }

  private cutFile(node: FileNode, random: Random, report: PowerLossReport): void {
    const pending = node.pending;
    node.pending = [];
    if (pending.length === 0) {
      node.data = node.durable.copy();
      return;
    }
    const result = node.durable.copy();
    if (random.chance(0.7)) {
      const kept = random.int(0, pending.length);
      for (const op of pending.slice(0, kept)) result.apply(op);
      const torn = pending[kept];
      if (torn?.kind === 'write' && torn.bytes.length > 1 && random.chance(0.5)) {
        result.apply({ kind: 'write', offset: torn.offset, bytes: torn.bytes.subarray(0, random.int(1, torn.bytes.length - 1)) });
        report.writesTorn++;
      }
      report.fileOpsLost += pending.length - kept;
    } else {
      // Sector by sector: each sector a pending write touched holds its old or its new bytes.
      const current = node.data;
      const size = random.chance(0.5) ? current.size : result.size;
      const old = result.view().slice();
      result.resize(size);
      result.buf.fill(0, 0, size);
      result.buf.set(old.subarray(0, Math.min(old.length, size)));
      const dirty = new Set<number>();
      for (const op of pending) {
        if (op.kind !== 'write' || op.bytes.length === 0) continue;
        for (let s = Math.floor(op.offset / sectorBytes); s * sectorBytes < op.offset + op.bytes.length; s++) dirty.add(s);
      }
      let lost = false;
      let reordered = false;
      for (const sector of [...dirty].sort((a, b) => a - b)) {
        const from = sector * sectorBytes;
        if (from >= size) continue;
        if (random.chance(0.5)) {
          const to = Math.min(size, from + sectorBytes);
          result.buf.fill(0, from, to);
          result.buf.set(current.buf.subarray(from, Math.min(to, current.size)), from);
          reordered ||= lost;
        } else {
          lost = true;
        }
      }
      if (lost || size < current.size) report.fileOpsLost += pending.length;
      if (reordered) report.filesReordered++;
    }
    node.durable = result;
    node.data = result.copy();
  }

  // ── Inspection (tests and checks) ──────────────────────────────────────────────────────────────

  /** Every file path with its current size, sorted (for traces). */
  listFiles(): string[] {
    const out: string[] = [];
    const walk = (dir: DirNode, prefix: string): void => {
      for (const [name, node] of [...dir.entries].sort(([a], [b]) => a.localeCompare(b))) {
        if (node.kind === 'dir') walk(node, `${prefix}/${name}`);
        else out.push(`${prefix}/${name} ${node.data.size}`);
      }
    };
    walk(this.root, '');
    return out;
  }
}
